"""The accuracy/latency Pareto front and the pick (docs/search.md).

A row is a dict with at least ``id``, ``accuracy`` (point estimate), ``low``/``high`` (its 95%
interval), ``p50_ms`` and ``size_mb``. Pure functions: the rule is tested on rows written by hand.
"""
from __future__ import annotations

from typing import Optional

from edgetl.errors import EdgetlError


def pareto_front(rows: list) -> list:
    """Rows no other row beats on both accuracy (higher) and p50 (lower), fastest first."""
    def dominated(r):
        return any(o is not r and o["accuracy"] >= r["accuracy"] and o["p50_ms"] <= r["p50_ms"]
                   and (o["accuracy"] > r["accuracy"] or o["p50_ms"] < r["p50_ms"]) for o in rows)

    return sorted((r for r in rows if not dominated(r)), key=lambda r: (r["p50_ms"], -r["accuracy"]))


def within_budget(rows: list, budget_ms: float, max_mb: Optional[float] = None) -> list:
    return [r for r in rows if r["p50_ms"] <= budget_ms and (max_mb is None or r["size_mb"] <= max_mb)]


def pick(rows: list, budget_ms: float, max_mb: Optional[float] = None) -> tuple[dict, list]:
    """(the pick, the rows tied with the most accurate): the most accurate row within the budget; rows whose
    accuracy lies inside that row's 95% interval are tied with it, and among them the fastest wins, then the
    smallest. A budget no row meets is a one-line EdgetlError naming the fastest row."""
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
    best = max(ok, key=lambda r: (r["accuracy"], -r["p50_ms"], -r["size_mb"]))
    tied = [r for r in ok if best["low"] <= r["accuracy"] <= best["high"]]
    chosen = min(tied, key=lambda r: (r["p50_ms"], r["size_mb"], -r["accuracy"]))
    return chosen, sorted(tied, key=lambda r: (r["p50_ms"], r["size_mb"]))
