"""The score/latency Pareto front and the pick (docs/search.md).

A row is a dict with at least ``id``, ``key``, ``score`` (point estimate of the ranking metric: accuracy,
or for two classes AUC or precision at a target recall), ``low``/``high`` (its 95% interval), ``p50_ms``
and ``size_mb``. Pure functions: the rule is tested on rows written by hand.
"""
from __future__ import annotations

from typing import Callable, Optional

from edgetl.errors import EdgetlError

PAIRED_ALPHA = 0.05  # a paired test's p below this is a detectable difference


def pareto_front(rows: list) -> list:
    """Rows no other row beats on both score (higher) and p50 (lower), fastest first."""
    def dominated(r):
        return any(o is not r and o["score"] >= r["score"] and o["p50_ms"] <= r["p50_ms"]
                   and (o["score"] > r["score"] or o["p50_ms"] < r["p50_ms"]) for o in rows)

    return sorted((r for r in rows if not dominated(r)), key=lambda r: (r["p50_ms"], -r["score"]))


def near_front(rows: list) -> set:
    """Candidates whose int8 file is worth scoring: rows are every file with p50; an int8 row without a score is
    given its candidate's float32 score and interval (int8 rarely moves the score by more than the interval).
    Such a row is near the front unless another file at most as slow has a point estimate above its interval's
    upper end: it could not reach the front even if int8 lost nothing."""
    by_cand = {r["candidate"]: r for r in rows if r["precision"] == "float32" and r["score"] is not None}
    trial = []
    for r in rows:
        if r["score"] is None and r["precision"] == "int8" and r["candidate"] in by_cand:
            f = by_cand[r["candidate"]]
            trial.append({**r, "score": f["score"], "low": f["low"], "high": f["high"], "trial": True})
        elif r["score"] is not None:
            trial.append(r)
    near = set()
    for r in trial:
        if r["precision"] != "int8":
            continue
        beaten = any(o is not r and o["p50_ms"] <= r["p50_ms"] and o["score"] > r["high"] for o in trial)
        if not beaten:
            near.add(r["candidate"])
    return near


def within_budget(rows: list, budget_ms: float, max_mb: Optional[float] = None) -> list:
    return [r for r in rows if r["p50_ms"] <= budget_ms and (max_mb is None or r["size_mb"] <= max_mb)]


def pick(rows: list, budget_ms: float, max_mb: Optional[float] = None,
         paired: Optional[Callable[[dict, dict], Optional[float]]] = None) -> tuple[dict, list]:
    """(the pick, the rows tied with the best): the highest-scoring row within the budget; the rows tied with it
    are those with no detectable difference, and among them the fastest wins, then the smallest.

    No detectable difference: where ``paired(best, row)`` gives the p-value of a paired test on the same images
    (McNemar, in the report), p >= ``PAIRED_ALPHA``; otherwise (search: no per-image results) the row's score
    lies inside the best row's 95% interval. A budget no row meets is a one-line EdgetlError naming the fastest
    row."""
    ok = within_budget(rows, budget_ms, max_mb)
    if not ok:
        if not rows:
            raise EdgetlError("no candidate was scored; nothing to pick from")
        fast = min(rows, key=lambda r: r["p50_ms"])
        small = min(rows, key=lambda r: r["size_mb"])
        if max_mb is not None and fast["p50_ms"] <= budget_ms:
            raise EdgetlError(f"no candidate fits --budget-ms {budget_ms:g} and --max-mb {max_mb:g}: the smallest is "
                              f"{small['id']} ({small['size_mb']:.2f} MB, p50 {small['p50_ms']:.2f} ms); raise a budget")
        raise EdgetlError(f"no candidate meets --budget-ms {budget_ms:g}: the fastest is {fast['id']} at p50 "
                          f"{fast['p50_ms']:.2f} ms; raise --budget-ms or try smaller --sizes/--alphas")
    best = max(ok, key=lambda r: (r["score"], -r["p50_ms"], -r["size_mb"]))

    def tied(r) -> bool:
        p = None if r is best or paired is None else paired(best, r)
        return p >= PAIRED_ALPHA if p is not None else best["low"] <= r["score"] <= best["high"]

    ties = [r for r in ok if tied(r)]
    chosen = min(ties, key=lambda r: (r["p50_ms"], r["size_mb"], -r["score"]))
    return chosen, sorted(ties, key=lambda r: (r["p50_ms"], r["size_mb"]))
