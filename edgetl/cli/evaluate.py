"""`edgetl evaluate` and `edgetl predict`: use a trained model on other data."""
from __future__ import annotations

import click

from edgetl.cli.common import console, emit_json, parse_threads, results_console, threads_option, user_errors
from edgetl.config.params import click_options, config_values
from edgetl.config.stages import EvaluateConfig, PredictConfig


@click.command("evaluate")
@click.argument("target", metavar="RUN_OR_ARTIFACT")
@click_options(EvaluateConfig)
@threads_option()
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON on stdout.")
@click.option("--wide", is_flag=True, help="Show the confusion matrix even when it is wider than the terminal.")
@user_errors
def evaluate_cmd(target, threads, as_json, wide, **options):
    """Accuracy, per-class precision/recall/F1 and the confusion matrix of a run or artifact on --data.

    RUN_OR_ARTIFACT is a run directory (its Keras model) or one artifact: .keras, any .tflite,
    .onnx. It runs through the artifact's own contract (size, normalisation, quantization,
    labels). For two classes it adds AUC (with its 95% bootstrap interval) and
    precision/recall of the positive class at the threshold.

    \b
    Examples:
      edgetl evaluate runs/digits_mobilenet_v2                          # the run's own test split
      edgetl evaluate runs/digits_mobilenet_v2/model_int8.tflite --data digits
      edgetl evaluate runs/flowers --data photos/                       # the run's own test split
      edgetl evaluate runs/flowers/model_int8.tflite --data new_photos/ --split all
      edgetl evaluate runs/antsbees/model.onnx --data hymenoptera_data/  # its val/ folder
      edgetl evaluate runs/xray/model_int8.tflite --data chest_xray/ --threshold 0.3 --json
    """
    from edgetl.cli.progress import progress_bar
    from edgetl.measure.evaluate import evaluate_artifact

    with progress_bar() as progress:
        m = evaluate_artifact(EvaluateConfig(target=target, threads=parse_threads(threads, many=False),
                                             **config_values(options)), progress=progress)
    if as_json:
        emit_json(m)
    _print_metrics(m, results_console(as_json), wide)


def _print_metrics(m: dict, console, wide: bool = False) -> None:
    from rich.table import Table

    from edgetl.metrics import with_interval

    labels = list(m["per_class"])
    console.print(f"[bold]{m['artifact']}[/] ({m['kind'] or m['runtime']}) on {m['n']} images: {m['images_from']}"
                  + (f"; [yellow]{m['skipped']} skipped[/]" if m["skipped"] else ""))
    lo, hi = m["accuracy_low"], m["accuracy_high"]
    console.print(f"accuracy {m['accuracy']:.4f} [{lo:.4f}, {hi:.4f}] (95% Wilson, n={m['n']})   loss {m['loss']:.4f}")
    if "auc" in m:  # one figure per line: a figure is never split across lines at 80 columns
        auc = "n/a (one class only)" if m["auc"] is None else f"{m['auc']:.4f}"
        if m.get("auc_low") is not None:
            auc += f" [{m['auc_low']:.4f}, {m['auc_high']:.4f}] (95% bootstrap)"
        at = "top class" if m["threshold"] is None else f"threshold {m['threshold']:.4f}"
        console.print(f"AUC {auc}")
        console.print(f"{m['positive_class']} at {at}:")
        console.print(f"  precision {with_interval(m['precision'], m.get('precision_low'), m.get('precision_high'))} "
                      f"(n={m.get('predicted', '?')} predicted)")
        console.print(f"  recall {with_interval(m['recall'], m.get('recall_low'), m.get('recall_high'))} "
                      f"(n={m['per_class'][m['positive_class']]['support']} true)")
    t = Table(title="per class (95% Wilson intervals)" + ("" if wide else "; --wide adds F1"))
    cols = ["class", "precision", "predicted", "recall", "support"] + (["F1"] if wide else [])
    for col in cols:
        t.add_column(col, no_wrap=True, justify="left" if col == "class" else "right")
    for name, r in m["per_class"].items():
        t.add_row(name, with_interval(r["precision"], r.get("precision_low"), r.get("precision_high")),
                  str(r.get("predicted", "-")), with_interval(r["recall"], r.get("recall_low"), r.get("recall_high")),
                  str(r["support"]),
                  *([f"{r['f1']:.3f}"] if wide else []))
    console.print(t)
    cells = max([len(str(v)) for row in m["confusion_matrix"] for v in row] + [1])
    heads = [max(min(len(name), 12), cells) for name in labels]
    need = max(map(len, labels)) + sum(heads) + 3 * (len(labels) + 1) + 1
    if need > console.width and not wide:
        console.print(f"confusion matrix: {len(labels)} x {len(labels)}, {need} columns wide: not shown at this width "
                      "(--wide shows it; --json has it)")
        return
    cm = Table(title="confusion matrix (rows: true, columns: predicted)")
    cm.add_column("", no_wrap=True)
    for name in labels:
        cm.add_column(name[:12], justify="right", no_wrap=True)
    for name, row in zip(labels, m["confusion_matrix"]):
        cm.add_row(name, *map(str, row))
    console.print(cm)


@click.command("predict")
@click.argument("artifact")
@click.argument("images", nargs=-1, metavar="[IMAGES_OR_FOLDERS]...")
@click_options(PredictConfig)
@threads_option()
@click.option("--json", "as_json", is_flag=True, help="Print the predictions as JSON on stdout.")
@user_errors
def predict_cmd(artifact, images, threads, as_json, **options):
    """Label and score of each image (files and/or folders, or the labelled images of --data) by one
    artifact, through its contract.

    \b
    Examples:
      edgetl predict runs/flowers/model_int8.tflite photo.jpg
      edgetl predict runs/flowers photos/ --top-k 5 --json
      edgetl predict runs/xray/model_int8.onnx scans/ --threshold 0.3
      edgetl predict runs/digits_mobilenet_v2/model_int8.tflite --data digits   # its test split, with true classes
    """
    from edgetl.cli.progress import progress_bar
    from edgetl.measure.evaluate import predict

    cfg = PredictConfig(artifact=artifact, images=list(images), threads=parse_threads(threads, many=False),
                        **config_values(options))
    with progress_bar() as progress:
        out = predict(cfg, progress=progress)
    if as_json:
        emit_json(out)
        return
    from rich.table import Table

    t = Table(title=f"{out['artifact']} ({out['kind'] or out['runtime']})"
              + (f", {out['decision']['positive_label']} from p >= {out['decision']['threshold']:.4f}"
                 if out["decision"] else ""))
    truth = "data" in out
    for col in ("image",) + (("true",) if truth else ()) + ("label", "score", f"top {cfg.top_k}"):
        t.add_column(col)
    for p in out["predictions"]:
        t.add_row(p["file"], *((p["true"],) if truth else ()), p["label"], f"{p['score']:.3f}",
                  ", ".join(f"{x['label']} {x['score']:.3f}" for x in p["top"]))
    results_console().print(t)
    if truth:
        right = sum(p["label"] == p["true"] for p in out["predictions"])
        results_console().print(f"{len(out['predictions'])} images: {out['images_from']}; "
                                f"{right} predicted as their true class")
    for s in out["skipped"]:
        console.print(f"[yellow]skipped {s}[/]")
