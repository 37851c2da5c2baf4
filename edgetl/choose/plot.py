"""OUT/search.png: the ranking metric against p50 for every scored file, 95% interval bars, the front, the budget
line and the pick. Labels go on the front's files only (the others are context), placed so that none overlaps
another label or a marker."""
from __future__ import annotations

import textwrap
from pathlib import Path

COLORS = {"float32": "#1f77b4", "int8": "#ff7f0e"}
MARKERS = {"float32": "o", "int8": "s"}
METRIC_TITLE = {"accuracy": "accuracy", "auc": "AUC"}


def metric_title(metric: str) -> str:
    if metric.startswith("precision@recall"):
        return f"precision at recall {metric[len('precision@recall'):]}"
    return METRIC_TITLE.get(metric, metric)


def _label(r: dict) -> str:
    a = "" if r.get("alpha") is None else f" a{r['alpha']:g}"
    short = {"mobilenet_v2": "MNv2", "mobilenet": "MNv1", "mobilenet_v3_small": "MNv3s", "mobilenet_v3_large": "MNv3l"}
    return f"{short.get(r['backbone'], r['backbone'])}{a} {r['input_size']} {r['precision']}"


def _place_labels(ax, fig, items: list, avoid: list) -> None:
    """Annotate each (x, y, text, style) at the first offset whose box stays inside the axes and overlaps no earlier
    box, marker or front interval bar; failing that, at the inside offset with the fewest overlaps. Labels set
    away from their point get a leader line."""
    renderer = fig.canvas.get_renderer()
    inside = ax.get_window_extent(renderer)
    taken = list(avoid)
    offsets = [(8, 6), (8, -14), (-8, 6), (-8, -14), (8, 18), (8, -26), (-8, 18), (-8, -26), (14, 30), (14, -38),
               (-14, 30), (-14, -38), (20, 44), (20, -52), (-20, 44), (-20, -52)]

    def box_at(x, y, text, style, dx, dy):
        t = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=8,
                        ha="left" if dx > 0 else "right", va="bottom", **style)
        box = t.get_window_extent(renderer)
        t.remove()
        return box.expanded(1.04, 1.15)

    for x, y, text, style in items:
        scored = []
        for n, (dx, dy) in enumerate(offsets):
            box = box_at(x, y, text, style, dx, dy)
            if not (inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0 and box.y1 <= inside.y1):
                continue
            clashes = sum(box.overlaps(o) for o in taken)
            scored.append((clashes, n, dx, dy, box))
            if not clashes:
                break
        clashes, n, dx, dy, box = min(scored) if scored else (0, 0, 8, 6, box_at(x, y, text, style, 8, 6))
        arrow = {"arrowprops": {"arrowstyle": "-", "color": "0.55", "lw": 0.5}} if n >= 4 else {}
        ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=8,
                    ha="left" if dx > 0 else "right", va="bottom", **arrow, **style)
        taken.append(box)


def plot_search(result: dict, path: Path) -> Path:
    """Write the plot of search.json's ``result`` to ``path`` (PNG)."""
    import matplotlib.pyplot as plt

    fig = draw(result)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def draw(result: dict):
    """The matplotlib figure of ``plot_search`` (Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in result["candidates"] if r.get("score") is not None and r.get("p50_ms") is not None]
    front = set(result["front"])
    pick = result.get("pick") or {}
    cfg = result["config"]
    metric = metric_title(result["metric"])
    fig, ax = plt.subplots(figsize=(10, 6.2), dpi=110)
    xs = [r["p50_ms"] for r in rows]
    log = max(xs) / max(min(xs), 1e-9) > 4
    budget = cfg["budget_ms"]
    shown = min(xs) / 1.5 <= budget <= max(xs) * 1.5  # a budget far off the data is written, not drawn
    if log:
        ax.set_xscale("log")
    for prec in ("float32", "int8"):
        for on in (False, True):
            sel = [r for r in rows if r["precision"] == prec and (r["key"] in front) == on]
            if not sel:
                continue
            ax.errorbar([r["p50_ms"] for r in sel], [r["score"] for r in sel],
                        yerr=[[max(0.0, r["score"] - r["low"]) for r in sel],  # >= 0: records scored before the
                              [max(0.0, r["high"] - r["score"]) for r in sel]],  # Wilson fix end at 0.9999999999999999
                        fmt=MARKERS[prec], color=COLORS[prec], alpha=1.0 if on else 0.3, ms=6 if on else 4,
                        capsize=3 if on else 0, elinewidth=1.1 if on else 0.7, zorder=3 if on else 2,
                        label=f"{prec}{' (front)' if on else ''}")
    fr = sorted((r for r in rows if r["key"] in front), key=lambda r: r["p50_ms"])
    if fr:
        ax.step([r["p50_ms"] for r in fr], [r["score"] for r in fr], where="post", color="0.55", lw=0.9, ls=":",
                zorder=1, label="Pareto front")
    if shown:
        ax.axvline(budget, color="#d62728", ls="--", lw=1.3, zorder=1)
        ax.axvspan(budget, max(xs + [budget]) * (1.5 if log else 1.1), color="#d62728", alpha=0.05, zorder=0)
    if pick:
        ax.plot([pick["p50_ms"]], [pick["score"]], marker="*", ms=20, mfc="none", mec="#2ca02c", mew=2, zorder=4,
                ls="none")
        ax.plot([], [], marker="*", ms=10, mfc="none", mec="#2ca02c", mew=1.5, ls="none", label="pick")
    lows = [r["low"] for r in rows]
    highs = [r["high"] for r in rows]
    pad = 0.04 * (max(highs) - min(lows) or 0.1)
    ax.set_ylim(max(0.0, min(lows) - pad), min(1.0, max(highs) + pad))
    lo_x, hi_x = min(xs + ([budget] if shown else [])), max(xs + ([budget] if shown else []))
    ax.set_xlim(lo_x / 1.35 if log else lo_x - 0.06 * (hi_x - lo_x), hi_x * 1.5 if log else hi_x + 0.12 * (hi_x - lo_x))
    if log:
        import matplotlib.ticker as mt

        ax.xaxis.set_major_locator(mt.LogLocator(base=10, subs=(1.0, 2.0, 3.0, 5.0)))
        ax.xaxis.set_major_formatter(mt.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(mt.NullFormatter())
    ax.set_xlabel(f"p50 latency, ms ({'log scale; ' if log else ''}{'this machine, ' + str(cfg['threads']) + ' thread(s)' if not cfg.get('latency_from') else 'from --latency-from'})")
    ax.set_ylabel(f"cross-validated {metric} ({cfg['folds']} folds), 95% interval")
    ax.grid(True, which="major", alpha=0.25)
    n_unscored = sum(1 for r in result["candidates"] if r.get("score") is None)
    title = f"edgetl search: {metric} vs latency, {len(rows)} files, budget {budget:g} ms"
    if cfg.get("max_mb"):
        title += f" and {cfg['max_mb']:g} MB"
    ax.set_title(title, fontsize=11)
    sub = (f"pick: {pick['id']} ({metric} {pick['score']:.3f}, p50 {pick['p50_ms']:.2f} ms)" if pick else "")
    sub += (f"; {n_unscored} int8 file(s) far from the front not scored" if n_unscored else "")
    sub += f"\nlatency: {result.get('latency_device', '')}"
    fig.text(0.01, 0.005, "\n".join(textwrap.fill(s, 150) for s in sub.split("\n")), fontsize=7, color="0.3",
             va="bottom")
    ax.legend(loc="upper left", fontsize=8, framealpha=0.9)  # fast and accurate is the corner that stays empty
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    avoid = [ax.get_legend().get_window_extent(renderer)]
    from matplotlib.transforms import Bbox

    for r in rows:  # every marker, and the front's interval bars, are obstacles for the labels
        px, py = ax.transData.transform((r["p50_ms"], r["score"]))
        avoid.append(Bbox([[px - 4, py - 4], [px + 4, py + 4]]))
        if r["key"] in front:
            _, lo = ax.transData.transform((r["p50_ms"], r["low"]))
            _, hi = ax.transData.transform((r["p50_ms"], r["high"]))
            avoid.append(Bbox([[px - 4, lo], [px + 4, hi]]))
    items = []
    for r in fr:
        is_pick = r["key"] == pick.get("key")
        style = {"color": "#1a7f1a" if is_pick else "0.15", "fontweight": "bold" if is_pick else "normal"}
        items.append((r["p50_ms"], r["score"], ("PICK " if is_pick else "") + _label(r), style))
    items.sort(key=lambda it: 0 if it[3]["fontweight"] == "bold" else 1)  # the pick's label first
    _place_labels(ax, fig, items, avoid)
    ymin, ymax = ax.get_ylim()
    if shown:
        ax.text(budget, ymin, f" budget {budget:g} ms", color="#d62728", fontsize=8, va="bottom", ha="left")
    else:
        right = budget > max(xs)
        ax.text(0.99 if right else 0.01, 0.98, f"budget {budget:g} ms {'(off the chart →)' if right else '(← off the chart)'}",
                transform=ax.transAxes, color="#d62728", fontsize=8, va="top", ha="right" if right else "left")
    return fig
