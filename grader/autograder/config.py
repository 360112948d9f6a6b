"""Settings of a grading run, declared once: one frozen pydantic model whose fields carry the
type, default, help text and constraints; the command line (``cli.py``), the environment and
the settings file are all read from it.

Precedence (highest first): command line > environment (``AUTOGRADE_<NAME>``) > settings
file (TOML, table ``[grade]``) > default. A bad value's error names where it came from.
The settings file is ``--config FILE``, else ``$AUTOGRADE_CONFIG``, else ``./autograde.toml``
when it exists.

Decision: pydantic validates and documents the fields, and the three sources are merged
here in a few lines rather than through pydantic-settings' sources, because the error must
name the one source a bad value came from (pydantic-settings merges the sources before it
validates, so its errors cannot say which one).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ConfigError

ENV_PREFIX = "AUTOGRADE_"
DEFAULT_CONFIG_FILE = Path("autograde.toml")
PLUGIN_GROUP = "autograder.homeworks"  # entry-point group of homework plug-ins
IsolationChoice = Literal["auto", "bwrap", "unshare", "rlimits"]
GpuChoice = Literal["auto", "on", "off"]
FastChoice = Literal["auto", "on", "off"]
ExecutorChoice = Literal["local", "submitit-local", "slurm"]


class Settings(BaseModel):
    """Every knob of a grading run, with its default and help (each field's description).
    Built directly, a bad value raises pydantic's ValidationError (a ValueError); through
    ``resolve``, a ConfigError naming the value's source."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    submissions: tuple[Path, ...] = Field(
        (Path("fixtures/submissions"),),
        description="submissions to grade: a folder of submissions, one student's folder, one "
        "code.zip, or a class zip exported by a course site (environment and file: paths "
        f"joined by {os.pathsep!r})",
    )
    out: Path = Field(Path("grading-output"),
                      description="output folder (grades, feedback, gradebook)")
    data: str = Field("fixtures", description="data the plug-in grades on: 'fixtures' (the "
                      "plug-in's bundled data) or a folder of real data")
    plugin: str | None = Field(
        None, description=f"the homework plug-in: an entry-point name of the {PLUGIN_GROUP!r} "
        "group or 'module:attribute' (an object or a factory taking no argument); default: "
        "the only plug-in installed")
    regrade: bool = Field(False, description="grade again submissions already in the gradebook")
    isolation: IsolationChoice = Field(
        "auto", description="sandbox isolation: auto (the strongest isolating level that "
        "works: bwrap, then unshare), bwrap, unshare, or rlimits (no isolation; only when "
        "named, and under root only with allow_unsafe_isolation); real data needs bwrap")
    allow_unsafe_isolation: bool = Field(
        False, description="allow --isolation rlimits under root (student code then runs as "
        "root)")
    gpu: GpuChoice = Field(
        "auto", description="GPU for the jobs the plug-in marks as GPU jobs: auto (one when "
        "CUDA is present), on (required), off (the CPU only)")
    fast_training: FastChoice = Field(
        "auto", description="let the plug-in run a training it recognises as the handout's "
        "recipe through its fast equivalent (the same batches and objective; anything else "
        "runs as written): auto (where the training jobs have a GPU), on, off")
    timeout_scale: float = Field(1.0, gt=0,
                                 description="multiply every time limit by this factor (> 0)")
    memory_mb: int = Field(6144, gt=0, description="memory limit of a sandboxed process, MiB "
                           "(address space; data segment for a job on the GPU)")
    max_processes: int = Field(512, gt=0, description="process/thread limit (RLIMIT_NPROC; "
                               "not enforced for root)")
    max_file_mb: int = Field(1024, gt=0,
                             description="largest file a sandboxed process may write, MiB")
    disk_mb: int = Field(6144, gt=0, description="disk quota of a sandbox's work folder, MiB "
                         "(bwrap: a tmpfs of that size, so RAM-backed; filling it costs that "
                         "job only)")
    output_cap_kb: int = Field(64, gt=0, description="student stdout/stderr kept per step, KiB "
                               "(the tail)")
    threads: int = Field(1, gt=0, description="CPU threads for torch/BLAS inside the sandbox")
    zip_max_mb: int = Field(1024, gt=0, description="largest unpacked size of one student's "
                            "files, MiB (a zip with the zips inside it; in a class export, "
                            "each student's part)")
    zip_max_files: int = Field(5000, gt=0, description="most files of one student (a zip with "
                               "the zips inside it; in a class export, each student's part)")
    zip_max_ratio: float = Field(200.0, gt=0, description="highest compression ratio of a "
                                 "member over 1 MiB")
    progress: bool = Field(True, description="show a progress bar")
    workers: int = Field(os.cpu_count() or 1, gt=0, description="submissions graded at once "
                         "(default: this machine's cores; with executor slurm, the scheduler "
                         "decides)")
    job_workers: int = Field(2, gt=0, description="sandboxed jobs of one submission run at "
                             "once (under root with bwrap, at most the grader's pool of sandbox "
                             "users, 32)")
    executor: ExecutorChoice = Field(
        "local", description="where submissions are graded: local (threads of this process), "
        "submitit-local (one process per submission through submitit), slurm (one Slurm job "
        "per submission through submitit)")
    slurm_partition: str = Field("", description="Slurm partition of the grading jobs ('': "
                                 "the cluster's default)")
    slurm_gres: str = Field("gpu:1", description="Slurm generic resources a GPU submission's "
                            "job asks for")
    slurm_time_min: int = Field(90, gt=0, description="time limit of one submission's Slurm "
                                "job, minutes")
    slurm_cpus: int = Field(2, gt=0, description="CPUs of one submission's Slurm job")
    slurm_mem_gb: int = Field(16, gt=0, description="memory of one submission's Slurm job, GiB")
    job_cache: bool = Field(True, description="reuse the outcome of an identical job (same "
                            "code, inputs, data, versions)")
    cache_max_gb: float = Field(10.0, gt=0, description="largest size of the job cache, GB "
                                "(least recently used entries removed first; it holds "
                                "outcomes as JSON, never model weights)")

    @field_validator("submissions", mode="before")
    @classmethod
    def _split_paths(cls, value: Any) -> Any:
        """A string (environment variable) holds paths joined by ``os.pathsep``."""
        return tuple(value.split(os.pathsep)) if isinstance(value, str) else value

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(cls.model_fields)

    @classmethod
    def help(cls) -> dict[str, str]:
        """Setting name -> help text (the CLI uses it)."""
        return {name: f.description or "" for name, f in cls.model_fields.items()}

    def to_json(self) -> dict[str, Any]:
        """The resolved settings as plain data, saved next to the results."""
        return self.model_dump(mode="json")


def _why(error: Mapping[str, Any]) -> str:
    """Pydantic's reason, in the words of the rest of the grader where they differ."""
    if error["type"] == "greater_than":
        return f"must be greater than {error['ctx']['gt']}"
    if error["type"] == "literal_error":
        return f"choose one of {error['ctx']['expected']}"
    return str(error["msg"])


def _config_error(exc: ValidationError, values: Mapping[str, Any], source_of) -> ConfigError:
    """The first error of ``exc`` as a ConfigError naming the value's source."""
    error = exc.errors()[0]
    name = str(error["loc"][0]) if error["loc"] else "?"
    if error["type"] == "extra_forbidden":
        return ConfigError(f"unknown setting {name!r} (from {source_of(name)})")
    return ConfigError.from_value(name, values.get(name), source_of(name), _why(error))


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

    ``cli`` holds only the options the user gave (None values are ignored). Raises
    ConfigError naming the source of a bad or unknown value.
    """
    cli = {k: v for k, v in (cli or {}).items() if v is not None}
    env = os.environ if env is None else env
    names = Settings.names()
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
    env_values = {n: env[ENV_PREFIX + n.upper()] for n in names if ENV_PREFIX + n.upper() in env}

    def source_of(name: str) -> str:
        if name in cli:
            return "the command line"
        if name in env_values:
            return f"environment variable {ENV_PREFIX + name.upper()}"
        return f"settings file {config_file}"

    values = {**file_values, **env_values, **cli}
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        raise _config_error(exc, values, source_of) from None
