"""The comparison's plot: latency vs size per backbone x artifact, accuracy vs latency beside it when measured."""
from __future__ import annotations

from pathlib import Path

from edgetl.formats.registry import COMPARE_FORMATS, get_format


def plot(result: dict, path: str | Path) -> Path:
    """Latency vs size (one point per backbone x artifact); accuracy vs latency beside it when measured."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.ticker
    import matplotlib.pyplot as plt

    from edgetl.fsutil import atomic_path

    rows = result["measured"]
    fmts = [get_format(n) for n in result["settings"].get("formats") or COMPARE_FORMATS]
    markers = {f.compare_key: ("os^Dvp<>"[i % 8], f"{f.runtime} {f.mode}") for i, f in enumerate(fmts)}
    has_acc = any(r.get(f"{k}_accuracy") is not None for r in rows for k in markers)
    fig, axes = plt.subplots(1, 2 if has_acc else 1, figsize=(13 if has_acc else 7.5, 5.5), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    ax = axes[0][0]
    for i, r in enumerate(rows):
        c = colors[i % len(colors)]
        for k, (m, lab) in markers.items():
            x, y = r.get(f"{k}_mb"), r.get(f"{k}_p50_ms")
            if x is not None and y is not None:
                ax.scatter(x, y, marker=m, color=c, s=50, label=f"{_name(r)} {lab}")
                if has_acc and r.get(f"{k}_accuracy") is not None:
                    axes[0][1].scatter(y, 100 * r[f"{k}_accuracy"], marker=m, color=c, s=50)
    ref = result.get("reference")
    if ref and ref.get("ratio"):
        ax.scatter(ref["google_mb"], ref["google_p50_ms"], marker="*", color="black", s=120, label="Google uint8 MobileNetV2")
    _scale(ax, "x", [o.get_offsets()[:, 0] for o in ax.collections])
    _scale(ax, "y", [o.get_offsets()[:, 1] for o in ax.collections])
    ax.set_xlabel("size (MB)")
    ax.set_ylabel(f"p50 latency (ms, {result['settings'].get('threads')} thread(s))")
    ax.set_title("latency vs size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    if has_acc:
        a2 = axes[0][1]
        _scale(a2, "x", [o.get_offsets()[:, 0] for o in a2.collections])
        a2.set_ylim(top=min(100.0, a2.get_ylim()[1]))
        a2.set_xlabel("p50 latency (ms)")
        a2.set_ylabel("accuracy (%)")
        a2.set_title("accuracy vs latency")
        a2.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return path


def _name(row: dict) -> str:
    """"mobilenet_v2 a0.35 224px": the backbone as measured (alpha and size set a row apart from the classic one)."""
    alpha = f" a{row['alpha']}" if row.get("alpha") is not None else ""
    return f"{row['backbone']}{alpha} {row['input_size']}px"


def _scale(ax, which: str, values) -> None:
    """Log scale with labelled 1-2-5 ticks when the values span more than a decade, else linear (a log axis
    inside one decade has no labelled tick at all)."""
    import matplotlib.ticker as ticker
    import numpy as np

    vals = np.concatenate([np.asarray(v, float) for v in values]) if values else np.zeros(0)
    vals = vals[np.isfinite(vals) & (vals > 0)]
    axis = ax.xaxis if which == "x" else ax.yaxis
    if len(vals) and vals.max() > 10 * vals.min():
        (ax.set_xscale if which == "x" else ax.set_yscale)("log")
        axis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        axis.set_minor_formatter(ticker.NullFormatter())
