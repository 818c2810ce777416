"""Benchmark sizes: ``make bench`` sets ``SPECGAP_BENCH=full`` and runs the sizes the docstrings cite; under
``make test`` (timing disabled) every benchmark runs once at a reduced size. Nothing asserts a wall-clock
time: each benchmark measures the fast and the naive route in the same run, with the same number of
repetitions, and prints the ratio."""
import os
import time

import numpy as np

FULL = os.environ.get("SPECGAP_BENCH", "").lower() == "full"


def timed(fn, *args, repeats: int = 1, **kwargs):
    """(result, median seconds over ``repeats`` calls)."""
    ts, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        ts.append(time.perf_counter() - t0)
    return out, float(np.median(ts))


def report(label: str, fast_s: float, naive_s: float, target: float | None = None) -> str:
    """One line: both times, the ratio and (when a target ratio is claimed) whether it was met."""
    ratio = naive_s / fast_s
    line = f"[bench] {label}: fast {fast_s:.3f} s, naive {naive_s:.3f} s, ratio {ratio:.1f}x"
    if target is not None:
        line += f" (claim >= {target:g}x: {'met' if ratio >= target else 'NOT met'})"
    print("\n" + line)
    return line
