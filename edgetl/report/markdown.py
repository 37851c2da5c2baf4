"""report.md with PNG plots beside it, from a run directory and the pipeline's stage results."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from edgetl.fsutil import write_text
from edgetl.report.tables import compare_markdown, fmt, markdown_table

PLOTS = {"training": "report_training.png", "confusion": "report_confusion.png", "pareto": "report_pareto.png",
         "roc": "report_roc.png"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    from edgetl.fsutil import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    _plt().close(fig)


def plot_training(history: dict, path: Path) -> Path:
    """Loss and accuracy per epoch, training and validation, phase 2 continuing after phase 1; the phase the run
    kept is marked, a discarded phase 2 is greyed out with the reason."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.9))
    kept = (history.get("selection") or {}).get("kept")
    reason = (history.get("selection") or {}).get("reason", "")
    colors = {"phase1": ("tab:blue", "tab:orange"), "phase2": ("tab:green", "tab:red")}
    offset, spans = 0, {}
    for phase in ("phase1", "phase2"):
        h = history.get(phase) or {}
        if "loss" not in h:
            continue
        n = len(h["loss"])
        x = np.arange(offset + 1, offset + n + 1)
        dropped = kept is not None and phase != kept
        tag = " (discarded)" if dropped else " (kept)" if kept == phase and history.get("phase2", {}).get("loss") else ""
        for ax, metric in zip(axes, ("loss", "accuracy")):
            ax.plot(x, h[metric], marker="o", color=colors[phase][0], alpha=0.45 if dropped else 1,
                    label=f"{phase} train{tag}")
            if f"val_{metric}" in h:
                ax.plot(x, h[f"val_{metric}"], marker="s", linestyle="--", color=colors[phase][1],
                        alpha=0.45 if dropped else 1, label=f"{phase} val{tag}")
        spans[phase] = (offset + 0.5, offset + n + 0.5)
        offset += n
    if "phase2" in spans:
        lo, hi = spans["phase2"]
        for ax in axes:
            ax.axvline(lo, color="grey", linewidth=0.8)
            if kept == "phase1":
                ax.axvspan(lo, hi, color="grey", alpha=0.12, linewidth=0)
        note = (f"phase 2 (shaded) discarded: {reason}" + ("" if "restored" in reason else "; phase 1's weights restored")
                if kept == "phase1"
                else f"phase 2 kept: {reason}" if kept == "phase2" else "")
        if note:
            fig.text(0.5, -0.04, _wrap(note, 130), ha="center", va="top", fontsize=8)
    elif kept and reason:
        fig.text(0.5, -0.04, _wrap(f"kept {kept.replace('phase', 'phase ')}: {reason}", 130), ha="center", va="top",
                 fontsize=8)
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.set_xlabel("epoch (phase 1 as a logistic regression: one point)" if _solved(history) else "epoch")
        ax.set_title(metric)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    if max((len((history.get(p) or {}).get("loss") or []) for p in ("phase1", "phase2")), default=0) <= 12:
        from matplotlib.ticker import MaxNLocator

        for ax in axes:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _save(fig, path)
    return path


def _solved(history: dict) -> bool:
    return "head_solver" in (history.get("phase1") or {})


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


def plot_confusion(matrix, labels, path: Path) -> Path:
    plt = _plt()
    m = np.asarray(matrix)
    size = max(3.5, 0.45 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if m[i, j] > m.max() / 2 else "black")
    ax.set_title(f"confusion matrix (Keras model, test split, n={int(m.sum())})", fontsize=10)
    _save(fig, path)
    return path


def plot_roc(test: dict, path: Path) -> Optional[Path]:
    """ROC curve of the positive class on the test split, with the operating point of the decision threshold."""
    roc = test.get("roc")
    if not roc:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.plot(roc["fpr"], roc["tpr"], color="tab:blue", label=f"ROC (AUC {test.get('auc', float('nan')):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle=":")
    cm = np.asarray(test["confusion_matrix"])
    pos = list(test["per_class"]).index(test["positive_class"])
    neg = 1 - pos
    tpr = cm[pos, pos] / max(cm[pos].sum(), 1)
    fpr = cm[neg, pos] / max(cm[neg].sum(), 1)
    at = "top class (0.5)" if test.get("threshold") is None else f"threshold {test['threshold']:.3f}"
    from edgetl.metrics import wilson_interval

    r_lo, r_hi = wilson_interval(int(cm[pos, pos]), int(cm[pos].sum()))
    f_lo, f_hi = wilson_interval(int(cm[neg, pos]), int(cm[neg].sum()))
    ax.errorbar([fpr], [tpr], yerr=[[tpr - r_lo], [r_hi - tpr]], xerr=[[fpr - f_lo], [f_hi - fpr]], fmt="o",
                color="tab:red", capsize=3, zorder=3,
                label=f"operating point: {at}\nrecall {tpr:.3f} [{r_lo:.3f}, {r_hi:.3f}] (95%, n={int(cm[pos].sum())})")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel(f"recall of {test['positive_class']}")
    ax.set_title("ROC (test split)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    _save(fig, path)
    return path


def decision_markdown(decision: dict) -> list:
    """How ``--target-recall``'s threshold was chosen (``training.decision``): on which scores, with recall and
    specificity and their 95% Wilson intervals there, and whether the recall's lower bound meets the target."""
    if "recall_low" not in decision:
        return []
    where = (f"out-of-fold scores of {decision['images']} train + validation images ({decision['folds']} folds, "
             "each image scored by a phase-1 head fitted on the other folds)" if decision.get("scores") == "out-of-fold"
             else f"{decision.get('scored_on')}")
    return [f"Threshold chosen for recall {decision['target_recall']:g} of {decision.get('positive_label')} on {where}: "
            f"recall **{decision['recall']:.3f}** [{decision['recall_low']:.3f}-{decision['recall_high']:.3f}] of "
            f"{decision['positives']}, specificity **{decision['specificity']:.3f}** "
            f"[{decision['specificity_low']:.3f}-{decision['specificity_high']:.3f}] of {decision['negatives']} "
            f"(95% Wilson). {decision['note'][0].upper()}{decision['note'][1:]}.", ""]


def data_markdown(data: dict) -> list:
    """Where the splits come from, their class counts (imbalance), skipped images and leakage."""
    counts = data.get("class_counts") or {}
    md = ["## Data", "", f"- layout: {data.get('layout', '?')}; test figures from **{data.get('test_from', '?')}**; "
                         f"early stopping on {data.get('val_from', '?')}"]
    if data.get("skipped"):
        md.append(f"- skipped images: {data['skipped']} ({', '.join(f'{k} {v}' for k, v in (data.get('skipped_reasons') or {}).items())})")
    leak = data.get("leakage") or {}
    if leak.get("count"):
        md.append(f"- **leakage: {leak['count']} image(s) in more than one split** (e.g. {leak['examples'][0]})")
    for w in data.get("warnings") or []:
        if "more than one split" not in w:
            md.append(f"- warning: {w}")
    md.append("")
    if counts:
        splits = [s for s in ("train", "val", "test") if s in counts]
        classes = list(next(iter(counts.values())))
        rows = [{"class": c, **{s: counts[s].get(c, 0) for s in splits}} for c in classes]
        train = [counts["train"][c] for c in classes] if "train" in counts else []
        ratio = (max(train) / max(min(train), 1)) if train else None
        md += [markdown_table([("class", "class")] + [(s, s) for s in splits], rows), ""]
        if ratio is not None:
            md += [f"Class imbalance (train, largest / smallest class): {ratio:.1f}x"
                   + (" - consider `--class-weights auto`" if ratio >= 3 else ""), ""]
    return md


def pareto_front(points: list) -> list:
    """Indices of (latency, accuracy) points no other point beats on both (lower latency, higher accuracy)."""
    front = []
    for i, (lat, acc) in enumerate(points):
        dominated = any((l2 <= lat and a2 >= acc) and (l2 < lat or a2 > acc) for j, (l2, a2) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return front


def _place_labels(ax, points: list, labels: list, bars: Optional[list] = None) -> None:
    """Label each point without overlapping another label or point: candidate offsets tried nearest first, in
    display space: next to the point (clear of the interval bars if possible), else farther with a leader line;
    never over another label or point. ``bars``: (x, low, high) of each point's interval, in data space."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    to_px = ax.transData.transform
    taken = []  # display-space boxes (x0, y0, x1, y1) of placed labels and of every point
    for x, y in points:
        px, py = to_px((x, y))
        taken.append((px - 5, py - 5, px + 5, py + 5))
    soft = []  # the interval bars: better not crossed by a label
    for x, lo, hi in bars or []:
        (bx, by0), (_, by1) = to_px((x, lo)), to_px((x, hi))
        soft.append((bx - 4, min(by0, by1), bx + 4, max(by0, by1)))
    steps = [(7, -3), (7, 6), (7, -12), (-7, -3), (-7, 6), (-7, -12), (0, 10), (0, -18)]
    steps += [(dx * k, dy * k) for k in (2, 3, 4, 5, 6, 8)
              for dx, dy in ((7, 8), (7, -10), (-7, 8), (-7, -10), (0, 14), (0, -20), (9, 0), (-9, 0))]
    frame = ax.get_window_extent(renderer)

    def hits(b, boxes):
        return any(b[0] < t[2] and t[0] < b[2] and b[1] < t[3] and t[1] < b[3] for t in boxes)

    def extent(text, x, y, dx, dy):
        ann = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=7,
                          ha="left" if dx >= 0 else "right", va="bottom")
        bb = ann.get_window_extent(renderer)
        ann.remove()
        return (bb.x0 - 1, bb.y0 - 1, bb.x1 + 1, bb.y1 + 1)

    def inside(b):
        return frame.x0 <= b[0] and b[2] <= frame.x1 and frame.y0 <= b[1] and b[3] <= frame.y1

    for (x, y), text in zip(points, labels):
        chosen = None
        near, far_steps = steps[:16], steps[16:]  # next to the point first, crossing a bar if need be; then farther
        for candidates, avoid in ((near, taken + soft), (near, taken), (far_steps, taken + soft), (far_steps, taken)):
            for dx, dy in candidates:
                box = extent(text, x, y, dx, dy)
                if inside(box) and not hits(box, avoid):
                    chosen = (dx, dy, box)
                    break
            if chosen:
                break
        if chosen is None:  # crowded: the last candidate, still readable beside its leader line
            dx, dy = steps[-1]
            chosen = (dx, dy, extent(text, x, y, dx, dy))
        dx, dy, box = chosen
        far = abs(dx) + abs(dy) > 20
        ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=7,
                    ha="left" if dx >= 0 else "right", va="bottom",
                    arrowprops={"arrowstyle": "-", "color": "grey", "linewidth": 0.6, "shrinkA": 0,
                                "shrinkB": 3} if far else None)
        taken.append(box)


def plot_pareto(rows: list, path: Path) -> Optional[Path]:
    """Accuracy (with its 95% interval) against p50 latency, one point per file (first thread count), the Pareto
    front drawn as the staircase no other file beats on both."""
    from matplotlib.lines import Line2D

    first = min((r["threads"] for r in rows if r.get("threads")), default=None)
    pts = [r for r in rows if r.get("p50_ms") and r.get("accuracy") is not None
           and (first is None or r.get("threads") in (None, first))]
    if not pts:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.2, 4.6))
    front = set(pareto_front([(r["p50_ms"], r["accuracy"]) for r in pts]))
    for i, r in enumerate(pts):
        color = "tab:red" if i in front else "tab:blue"
        if r.get("low") is not None:
            ax.errorbar(r["p50_ms"], r["accuracy"], yerr=[[r["accuracy"] - r["low"]], [r["high"] - r["accuracy"]]],
                        fmt="o", color=color, ecolor=color, elinewidth=1, capsize=3, markersize=5, zorder=3)
        else:
            ax.plot(r["p50_ms"], r["accuracy"], "o", color=color, markersize=5, zorder=3)
    lats = [r["p50_ms"] for r in pts]
    if max(lats) > 5 * min(lats):
        from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
    fp = sorted((pts[i]["p50_ms"], pts[i]["accuracy"]) for i in front)
    if len(fp) > 1:  # the staircase: from each front file, flat until the next (slower, more accurate) one
        xs, ys = [fp[0][0]], [fp[0][1]]
        for (x, y) in fp[1:]:
            xs += [x, x]
            ys += [ys[-1], y]
        ax.plot(xs, ys, color="tab:red", linewidth=1, zorder=2)
    lows = [r.get("low", r["accuracy"]) if r.get("low") is not None else r["accuracy"] for r in pts]
    highs = [r.get("high") if r.get("high") is not None else r["accuracy"] for r in pts]
    span = max(max(highs) - min(lows), 0.02)
    ax.set_ylim(max(0.0, min(lows) - 0.08 * span), min(1.0, max(highs) + 0.08 * span))
    lo_x, hi_x = min(lats), max(lats)
    if ax.get_xscale() == "log":
        ax.set_xlim(lo_x / 1.35, hi_x * 1.9)
    else:
        pad = (hi_x - lo_x) or hi_x
        ax.set_xlim(max(0.0, lo_x - 0.1 * pad), hi_x + 0.45 * pad)
    ns = sorted({r["accuracy_n"] for r in pts if r.get("accuracy_n")})
    n_text = f"n = {ns[0]} test images" if len(ns) == 1 else "n per file in report.md" if ns else "n unknown"
    _place_labels(ax, [(r["p50_ms"], r["accuracy"]) for r in pts],
                  [r["name"].replace("model_", "").replace("model.", "") for r in pts],
                  [(r["p50_ms"], r["low"], r["high"]) for r in pts if r.get("low") is not None])
    ax.set_xlabel(f"p50 latency (ms, batch 1{f', {first} thread(s)' if first else ''})")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"latency vs accuracy (bars: 95% Wilson interval, {n_text})", fontsize=10)
    ax.grid(alpha=0.3)
    handles = [Line2D([], [], color="tab:red", marker="o", linewidth=1 if len(fp) > 1 else 0,
                      label="Pareto front: no file is both faster and more accurate"),
               Line2D([], [], color="tab:blue", marker="o", linewidth=0,
                      label="off the front: a front file is as fast and as accurate")]
    ax.legend(handles=handles, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    _save(fig, path)
    return path


def gate_record(artifact) -> Optional[dict]:
    """The artifact's saved gate record (None for Keras, a stale or an unreadable record)."""
    from edgetl.runtime.parity import record_for

    try:
        return record_for(artifact)
    except Exception:  # noqa: BLE001 - an unreadable gate.json must not stop the report
        return None


def gate_cell(artifact, rec: Optional[dict] = None) -> Optional[str]:
    """"pass 99.6% [98.3-100%] n=225" from the artifact's saved gate record (``rec``, else read; None for Keras or
    a stale record)."""
    rec = gate_record(artifact) if rec is None else rec
    if not rec or rec.get("agreement_low") is None:
        return None
    n = rec.get("decided_images", rec["parity_images"])
    ties = rec.get("ties") or 0
    tie_note = f" +{ties} ties" if ties else ""
    if rec.get("agreement") is None:
        return f"{rec['gate']}: all {ties} images ties"
    return (f"{rec['gate']} {100 * rec['agreement']:.1f}% [{100 * rec['agreement_low']:.1f}-"
            f"{100 * rec['agreement_high']:.1f}%] n={n}{tie_note}")


def quantized(record: dict, keras: bool) -> Optional[str]:
    """What the artifact quantizes, in the format registry's words (from its conversion record's format)."""
    from edgetl.formats.registry import FORMATS

    fmt = FORMATS.get(record.get("format"))
    return "nothing (Keras model)" if keras else (fmt.quantization if fmt else None)


def artifact_rows(results: dict, run_dir: Optional[str | Path] = None) -> list:
    """One row per artifact and thread count: conversion figures joined with benchmark figures.

    With ``run_dir``, an artifact made from an older model than the run's (``rundir.stale_reason``)
    keeps only its name and the reason: its figures describe another model.
    """
    from edgetl.rundir import stale_reason

    conv = {}
    for stage in ("quantize", "convert"):
        for r in (results.get(stage) or {}).get("artifacts", []):
            conv[r.get("file") or Path(r["artifact"]).name] = r
    train = results.get("train") or {}
    keras_n = (train.get("test") or {}).get("n") or (train.get("data") or {}).get("test")
    rows = []
    seen = set()
    for b in (results.get("benchmark") or {}).get("results", []):
        name = Path(b["artifact"]).name
        seen.add(name)
        c = conv.get(name, {})
        keras = _is_reference(name)
        rec = None if keras else gate_record(b["artifact"])
        rows.append({
            "name": name, "runtime": b.get("runtime"), "quantized": quantized(c, keras), "threads": b.get("threads"),
            "size_mb": b.get("size_mb") if b.get("size_mb") is not None else c.get("size_mb"),
            "gzip_mb": b.get("gzip_mb") if b.get("gzip_mb") is not None else c.get("gzip_mb"),
            "accuracy": (train.get("test") or {}).get("accuracy") if keras else c.get("accuracy"),
            "accuracy_n": keras_n if keras else c.get("accuracy_n"), "format": c.get("format"),
            "agreement": 1.0 if keras else c.get("agreement"),
            "p50_ms": b.get("p50_ms"), "p90_ms": b.get("p90_ms"), "fps": b.get("fps"),
            "gmacs": b.get("gmacs"), "pct_peak": b.get("pct_peak"), "gate": gate_cell(b["artifact"], rec) if rec else None,
            "meets_budget": b.get("meets_budget"), "error": b.get("error"),
            "test_correct": (rec or {}).get("test_correct"),  # per test image (gate.json), for the paired test
        })
        stale = stale_reason(Path(run_dir) / name) if run_dir is not None else None
        if stale:
            rows[-1] = {**{k: None for k in rows[-1]}, "name": name, "runtime": b.get("runtime"),
                        "threads": b.get("threads"), "error": f"stale: {stale}"}
        _add_interval(rows[-1])
    for name, c in conv.items():  # refused by the parity gate or failed: never written, so never benchmarked
        if c.get("error") and name not in seen:
            rows.append({"name": name, "runtime": c.get("runtime"), "quantized": quantized(c, False), "threads": None, "size_mb": None, "gzip_mb": None, "accuracy": None,
                         "agreement": None, "p50_ms": None, "p90_ms": None, "fps": None, "meets_budget": None,
                         "error": "not written: " + c["error"]})
    return rows


def error_table_markdown(selection: dict, layer_error: Optional[dict] = None) -> list:
    """report.md lines: what --auto kept and the debugger's worst tensors (``layer_error``: the file's own table,
    else the one of ``selection``)."""
    from edgetl.tflite.auto_float import short

    md = [f"- kept in float: {', '.join(short(n) for n in selection.get('keep_float') or []) or 'nothing'}"]
    md += [f"  - {r}" for r in selection.get("reasons") or []]
    table = layer_error or {"rows": selection.get("layer_error"), "tensors_measured": selection.get("tensors_measured"),
                            "threshold": selection.get("threshold")}
    return md + [""] + layer_error_markdown(table)


def layer_error_markdown(table: dict) -> list:
    """report.md lines: an int8 file's per-layer error table (``auto_float.Debugged.record``), or why it is missing."""
    from edgetl.tflite.auto_float import short

    if table.get("error"):
        return [f"Per-layer error not measured: {table['error']}", ""]
    rows = [{"tensor": short(e["tensor"]), "op": e.get("op"), "rmse_scale": f"{e['rmse_scale']:.2f}",
             "scale": f"{e['scale']:.3g}" if e.get("scale") is not None else None,
             "kept": "float" if e.get("kept") else "int8"} for e in table.get("rows") or []]
    if not rows:
        return []
    on = f" on {table['images']} calibration images" if table.get("images") else ""
    by = "Against the float twin (QAT weights, no fake-quant)" if table.get("method") == "float twin" \
        else "Quantization debugger"
    return [f"{by}{on}, worst {len(rows)} of {table.get('tensors_measured') or len(rows)} tensors "
            f"(rmse/scale: RMS error in quantization steps; rounding alone 0.29, threshold {table.get('threshold')}):",
            "", markdown_table([("tensor", "tensor"), ("op", "op"), ("rmse_scale", "rmse/scale"), ("scale", "scale"),
                                ("kept", "kept as")], rows), ""]


def _add_interval(row: dict) -> None:
    """The row's test accuracy as k of n with its 95% Wilson interval (low/high None without n)."""
    from edgetl.metrics import wilson_interval

    acc, n = row.get("accuracy"), row.get("accuracy_n")
    row["low"] = row["high"] = None
    if acc is not None and n:
        row["low"], row["high"] = wilson_interval(int(round(acc * n)), int(n))


def measured_notes_markdown(results: dict) -> list:
    """Under the artifact table: speed verdicts of this run's benchmark, op coverage per artifact, and what
    `quantize --auto` kept in float with the quantization debugger's worst tensors."""
    from edgetl.measure.ops import OPS_COLUMNS, table_row
    from edgetl.measure.verdicts import speed_notes
    from edgetl.tflite.auto_float import short

    bench = results.get("benchmark") or {}
    md = [f"**Note:** {n}" for n in speed_notes(bench.get("results") or [], bench.get("system"))]
    md += [""] if md else []
    profiles = bench.get("ops") or []
    if profiles:
        cheap = any(p.get("per_op") is False for p in profiles)
        md += ["## Op coverage", "",
               "Which ops the runtime's delegate (TFLite: XNNPACK) took and which fell back to reference kernels; "
               "every partition boundary is a hand-over. Time shares: each XNNPACK partition and fallback op cut out "
               "and timed alone" + ("; op types inside a partition were not timed (cheap mode: "
                                    "`edgetl benchmark --ops` times them)" if cheap else "")
               + "; ONNX: onnxruntime's profiler.", "",
               markdown_table(OPS_COLUMNS, [table_row(p) for p in profiles]), ""]
    for r in (results.get("quantize") or {}).get("artifacts", []):
        if r.get("auto_keep_float"):
            md += [f"## int8 `--auto`: {r.get('file')}", ""] + error_table_markdown(r["auto_keep_float"],
                                                                                   r.get("layer_error"))
        else:
            if (r.get("kept_float") or {}).get("keep_float"):
                md += [f"- {r.get('file')} keeps in float: " + ", ".join(short(n) for n in r["kept_float"]["keep_float"])]
                md += [f"  - {reason}" for reason in r["kept_float"].get("reasons") or []] + [""]
            if r.get("layer_error"):
                md += [f"## Per-layer int8 error: {r.get('file')}", ""] + layer_error_markdown(r["layer_error"])
        if (r.get("max_drop") or {}).get("steps"):
            md += [f"## int8 `--max-drop {r['max_drop']['limit']:g}`: {r.get('file')}", ""] + max_drop_markdown(r["max_drop"])
    return md


def max_drop_markdown(result: dict) -> list:
    """The --max-drop steps: what was in float, the paired drop on the validation split and its interval."""
    from edgetl.tflite.auto_float import short

    md = []
    for i, st in enumerate(result["steps"]):
        what = ", ".join(short(n) for n in st["kept"]) or "the file as converted"
        md.append(f"{i}. {what}: " + (f"not converted ({st['error']})" if "error" in st else
                                       f"drop {st['drop']:+.1f} points [{st['low']:+.1f}, {st['high']:+.1f}], "
                                       f"n = {st['n']}") + (" (written)" if i == result.get("best") else ""))
    return md + ["", f"**{result.get('verdict')}:** {result.get('message')}", ""]


ARTIFACT_COLUMNS = [("name", "artifact"), ("runtime", "runtime"), ("quantized", "quantized"), ("threads", "threads"), ("size_mb", "size MB"), ("gzip_mb", "gzip MB"),
                    ("accuracy", "test acc"), ("agreement", "agree w/ Keras"), ("gate", "parity gate (95% CI, n)"),
                    ("p50_ms", "p50 ms"), ("p90_ms", "p90 ms"), ("fps", "FPS"), ("gmacs", "GMAC/s"),
                    ("pct_peak", "% of peak"), ("meets_budget", "meets budget")]
CLASS_COLUMNS = [("class", "class"), ("precision_ci", "precision [95% Wilson]"), ("predicted", "predicted"),
                 ("recall_ci", "recall [95% Wilson]"), ("support", "support"), ("f1", "F1")]


def _class_row(name: str, r: dict) -> dict:
    """A per-class row with its precision (n = predicted) and recall (n = support) shown with their intervals."""
    from edgetl.metrics import with_interval

    return {"class": name, **r, "precision_ci": with_interval(r["precision"], r.get("precision_low"),
                                                               r.get("precision_high")),
            "recall_ci": with_interval(r["recall"], r.get("recall_low"), r.get("recall_high"))}


def _host(results: dict) -> Optional[str]:
    from edgetl.measure.sysinfo import one_line

    system = (results.get("benchmark") or {}).get("system")
    try:
        return one_line(system) if system else None
    except Exception:  # noqa: BLE001 - an old summary without every field still gets its report
        return None


def _first_threads(rows: list) -> Optional[int]:
    return min((r["threads"] for r in rows if r.get("threads")), default=None)


def paired_test(a: dict, b: dict) -> Optional[dict]:
    """Exact McNemar test of two report rows on the run's test images (``metrics.mcnemar``: ``a_only`` = right in
    ``a`` only), from the per-image results of their gate records; None when a record has none (a file gated
    before edgetl kept them) or they were not scored on the same number of images."""
    from edgetl.metrics import mcnemar, unpack_correct

    n = a.get("accuracy_n")
    if not a.get("test_correct") or not b.get("test_correct") or not n or n != b.get("accuracy_n"):
        return None
    return mcnemar(unpack_correct(a["test_correct"], n), unpack_correct(b["test_correct"], n))


def paired_line(a: dict, b: dict) -> str:
    """"`int8` vs `float32` on the same 300 test images: right in one only 3 vs 2, exact McNemar p = 1.00: no
    detectable difference." (rows ``a``, ``b``), or why there is no paired test."""
    t = paired_test(a, b)
    if t is None:
        return (f"Paired test of `{a['name']}` and `{b['name']}`: not available (their gate records hold no per-image "
                "test results; quantize again to record them).")
    from edgetl.measure.front import PAIRED_ALPHA

    verdict = ("no detectable difference" if t["p"] >= PAIRED_ALPHA else
               f"a detectable difference (p < {PAIRED_ALPHA:g}), in favour of `{a['name'] if t['a_only'] > t['b_only'] else b['name']}`")
    return (f"`{a['name']}` vs `{b['name']}` on the same {t['n']} test images: {t['a_only']} vs {t['b_only']} discordant "
            f"images (right in one file only), exact McNemar p = {t['p']:.2f}: {verdict}.")


def ship_this(rows: list, budget_ms: float, run_dir: Path, host: Optional[str] = None) -> list:
    """"Ship this": the most accurate TFLite file the Android app runs within the frame budget; files with no
    detectable difference from it are tied with it, and among those the fastest, then the smallest, is shipped
    (the rule of ``edgetl.measure.front.pick``, shared with search). No detectable difference: an exact McNemar
    test on the same test images where both gate records keep per-image results, else the file's accuracy lies
    inside the best one's 95% interval."""
    from edgetl.measure.front import pick
    from edgetl.errors import EdgetlError
    from edgetl.formats.registry import FORMATS

    first = _first_threads(rows)
    cands = [{"id": r["name"], "accuracy": r["accuracy"], "score": r["accuracy"], "low": r["low"], "high": r["high"],
              "p50_ms": r["p50_ms"],
              "size_mb": r["size_mb"], "row": r} for r in rows
             if not r.get("error") and r.get("format") in FORMATS and FORMATS[r["format"]].android
             and r.get("accuracy") is not None and r.get("low") is not None and r.get("p50_ms")
             and r.get("size_mb") is not None and r.get("threads") in (None, first)]
    md = ["## Ship this", ""]
    if not cands:
        return md + ["No TFLite file of this run has a test accuracy and a latency yet (run the quantize and "
                     "benchmark stages): nothing to recommend.", ""]

    def paired_p(a, b):
        t = paired_test(a["row"], b["row"])
        return None if t is None else t["p"]

    try:
        chosen, tied = pick(cands, budget_ms, paired=paired_p)
    except EdgetlError as e:
        return md + [f"No file fits the budget of {budget_ms:g} ms per frame: {e}.", ""]
    r = chosen["row"]
    best = max((c for c in cands if c["p50_ms"] <= budget_ms), key=lambda c: (c["accuracy"], -c["p50_ms"]))
    mode = FORMATS[r["format"]].mode
    artifact = mode if r["name"] == FORMATS[r["format"]].file_name() else r["name"]
    rest = [t for t in tied if t is not chosen and t is not best]
    others = ", ".join(f"`{t['id']}`" for t in rest)
    how = "no detectable difference" + ("" if any(paired_p(best, t) is not None for t in tied if t is not best)
                                        else ": inside its 95% interval")
    lie, are = ("is", "is") if len(rest) == 1 else ("are", "are")
    if chosen is best:
        why = "it is the most accurate TFLite file within the budget" + (
            f"; {others} {lie} tied with it ({how}) but {are} not faster" if others else "")
    else:
        faster = "faster" if chosen["p50_ms"] < best["p50_ms"] else "as fast and smaller"
        why = (f"`{best['id']}` is the most accurate within the budget ({_acc_ci(best['row'])}), but `{chosen['id']}` "
               f"is tied with it ({how}) and is {faster}"
               + (f"; so {'is' if len(rest) == 1 else 'are'} {others}, slower" if others else ""))
    md += [f"**`{r['name']}`** ({r['format']}): test accuracy **{_acc_ci(r)}**, p50 **{r['p50_ms']:.2f} ms** "
           f"(batch 1, {first or 1} thread(s); budget {budget_ms:g} ms per frame), {r['size_mb']:.2f} MB.", "",
           f"Why: {why}. Chosen among the TFLite files (what the Android app runs); latency measured on this host"
           + (f" ({host})" if host else "") + ", not on a phone.", ""]
    pairs = ([best] if chosen is not best else []) + [t for t in tied if t is not chosen and t is not best][:2]
    md += [f"- {paired_line(r, t['row'])}" for t in pairs] + ([""] if pairs else [])
    md += ["```sh", f"edgetl export android {run_dir} --artifact {artifact}", "```", ""]
    return md


def _acc_ci(r: dict) -> str:
    """"97.0% [94.2-98.5%] n=269": a test accuracy with its 95% Wilson interval and its n."""
    if r.get("accuracy") is None:
        return "-"
    if r.get("low") is None:
        return f"{100 * r['accuracy']:.1f}%"
    return f"{100 * r['accuracy']:.1f}% [{100 * r['low']:.1f}-{100 * r['high']:.1f}%] n={r['accuracy_n']}"


SHORT_COLUMNS = [("name", "file"), ("acc_ci", "test accuracy [95% CI] n"), ("p50", "p50 ms"), ("size_mb", "size MB"),
                 ("gate", "parity gate"), ("meets_budget", "in budget")]


def _is_reference(name: str) -> bool:
    """Whether the file is a Keras model (the reference every artifact is gated against), by the runtime registry."""
    from edgetl.runtime.registry import find

    rt = find(name)
    return rt is not None and rt.name == "keras"


def short_rows(rows: list) -> list:
    """One row per file: thread rows folded into one p50 cell ("0.30 / 0.21" for 1 / 2 threads)."""
    out, by = [], {}
    for r in rows:
        if r["name"] not in by:
            by[r["name"]] = {"name": r["name"], "acc_ci": _acc_ci(r), "size_mb": r.get("size_mb"),
                             "gate": r.get("gate") or ("Keras reference" if _is_reference(r["name"]) else None),
                             "meets_budget": r.get("meets_budget"), "p50s": [], "error": r.get("error")}
            out.append(by[r["name"]])
        if r.get("p50_ms") is not None:
            by[r["name"]]["p50s"].append(r["p50_ms"])
    for o in out:
        o["p50"] = " / ".join(f"{p:.2f}" for p in o.pop("p50s")) or None
    return out


def write_report(run_dir: str | Path, recipe: dict, results: dict, stage_seconds: Optional[dict] = None) -> dict:
    from edgetl.metrics import with_interval
    from edgetl.rundir import read_history, read_metrics

    run_dir = Path(run_dir)
    train = results.get("train") or {}
    history = read_history(run_dir)
    test = train.get("test") or read_metrics(run_dir)["test"]
    labels = (train.get("data") or {}).get("classes") or []
    made = {"training": plot_training(history, run_dir / PLOTS["training"]),
            "confusion": plot_confusion(test["confusion_matrix"], labels, run_dir / PLOTS["confusion"])}
    roc = plot_roc(test, run_dir / PLOTS["roc"])
    if roc:
        made["roc"] = roc
    rows = artifact_rows(results, run_dir)
    pareto = plot_pareto(rows, run_dir / PLOTS["pareto"])
    if pareto:
        made["pareto"] = pareto

    md = [f"# edgetl run: {recipe.get('name')}", ""]
    if recipe.get("description"):
        md += [recipe["description"].strip(), ""]
    budget = float(recipe.get("budget_ms") or 33.0)
    if rows:
        md += ship_this(rows, budget, run_dir, _host(results))
    weights = train.get("weights_source", "?")
    pre = train.get("pretrained")
    md += [f"- backbone: **{train.get('backbone')}** alpha {train.get('alpha')} at {train.get('input_size')} px, "
           f"{train.get('params', 0):,} parameters",
           f"- started from: **{'ImageNet weights' if pre else 'RANDOM initialisation (no ImageNet weights found)'}**"
           f" (`{weights}`)",
           f"- data: `{(train.get('data') or {}).get('source')}`, {len(labels)} classes, "
           f"train/val/test {(train.get('data') or {}).get('train')}/{(train.get('data') or {}).get('val')}/"
           f"{(train.get('data') or {}).get('test')}, hash `{str((train.get('data') or {}).get('data_hash'))[:12]}`", ""]
    md += ["## Test metrics (Keras model)", "",
           f"accuracy **{fmt('accuracy', test.get('accuracy'))}**"
           + (f" [{100 * test['accuracy_low']:.1f}-{100 * test['accuracy_high']:.1f}%] (95% Wilson, n={test.get('n')})"
              if test.get("accuracy_low") is not None else "") + f", loss {fmt('loss', test.get('loss'))}"
           + (f", precision {with_interval(test.get('precision'), test.get('precision_low'), test.get('precision_high'))}"
              f", recall {with_interval(test.get('recall'), test.get('recall_low'), test.get('recall_high'))}, "
              f"AUC {fmt('auc', test.get('auc'))}"
              + (f" [{test['auc_low']:.3f}-{test['auc_high']:.3f}] (95% bootstrap)"
                 if test.get("auc_low") is not None else "") if "auc" in test else ""), ""]
    if "auc" in test:
        md += [f"Binary decision: **{test.get('positive_class')}** when its probability >= "
               + ("0.5 (top class)" if test.get("threshold") is None else f"**{test['threshold']:.4f}**")
               + ".", ""] + decision_markdown(train.get("decision") or read_metrics(run_dir).get("decision") or {})
    md += [markdown_table(CLASS_COLUMNS, [_class_row(k, v) for k, v in test["per_class"].items()]), ""]
    if roc:
        md += [f"![ROC curve]({PLOTS['roc']})", ""]
    md += data_markdown(train.get("data") or read_metrics(run_dir).get("data") or {})
    md += ["## Training", "", f"![training curves]({PLOTS['training']})", "",
           f"![confusion matrix]({PLOTS['confusion']})", ""]
    if rows:
        threads = sorted({r["threads"] for r in rows if r.get("threads")})
        md += ["## Files", "",
               "Test accuracy with its 95% Wilson interval and the number of test images; p50 latency at batch 1"
               + (f" for {' / '.join(map(str, threads))} thread(s)" if threads else "")
               + f", median of interleaved runs in separate processes on this host; budget {budget:g} ms per frame.",
               "", markdown_table(SHORT_COLUMNS, short_rows(rows)), ""]
        if pareto:
            md += [f"![latency vs accuracy]({PLOTS['pareto']})", "",
                   "Red: the Pareto front (no other file is both faster and more accurate). Bars: 95% intervals; "
                   "files whose bars overlap may not differ at all on new images.", ""]
    md += measured_notes_markdown(results)
    comp = results.get("compare")
    if comp:
        md += ["## The classic comparison table, each row measured under it", "", compare_markdown(comp), ""]
    if rows:
        md += ["## All measured figures", "", "<details><summary>every file x thread count</summary>", "",
               markdown_table(ARTIFACT_COLUMNS, rows), "", "</details>", ""]
    stages = stage_seconds or {}
    if stages:
        md += ["## Stage times", "", markdown_table([("stage", "stage"), ("seconds", "seconds")],
                                                    [{"stage": k, "seconds": v} for k, v in stages.items()]), ""]
    write_text(run_dir / "report.md", "\n".join(md) + "\n")
    return {"report": str(run_dir / "report.md"), "plots": {k: str(v) for k, v in made.items()}, "artifacts": rows}


