"""Messages between the grader and the sandboxed child: newline-delimited JSON.

Every message is one JSON object on one line with a ``type`` field and the job's ``nonce``;
the child writes them to a dedicated file descriptor, never to stdout, so nothing a student
prints can pass for a result. Values travel as tagged JSON: tensors and arrays as
``{"__tensor__": {"kind", "dtype", "shape", "data"}}``, bytes as ``{"__bytes__": b64}``,
dicts with non-string keys as ``{"__dict__": [[k, v], ...]}``, anything else as
``{"__repr__": "..."}``. Nothing is ever pickled.

This module is copied into the sandbox: standard library only (numpy is imported lazily,
and only by ``decode`` in the grader).
"""

from __future__ import annotations

import base64
import enum
import json
from typing import Any

MAX_DEPTH = 40
REPR_LIMIT = 300


class MessageType(enum.StrEnum):
    HELLO = "hello"  # child started: {pid, python}
    LOADED = "loaded"  # student module executed: {errors: [str], seconds}
    STEP_START = "step_start"  # {step_id}
    STEP_END = "step_end"  # {step_id, status, value, message, seconds}
    DONE = "done"  # every step ran
    FATAL = "fatal"  # the child runtime itself failed: {message}
    FILE = "file"  # a piece of an outbox file (disk quota): {path, data (base64)}


class StepStatus(enum.StrEnum):
    """Statuses the child can report; the grader adds timeout and died itself."""

    OK = "ok"
    ERROR = "error"
    MISSING = "missing"
    LIMIT = "limit"


def message(kind: MessageType, nonce: str, **fields: Any) -> bytes:
    """One message as a line of bytes."""
    body = {"type": kind.value, "nonce": nonce, **fields}
    return (json.dumps(body, allow_nan=True, separators=(",", ":")) + "\n").encode()


def parse(line: bytes, nonce: str) -> dict[str, Any] | None:
    """The message on ``line``, or None if it is not one of this job's messages."""
    try:
        data = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or data.get("nonce") != nonce:
        return None
    try:
        data["type"] = MessageType(data.get("type"))
    except ValueError:
        return None
    return data


# ---------------------------------------------------------------------------- values


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # noqa: BLE001 - a broken __repr__ must not stop encoding
        text = f"<unrepresentable: {type(exc).__name__}>"
    name = f"{type(value).__module__}.{type(value).__qualname__}"
    return f"{name}: {text[:REPR_LIMIT]}"


def _tensor(value: Any) -> dict[str, Any] | None:
    module = type(value).__module__.split(".")[0]
    if module == "torch" and hasattr(value, "detach"):
        dtype = str(value.dtype).replace("torch.", "")
        data = value.detach().cpu()
        if dtype in ("bfloat16", "float16"):
            data = data.float()
        return {"kind": "torch", "dtype": dtype, "shape": list(value.shape),
                "data": data.reshape(-1).tolist()}
    if module == "numpy" and hasattr(value, "__array_interface__") and hasattr(value, "shape"):
        return {"kind": "numpy", "dtype": str(value.dtype), "shape": list(value.shape),
                "data": value.reshape(-1).tolist()}
    return None


def encode(value: Any, depth: int = 0) -> Any:
    """Plain, tagged JSON data for ``value`` (never raises)."""
    if depth > MAX_DEPTH:
        return {"__repr__": "nested too deeply"}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return {"__bytes__": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {k: encode(v, depth + 1) for k, v in value.items()}
        return {"__dict__": [[encode(k, depth + 1), encode(v, depth + 1)]
                             for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return [encode(v, depth + 1) for v in value]
    if isinstance(value, (set, frozenset)):
        items = list(value)
        try:
            items.sort()
        except TypeError:
            pass
        return [encode(v, depth + 1) for v in items]
    try:
        tensor = _tensor(value)
        if tensor is not None:
            return {"__tensor__": tensor}
        if hasattr(value, "item") and getattr(value, "shape", None) == ():
            return encode(value.item(), depth + 1)
        if hasattr(value, "tolist"):
            return encode(value.tolist(), depth + 1)
    except Exception:  # noqa: BLE001 - fall through to the repr
        pass
    return {"__repr__": _short_repr(value)}


def _array(tag: dict[str, Any]) -> Any:
    import numpy as np

    dtype = tag.get("dtype", "float64")
    if dtype in ("bfloat16", "float16"):
        dtype = "float32"
    try:
        np_dtype = np.dtype(dtype)
    except TypeError:
        np_dtype = np.dtype("float64")
    return np.asarray(tag.get("data", []), dtype=np_dtype).reshape(tag.get("shape", [-1]))


def decode(data: Any) -> Any:
    """Python values from tagged JSON; tensors become numpy arrays."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    if len(data) == 1:
        (tag, body), = data.items()
        if tag == "__tensor__" and isinstance(body, dict):
            return _array(body)
        if tag == "__bytes__" and isinstance(body, str):
            return base64.b64decode(body)
        if tag == "__dict__" and isinstance(body, list):
            return {_hashable(decode(k)): decode(v) for k, v in body}
    return {k: decode(v) for k, v in data.items()}


def _hashable(value: Any) -> Any:
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value
