"""The GPU a grading run lends to its training jobs: whether there is one, and what a
sandboxed job needs to reach it.

A job that may use the GPU sees the grader's ``CUDA_VISIBLE_DEVICES`` (other jobs see
none), the NVIDIA device files under bubblewrap, and a data-segment limit
(``RLIMIT_DATA``) in place of the address-space limit: CUDA reserves far more address
space than it uses, and fails to start under ``RLIMIT_AS``.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from ..errors import SandboxError

# What a fresh Python of this installation says about CUDA: the device name or nothing.
_PROBE = ("import torch\n"
          "print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')")


def device_files(dev: Path = Path("/dev")) -> list[Path]:
    """The NVIDIA device files (GPUs, control, UVM, MIG capabilities) under ``dev``."""
    return sorted(dev.glob("nvidia*"))


@functools.cache
def cuda_device_name() -> str | None:
    """The first CUDA device's name, asked of a fresh Python (so the grader's own process
    never holds a CUDA context); None when there is none or torch cannot tell."""
    try:
        done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                              timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    name = done.stdout.strip().splitlines()[-1:] if done.returncode == 0 else []
    return name[0] if name and name[0] else None


def choose_gpu(requested: str, detect: Callable[[], str | None] = cuda_device_name
               ) -> str | None:
    """The GPU the training jobs get (its name), or None: the CPU.

    ``auto`` takes one when CUDA is present, ``on`` requires one, ``off`` never uses one
    (config.GpuChoice).
    """
    if requested == "off":
        return None
    name = detect()
    if name is None and requested == "on":
        raise SandboxError("--gpu on: no CUDA GPU is usable here (torch sees none); use "
                           "--gpu auto to grade on the CPU when there is none")
    return name
