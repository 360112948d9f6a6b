"""Settings of a grading run: one frozen dataclass with help text, one resolver.

Precedence (highest first): command line > environment (``AUTOGRADE_<NAME>``) > settings
file (TOML, table ``[grade]``) > default. A bad value's error names where it came from.
The settings file is ``--config FILE``, else ``$AUTOGRADE_CONFIG``, else ``./autograde.toml``
when it exists.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

ENV_PREFIX = "AUTOGRADE_"
DEFAULT_CONFIG_FILE = Path("autograde.toml")
ISOLATION_CHOICES = ("auto", "bwrap", "unshare", "rlimits")
GPU_CHOICES = ("auto", "on", "off")


def _setting(default: Any, help: str, **kw: Any) -> Any:
    if isinstance(default, tuple):
        return field(default_factory=lambda: default, metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})


@dataclass(frozen=True)
class Settings:
    """Every knob of a grading run, with its default and help."""

    submissions: tuple[Path, ...] = _setting(
        (Path("fixtures/submissions"),),
        "submissions to grade: a folder of submissions, one student's folder, one code.zip, "
        "or a class zip exported by a course site",
    )
    out: Path = _setting(Path("grading-output"), "output folder (grades, feedback, gradebook)")
    data: str = _setting(
        "fixtures", "data the plug-in grades on: 'fixtures' (bundled) or a folder of real data"
    )
    plugin: str = _setting(
        "hw3_plugin:plugin",
        "the homework plug-in, 'module:attribute' (an object or a factory taking no argument)",
    )
    regrade: bool = _setting(False, "grade again submissions already in the gradebook")
    isolation: str = _setting(
        "auto",
        "sandbox isolation: auto (strongest that works), bwrap, unshare, or rlimits",
        choices=ISOLATION_CHOICES,
    )
    gpu: str = _setting(
        "auto",
        "GPU for the training items (Lab 1's training, the LabLLM notebook): auto (one when "
        "CUDA is present), on (required), off (the CPU only)",
        choices=GPU_CHOICES,
    )
    timeout_scale: float = _setting(
        1.0, "multiply every time limit by this factor (> 0)", positive=True
    )
    memory_mb: int = _setting(
        6144, "memory limit of a sandboxed process, MiB (address space; data segment for a "
        "job on the GPU)", positive=True
    )
    max_processes: int = _setting(
        512, "process/thread limit (RLIMIT_NPROC; not enforced for root)", positive=True
    )
    max_file_mb: int = _setting(
        1024, "largest file a sandboxed process may write, MiB", positive=True
    )
    disk_mb: int = _setting(
        6144, "disk quota of a sandbox's work folder, MiB (bwrap: a tmpfs of that size, so "
        "RAM-backed; filling it costs that job only)", positive=True
    )
    output_cap_kb: int = _setting(
        64, "student stdout/stderr kept per step, KiB (the tail)", positive=True
    )
    threads: int = _setting(1, "CPU threads for torch/BLAS inside the sandbox", positive=True)
    zip_max_mb: int = _setting(1024, "largest total unpacked size of one zip, MiB", positive=True)
    zip_max_files: int = _setting(5000, "most files one zip may hold", positive=True)
    zip_max_ratio: float = _setting(
        200.0, "highest compression ratio of a member over 1 MiB", positive=True
    )
    progress: bool = _setting(True, "show a progress bar")
    workers: int = _setting(2, "sandboxed jobs of one submission run at once", positive=True)
    job_cache: bool = _setting(
        True, "reuse the outcome of an identical job (same code, inputs, data, versions)")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _validate(f.name, getattr(self, f.name), "the Settings constructor")

    @classmethod
    def help(cls) -> dict[str, str]:
        """Setting name -> help text (the CLI uses it)."""
        return {f.name: f.metadata["help"] for f in dataclasses.fields(cls)}

    def to_json(self) -> dict[str, Any]:
        """The resolved settings as plain data, saved next to the results."""
        data = dataclasses.asdict(self)
        return {k: [str(p) for p in v] if k == "submissions" else
                str(v) if isinstance(v, Path) else v for k, v in data.items()}


def _to_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError("not a boolean (use true/false)")


def _converter(name: str) -> Callable[[Any], Any]:
    default = Settings.__dataclass_fields__[name].default
    if name == "submissions":
        return lambda v: tuple(Path(p) for p in (v.split(os.pathsep) if isinstance(v, str) else v))
    if isinstance(default, bool):
        return lambda v: v if isinstance(v, bool) else _to_bool(str(v))
    if isinstance(default, Path):
        return lambda v: Path(v)
    if isinstance(default, int):
        return int
    if isinstance(default, float):
        return float
    return str


def _convert(name: str, value: Any, source: str) -> Any:
    try:
        converted = _converter(name)(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError.from_value(name, value, source, str(exc)) from None
    _validate(name, converted, source, shown=value)
    return converted


def _validate(name: str, value: Any, source: str, shown: Any = None) -> None:
    """Check choices and signs; errors show the value as the user gave it (``shown``)."""
    meta = Settings.__dataclass_fields__[name].metadata
    shown = value if shown is None else shown
    if meta.get("choices") and value not in meta["choices"]:
        raise ConfigError.from_value(name, shown, source, f"choose one of {meta['choices']}")
    if meta.get("positive") and not value > 0:
        raise ConfigError.from_value(name, shown, source, "must be greater than 0")


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"settings file {path}: {exc}") from None
    table = data.get("grade", {})
    if not isinstance(table, dict):
        raise ConfigError(f"settings file {path}: [grade] must be a table")
    return table


def resolve(
    cli: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Build Settings from the command line, environment, settings file and defaults.

    ``cli`` holds only the options the user gave (None values are ignored).
    """
    cli = {k: v for k, v in (cli or {}).items() if v is not None}
    env = os.environ if env is None else env
    names = [f.name for f in dataclasses.fields(Settings)]
    for key in cli:
        if key not in names:
            raise ConfigError(f"unknown setting {key!r} (from the command line)")

    if config_file is None and env.get(ENV_PREFIX + "CONFIG"):
        config_file = Path(env[ENV_PREFIX + "CONFIG"])
    elif config_file is None and DEFAULT_CONFIG_FILE.is_file():
        config_file = DEFAULT_CONFIG_FILE
    file_values = _read_file(config_file) if config_file else {}
    for key in file_values:
        if key not in names:
            raise ConfigError(f"settings file {config_file}: unknown setting {key!r}")

    values: dict[str, Any] = {}
    for name in names:
        if name in cli:
            values[name] = _convert(name, cli[name], "the command line")
        elif ENV_PREFIX + name.upper() in env:
            var = ENV_PREFIX + name.upper()
            values[name] = _convert(name, env[var], f"environment variable {var}")
        elif name in file_values:
            values[name] = _convert(name, file_values[name], f"settings file {config_file}")
    try:
        return Settings(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None
