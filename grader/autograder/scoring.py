"""Points from check results: pure functions, no I/O.

An automatic item's points are split over its checks by weight; a check earns its share
times its fraction. A check the rubric lists but no result came for scores zero ("this
check did not run"). Items of a lab whose notebook is unavailable score zero with the
reason. Manual items stay empty until staff enter points. The total (a property of
SubmissionReport) is min(cap, sum of items) less the form deduction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from .models import CheckResult, ItemResult, Status
from .rubric import Rubric, RubricItem

NOT_RUN = "this check did not run"


def _score_item(item: RubricItem, results: Mapping[str, CheckResult],
                unavailable: str | None) -> ItemResult:
    checks = []
    for check_id in item.checks:
        worth = item.check_points(check_id)
        if unavailable is not None:
            result = CheckResult(check_id, item.item_id, 0.0, unavailable,
                                 status=Status.MISSING)
        else:
            result = results.get(check_id) or CheckResult(check_id, item.item_id, 0.0, NOT_RUN)
        checks.append(dataclasses.replace(
            result, item_id=item.item_id, points=round(worth * result.fraction, 4),
            max_points=round(worth, 4)))
    return ItemResult(item.item_id, item.title, item.lab, item.points, item.manual,
                      tuple(checks), note=unavailable or item.note)


def score(rubric: Rubric, results: Iterable[CheckResult],
          unavailable: Mapping[str, str] | None = None,
          manual: Mapping[str, float] | None = None) -> tuple[ItemResult, ...]:
    """Item results for every rubric item.

    ``unavailable``: lab id -> why its notebook could not be graded;
    ``manual``: item id -> points entered by staff for manual items.
    """
    unavailable = unavailable or {}
    manual = manual or {}
    by_id = {r.check_id: r for r in results}
    items = []
    for item in rubric.items:
        if item.manual:
            items.append(ItemResult(item.item_id, item.title, item.lab, item.points, True,
                                    manual_points=manual.get(item.item_id), note=item.note))
        else:
            items.append(_score_item(item, by_id, unavailable.get(item.lab)))
    return tuple(items)
