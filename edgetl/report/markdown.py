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
    """Loss and accuracy per epoch, training and validation, phase 2 continuing after phase 1."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    offset = 0
    for phase in ("phase1", "phase2"):
        h = history.get(phase) or {}
        if "loss" not in h:
            continue
        n = len(h["loss"])
        x = np.arange(offset + 1, offset + n + 1)
        for ax, metric in zip(axes, ("loss", "accuracy")):
            ax.plot(x, h[metric], marker="o", label=f"{phase} train")
            if f"val_{metric}" in h:
                ax.plot(x, h[f"val_{metric}"], marker="s", linestyle="--", label=f"{phase} val")
        if offset:
            for ax in axes:
                ax.axvline(offset + 0.5, color="grey", linewidth=0.8)
        offset += n
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    _save(fig, path)
    return path


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
    ax.set_title("confusion matrix (test split)")
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
    ax.scatter([fpr], [tpr], color="tab:red", zorder=3, label=f"operating point: {at}")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel(f"recall of {test['positive_class']}")
    ax.set_title("ROC (test split)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    _save(fig, path)
    return path


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


def plot_pareto(rows: list, path: Path) -> Optional[Path]:
    several = len({r.get("threads") for r in rows if r.get("threads")}) > 1
    pts = [(r["p50_ms"], r["accuracy"], r["name"] + (f" x{r['threads']}" if several else "")) for r in rows
           if r.get("p50_ms") and r.get("accuracy") is not None]
    if not pts:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    front = set(pareto_front([(p[0], p[1]) for p in pts]))
    rank = {i: r for r, i in enumerate(sorted(range(len(pts)), key=lambda i: pts[i][0]))}
    for i, (lat, acc, name) in enumerate(pts):
        ax.scatter(lat, acc, color="tab:red" if i in front else "tab:blue", zorder=3)
        label = name.replace("model_", "").replace("model.", "")  # model_int8.tflite -> int8.tflite
        ax.annotate(label, (lat, acc), fontsize=7, xytext=(4, -12 + 9 * (rank[i] % 4)), textcoords="offset points")
    lats = [p[0] for p in pts]
    if max(lats) > 5 * min(lats):
        from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.margins(x=0.15, y=0.15)
    fp = sorted((pts[i][0], pts[i][1]) for i in front)
    ax.plot([p[0] for p in fp], [p[1] for p in fp], color="tab:red", linewidth=1, label="Pareto front")
    ax.set_xlabel("p50 latency (ms, batch 1)")
    ax.set_ylabel("test accuracy")
    ax.set_title("latency vs accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)
    return path


def gate_cell(artifact) -> Optional[str]:
    """"pass 99.6% [98.3-100%] n=225" from the artifact's saved gate record (None for Keras or a stale record)."""
    from edgetl.runtime.parity import record_for

    try:
        rec = record_for(artifact)
    except Exception:  # noqa: BLE001 - an unreadable gate.json must not stop the report
        return None
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
    rows = []
    seen = set()
    for b in (results.get("benchmark") or {}).get("results", []):
        name = Path(b["artifact"]).name
        seen.add(name)
        c = conv.get(name, {})
        keras = name.endswith((".keras", ".h5"))
        rows.append({
            "name": name, "runtime": b.get("runtime"), "quantized": quantized(c, keras), "threads": b.get("threads"),
            "size_mb": b.get("size_mb") if b.get("size_mb") is not None else c.get("size_mb"),
            "gzip_mb": b.get("gzip_mb") if b.get("gzip_mb") is not None else c.get("gzip_mb"),
            "accuracy": (train.get("test") or {}).get("accuracy") if keras else c.get("accuracy"),
            "agreement": 1.0 if keras else c.get("agreement"),
            "p50_ms": b.get("p50_ms"), "p90_ms": b.get("p90_ms"), "fps": b.get("fps"),
            "gmacs": b.get("gmacs"), "pct_peak": b.get("pct_peak"), "gate": gate_cell(b["artifact"]),
            "meets_budget": b.get("meets_budget"), "error": b.get("error"),
        })
        stale = stale_reason(Path(run_dir) / name) if run_dir is not None else None
        if stale:
            rows[-1] = {**{k: None for k in rows[-1]}, "name": name, "runtime": b.get("runtime"),
                        "threads": b.get("threads"), "error": f"stale: {stale}"}
    for name, c in conv.items():  # refused by the parity gate or failed: never written, so never benchmarked
        if c.get("error") and name not in seen:
            rows.append({"name": name, "runtime": c.get("runtime"), "quantized": quantized(c, False), "threads": None, "size_mb": None, "gzip_mb": None, "accuracy": None,
                         "agreement": None, "p50_ms": None, "p90_ms": None, "fps": None, "meets_budget": None,
                         "error": "not written: " + c["error"]})
    return rows


def error_table_markdown(selection: dict) -> list:
    """report.md lines: what --auto kept and the debugger's worst tensors."""
    from edgetl.tflite.auto_float import short

    rows = [{"tensor": short(e["tensor"]), "op": e.get("op"), "rmse_scale": e["rmse_scale"], "scale": e.get("scale"),
             "kept": "float" if e.get("kept") else "int8"} for e in selection.get("layer_error") or []]
    md = [f"- kept in float: {', '.join(short(n) for n in selection.get('keep_float') or []) or 'nothing'}"]
    md += [f"  - {r}" for r in selection.get("reasons") or []]
    if rows:
        md += ["", f"Quantization debugger, worst {len(rows)} of {selection.get('tensors_measured', len(rows))} tensors "
               f"(rmse/scale: RMS error in quantization steps; rounding alone 0.29, threshold {selection.get('threshold')}):", "",
               markdown_table([("tensor", "tensor"), ("op", "op"), ("rmse_scale", "rmse/scale"), ("scale", "scale"),
                               ("kept", "kept as")], rows)]
    return md


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
            md += [f"## int8 `--auto`: {r.get('file')}", ""] + error_table_markdown(r["auto_keep_float"]) + [""]
        elif (r.get("kept_float") or {}).get("keep_float"):
            md += [f"- {r.get('file')} keeps in float: " + ", ".join(short(n) for n in r["kept_float"]["keep_float"])]
            md += [f"  - {reason}" for reason in r["kept_float"].get("reasons") or []] + [""]
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
CLASS_COLUMNS = [("class", "class"), ("precision", "precision"), ("recall", "recall"), ("f1", "F1"),
                 ("support", "support")]


def write_report(run_dir: str | Path, recipe: dict, results: dict, stage_seconds: Optional[dict] = None) -> dict:
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
           f"accuracy **{fmt('accuracy', test.get('accuracy'))}**, loss {fmt('loss', test.get('loss'))}"
           + (f", precision {fmt('precision', test.get('precision'))}, recall {fmt('recall', test.get('recall'))}, "
              f"AUC {fmt('auc', test.get('auc'))}" if "auc" in test else ""), ""]
    if "auc" in test:
        md += [f"Binary decision: **{test.get('positive_class')}** when its probability >= "
               + ("0.5 (top class)" if test.get("threshold") is None else f"**{test['threshold']:.4f}**")
               + (f", chosen on the validation split for recall {train['decision']['target_recall']}"
                  if (train.get("decision") or {}).get("target_recall") else "") + ".", ""]
    md += [markdown_table(CLASS_COLUMNS, [{"class": k, **v} for k, v in test["per_class"].items()]), ""]
    if roc:
        md += [f"![ROC curve]({PLOTS['roc']})", ""]
    md += data_markdown(train.get("data") or read_metrics(run_dir).get("data") or {})
    md += ["## Training", "", f"![training curves]({PLOTS['training']})", "",
           f"![confusion matrix]({PLOTS['confusion']})", ""]
    if rows:
        budget = recipe.get("budget_ms")
        md += ["## Artifacts", "",
               f"Latency: batch 1, per thread count, median of interleaved runs in separate processes; "
               f"budget {budget} ms per frame.", "",
               markdown_table(ARTIFACT_COLUMNS, rows), ""]
        if pareto:
            md += [f"![latency vs accuracy]({PLOTS['pareto']})", "",
                   "Red points are the Pareto front: no other artifact is both faster and more accurate.", ""]
    md += measured_notes_markdown(results)
    comp = results.get("compare")
    if comp:
        md += ["## The seed's comparison table beside the measurement", "", compare_markdown(comp), ""]
    stages = stage_seconds or {}
    if stages:
        md += ["## Stage times", "", markdown_table([("stage", "stage"), ("seconds", "seconds")],
                                                    [{"stage": k, "seconds": v} for k, v in stages.items()]), ""]
    write_text(run_dir / "report.md", "\n".join(md) + "\n")
    return {"report": str(run_dir / "report.md"), "plots": {k: str(v) for k, v in made.items()}, "artifacts": rows}


