"""Atomic writing of JSON and ``.npz`` files and the JSON hook for numpy (one definition each).

Every file the package writes (``summary.json``, arrays, checkpoints, figures) goes through
:func:`atomic_path`: the content is written to a temporary file in the same directory and moved into
place with ``os.replace``, so a reader never sees a half-written file and an interrupted write leaves
the previous file intact. The file gets the mode an ordinary ``open(path, "w")`` would give it (``0666`` less
the umask; ``tempfile.mkstemp`` alone would leave it ``0600``).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["jsonable", "strict_json", "atomic_path", "write_json", "save_npz"]


def jsonable(o):
    """``json.dumps(default=...)`` hook: numpy scalars and arrays, paths."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def strict_json(obj):
    """``obj`` with every non-finite float replaced by ``None`` (strict JSON has no NaN/Infinity)."""
    if isinstance(obj, dict):
        return {str(k): strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return strict_json(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def dumps(obj, indent=None) -> str:
    """Strict JSON text of ``obj`` (numpy values converted, NaN/inf as ``null``)."""
    return json.dumps(strict_json(obj), indent=indent, default=jsonable, allow_nan=False)


def _umask() -> int:
    """The process umask, read without changing it where Linux tells it (``os.umask`` sets it to read it)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path):
    """Context yielding a temporary path next to ``path``; on success it replaces ``path`` atomically.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path, obj) -> Path:
    """Write ``obj`` as indented strict JSON atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(dumps(obj, indent=2) + "\n")
    return path


def save_npz(path, **arrays) -> Path:
    """``numpy.savez`` written atomically (``path`` should end in ``.npz``)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    return path
