"""JSON output shared by the reproductions and the command line (one definition)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

__all__ = ["jsonable", "write_json"]


def jsonable(o):
    """``json.dumps(default=...)`` hook: numpy scalars and arrays, paths."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_json(path, obj) -> Path:
    """Write ``obj`` as indented JSON atomically (temporary file, then ``os.replace``)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=jsonable))
    os.replace(tmp, path)
    return path
