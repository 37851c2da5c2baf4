"""Summary statistics of latency samples: mean, standard deviation, percentiles.

Pure Python on purpose: the numbers in every benchmark table come from these few lines, and the
tests check them on samples whose answers are known by hand.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence


def mean(xs: Sequence[float]) -> float:
    xs = _non_empty(xs)
    return math.fsum(xs) / len(xs)


def std(xs: Sequence[float]) -> float:
    """Population standard deviation (divide by N), as TFLite's benchmark_model reports it."""
    xs = _non_empty(xs)
    m = mean(xs)
    return math.sqrt(math.fsum((x - m) ** 2 for x in xs) / len(xs))


def percentile(xs: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between closest ranks (numpy's default).

    The sample at rank (q/100)*(N-1) of the sorted data; between two ranks, the straight line.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    s = sorted(_non_empty(xs))
    pos = (q / 100.0) * (len(s) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def summarize(xs: Iterable[float]) -> dict:
    """{n, mean, std, min, p50, p90, p99, max} of the samples (same unit as the input)."""
    xs = list(xs)
    return {
        "n": len(xs),
        "mean": mean(xs),
        "std": std(xs),
        "min": min(_non_empty(xs)),
        "p50": percentile(xs, 50),
        "p90": percentile(xs, 90),
        "p99": percentile(xs, 99),
        "max": max(xs),
    }


def median(xs: Sequence[float]) -> float:
    return percentile(xs, 50)


def _non_empty(xs) -> list:
    xs = list(xs)
    if not xs:
        raise ValueError("no samples")
    return xs
