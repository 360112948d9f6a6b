"""The rubric as data a TA can audit: items, points, and the checks behind each item.

File format (TOML)::

    title = "..."
    cap = 100                 # the most a submission can score
    [form]
    deduction = 0.2           # fraction taken off the capped total when the form rule fails
    [[items]]
    id = "q1"                 # unique item id
    title = "(a) load_data"
    points = 5
    lab = "part1"             # a notebook's lab id (plug-in's ``notebooks``) or e.g. "report"
    manual = false            # manual items are graded by staff; they have no checks
    public = ["lab1a.sizes"]  # checks students may run themselves (self-check); others hidden
    [items.checks]            # check id = weight; an item's points split by weight
    "q1.sizes" = 2
    "q1.aligned" = 1

``Rubric.load`` checks the file's shape; ``Rubric.bind`` checks it against a plug-in's check ids.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import RubricError

_ITEM_KEYS = {"id", "title", "points", "lab", "manual", "checks", "note", "public"}
_TOP_KEYS = {"title", "cap", "form", "items"}


@dataclass(frozen=True)
class RubricItem:
    """One graded item: its points and, for automatic items, weighted checks."""

    item_id: str
    title: str
    points: float
    lab: str
    manual: bool = False
    checks: Mapping[str, float] = field(default_factory=dict)  # check id -> weight
    note: str = ""  # e.g. a grading decision worth stating
    public: tuple[str, ...] = ()  # checks students may run themselves; the others are hidden

    @property
    def total_weight(self) -> float:
        return sum(self.checks.values())

    def check_points(self, check_id: str) -> float:
        """The points a check is worth: the item's points split by weight."""
        return self.points * self.checks[check_id] / self.total_weight


@dataclass(frozen=True)
class Rubric:
    """All items, the cap and the form deduction."""

    title: str
    items: tuple[RubricItem, ...]
    cap: float
    form_deduction: float

    @property
    def fingerprint(self) -> str:
        """Changes whenever anything that affects scores changes."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()

    @classmethod
    def load(cls, path: Path) -> Rubric:
        """Read and check a rubric TOML file."""
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise RubricError(f"cannot read rubric {path}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise RubricError(f"rubric {path} is not valid TOML: {exc}") from None
        return parse(data, str(path))

    def item_of_check(self) -> dict[str, str]:
        """Check id -> item id."""
        return {c: it.item_id for it in self.items for c in it.checks}

    def bind(self, check_ids: Collection[str], notebooks: Mapping[str, str]) -> None:
        """Fail with a clear message unless every check id is known to the plug-in and
        every automatic item has a check with weight and a notebook to come from."""
        known = set(check_ids)
        problems = []
        for it in self.items:
            unknown = sorted(set(it.checks) - known)
            if unknown:
                problems.append(f"item {it.item_id}: the plug-in has no check {unknown}")
            if not it.manual and it.total_weight <= 0:
                problems.append(
                    f"item {it.item_id}: automatic but has no check with weight > 0 "
                    "(list them under [items.checks])"
                )
            if not it.manual and it.lab not in notebooks:
                problems.append(
                    f"item {it.item_id}: lab {it.lab!r} is none of the plug-in's notebooks "
                    f"{sorted(notebooks)}"
                )
        unlisted = sorted(known - set(self.item_of_check()))
        if unlisted:
            problems.append(f"checks the plug-in makes but the rubric does not list: {unlisted}")
        if problems:
            raise RubricError(f"rubric {self.title!r} does not fit the plug-in:\n- "
                              + "\n- ".join(problems))


def _number(value: Any, where: str, *, low: float, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RubricError(f"{where}: {value!r} is not a number")
    if value < low or (high is not None and value > high):
        bound = f">= {low}" + (f" and <= {high}" if high is not None else "")
        raise RubricError(f"{where}: {value!r} must be {bound}")
    return float(value)


def _item(raw: Any, index: int, source: str) -> RubricItem:
    where = f"{source}: items[{index}]"
    if not isinstance(raw, dict):
        raise RubricError(f"{where} is not a table")
    unknown = sorted(set(raw) - _ITEM_KEYS)
    if unknown:
        raise RubricError(f"{where}: unknown keys {unknown} (allowed: {sorted(_ITEM_KEYS)})")
    for key in ("id", "title", "points", "lab"):
        if key not in raw:
            raise RubricError(f"{where}: missing {key!r}")
    item_id = str(raw["id"])
    where = f"{source}: item {item_id!r}"
    manual = raw.get("manual", False)
    if not isinstance(manual, bool):
        raise RubricError(f"{where}: manual must be true or false")
    checks = raw.get("checks", {})
    if not isinstance(checks, dict):
        raise RubricError(f"{where}: checks must be a table of check id = weight")
    if manual and checks:
        raise RubricError(f"{where}: a manual item has no checks")
    weights = {str(c): _number(w, f"{where}: weight of {c!r}", low=0.0) for c, w in checks.items()}
    public = raw.get("public", [])
    if not isinstance(public, list) or not set(map(str, public)) <= set(weights):
        raise RubricError(f"{where}: public must be a list of this item's check ids")
    return RubricItem(
        item_id=item_id,
        title=str(raw["title"]),
        points=_number(raw["points"], f"{where}: points", low=0.0),
        lab=str(raw["lab"]),
        manual=manual,
        checks=weights,
        note=str(raw.get("note", "")),
        public=tuple(map(str, public)),
    )


def parse(data: Mapping[str, Any], source: str = "rubric") -> Rubric:
    """A Rubric from already-parsed TOML data; errors name ``source``."""
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise RubricError(f"{source}: unknown keys {unknown} (allowed: {sorted(_TOP_KEYS)})")
    raw_items = data.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        raise RubricError(f"{source}: no [[items]]")
    items = tuple(_item(raw, i, source) for i, raw in enumerate(raw_items))
    ids = [it.item_id for it in items]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise RubricError(f"{source}: item ids appear twice: {twice}")
    owner: dict[str, str] = {}
    for it in items:
        for check in it.checks:
            if check in owner:
                raise RubricError(
                    f"{source}: check {check!r} is listed under both {owner[check]!r} and "
                    f"{it.item_id!r}"
                )
            owner[check] = it.item_id
    form = data.get("form", {})
    if not isinstance(form, dict):
        raise RubricError(f"{source}: [form] must be a table")
    return Rubric(
        title=str(data.get("title", source)),
        items=items,
        cap=_number(data.get("cap", sum(i.points for i in items)), f"{source}: cap", low=0.0),
        form_deduction=_number(form.get("deduction", 0.0), f"{source}: form.deduction",
                               low=0.0, high=1.0),
    )
