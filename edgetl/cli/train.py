"""`edgetl backbones` and `edgetl train`."""
from __future__ import annotations

import click

from edgetl.cli.common import console, emit_json, user_errors
from edgetl.stages.train import TrainConfig

D = TrainConfig()  # the one source of training defaults (CLI, recipes and API agree)


@click.command("backbones")
@click.option("--json", "as_json", is_flag=True, help="Print the registry as JSON.")
@user_errors
def backbones_cmd(as_json):
    """List the backbones with input sizes, parameters, depth and where their ImageNet weights come from.

    \b
    Parameters and depth are the backbone's own classic ImageNet classifier (1000 classes,
    default input size); depth counts weight layers (conv, depthwise conv, dense).

    \b
    Examples:
      edgetl backbones
      edgetl backbones --json
    """
    from edgetl.backbones.registry import BACKBONES
    from edgetl.backbones.weights import WEIGHTS_DIR_ENV

    rows = []
    for spec in BACKBONES.values():
        rows.append({
            "name": spec.name, "family": spec.family, "default_size": spec.default_size, "min_size": spec.min_size,
            "alphas": list(spec.alphas) if spec.alphas else None,
            "params": spec.params, "depth": spec.weight_layers,
            "normalisation": {"mean": spec.mean, "std": spec.std, "channel_order": spec.channel_order},
            "imagenet_weights": (f"--weights-dir/${WEIGHTS_DIR_ENV}, ~/.keras/models, or download ({spec.weights_url})"
                                 if spec.weights_url else "none public: --weights FILE or random"),
            "description": spec.description,
        })
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    t = Table(title="edgetl backbones")
    for col in ("backbone", "default px", "min px", "alpha", "params (M)", "depth", "ImageNet weights"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["name"], str(r["default_size"]), str(r["min_size"]),
                  ",".join(map(str, r["alphas"])) if r["alphas"] else "-", f"{r['params'] / 1e6:.1f}", str(r["depth"]),
                  "keras file" if r["imagenet_weights"].startswith("--") else "FILE or random")
    console.print(t)



@click.command("train")
@click.option("--data", default="digits", show_default=True,
              help="Folder with one sub-folder per class, or train/ + val/ (valid/, validation/) and/or test/ "
                   "split folders, or a flat image folder with --labels-csv; 'digits' (built-in, offline) or "
                   "tfds:NAME[:split]. See docs/data.md.")
@click.option("--labels-csv", default=D.labels_csv, type=click.Path(dir_okay=False),
              help="Kaggle-style CSV (id/file column, label column) naming the images in the flat --data folder; "
                   "ids may omit the extension.")
@click.option("--backbone", default="mobilenet_v2", show_default=True, help="See `edgetl backbones`.")
@click.option("--alpha", type=float, default=None, help="Width multiplier (mobilenet, mobilenet_v2 only).")
@click.option("--input-size", type=int, default=None, help="Square input size in px [default: the backbone's].")
@click.option("--weights", default="auto", show_default=True,
              help="auto (ImageNet if available, else random, loudly), imagenet, none, or a .h5 weights FILE.")
@click.option("--weights-dir", default=None, envvar="EDGETL_WEIGHTS_DIR",
              help="Folder with keras.applications weight files [env: EDGETL_WEIGHTS_DIR].")
@click.option("--epochs", type=int, default=D.epochs, show_default=True,
              help="Phase 1 (frozen base) epochs; early stopping on validation loss may end it sooner.")
@click.option("--fine-tune-epochs", type=int, default=D.fine_tune_epochs, show_default=True,
              help="Phase 2 epochs (0: skip).")
@click.option("--unfreeze", type=int, default=D.unfreeze, show_default=True,
              help="Top layers of the base unfrozen in phase 2.")
@click.option("--lr", type=float, default=D.lr, show_default=True, help="Phase 1 learning rate (Adam).")
@click.option("--fine-tune-lr", type=float, default=None, help="Phase 2 learning rate [default: lr/10].")
@click.option("--batch-size", type=int, default=D.batch_size, show_default=True)
@click.option("--dropout", type=float, default=D.dropout, show_default=True, help="Dropout before the new dense layer.")
@click.option("--patience", type=int, default=D.patience, show_default=True,
              help="Early stopping: epochs without a better validation loss.")
@click.option("--augment/--no-augment", default=False, show_default=True,
              help="Random flip/rotation/zoom/contrast. Off: phase 1 runs on cached base features (much faster).")
@click.option("--class-weights", type=click.Choice(["none", "auto"]), default="none", show_default=True,
              help="auto: balanced class weights for imbalanced data.")
@click.option("--positive-class", default=D.positive_class,
              help="Two classes: the class of interest for precision/recall and --target-recall "
                   "[default: the second in sorted order].")
@click.option("--target-recall", type=float, default=D.target_recall,
              help="Two classes: choose the decision threshold on the validation split to reach this recall of the "
                   "positive class (e.g. 0.95); stored in the run and every artifact's contract.")
@click.option("--val-ratio", type=float, default=D.val_ratio, show_default=True)
@click.option("--test-ratio", type=float, default=D.test_ratio, show_default=True)
@click.option("--limit-images", type=int, default=None, help="Use at most N images per class (quick trials).")
@click.option("--seed", type=int, default=D.seed, show_default=True)
@click.option("--out", default="runs/train", show_default=True, help="Run directory to write.")
@click.option("--input-pipeline", type=click.Choice(["auto", "memory", "stream"]), default=D.input_pipeline,
              show_default=True,
              help="memory: decode every image once into RAM; stream: tf.data reads and decodes batch by batch "
                   "(memory bounded by batch and buffers); auto: memory up to 1 GiB of decoded pixels, else stream. "
                   "Same split, same pixels either way.")
@click.option("--cache-dir", default=None, envvar="EDGETL_CACHE_DIR",
              help="Folder of the on-disk phase-1 feature cache, reused by later runs on the same data, backbone and "
                   "weights; 'none' keeps features in memory [default: $EDGETL_CACHE_DIR or ~/.cache/edgetl].")
@click.option("--distribute", type=click.Choice(["none", "mirrored", "multiworker"]), default=D.distribute,
              show_default=True,
              help="tf.distribute strategy: mirrored = local devices; multiworker = the machines in TF_CONFIG (run the "
                   "same command on each). --batch-size is per replica; learning rates scale with the replicas.")
@click.option("--distribute-timeout", type=float, default=D.distribute_timeout, show_default=True,
              help="Seconds a worker waits for the others before failing with an error (multiworker).")
@click.option("--force", is_flag=True, help="Replace what --out holds (a previous run: its artifacts are removed).")
@click.option("--json", "as_json", is_flag=True, help="Print metrics.json to stdout.")
@user_errors
def train_cmd(as_json, limit_images, force, **kw):
    """Train a classifier by transfer learning: frozen-base feature extraction, then fine-tuning.

    \b
    Examples:
      edgetl train                                   # digits, MobileNetV2 1.0, ImageNet weights if available
      edgetl train --data photos/ --backbone mobilenet_v2 --alpha 0.35 --input-size 224 --out runs/flowers
      edgetl train --data ../shared/data/flowers_small --weights-dir ../shared/weights/imagenet \\
                   --backbone mobilenet_v2 --alpha 0.35 --out runs/flowers
      edgetl train --data xrays/ --backbone resnet50 --class-weights auto --unfreeze 32 --out runs/pneumonia
      edgetl train --data chest_xray/ --positive-class PNEUMONIA --target-recall 0.95 --out runs/pneumonia
      edgetl train --data dog-breed/train --labels-csv dog-breed/labels.csv --out runs/dogs
      edgetl train --data dogs/ --input-pipeline stream --cache-dir /data/edgetl-cache --out runs/dogs
      TF_CONFIG='{"cluster": {"worker": ["a:2222", "b:2222"]}, "task": {"type": "worker", "index": 0}}' \\
        edgetl train --data dogs/ --distribute multiworker --out runs/dogs      # same command on b, index 1
    """
    from edgetl.cli.progress import progress_bar
    from edgetl.stages.train import TrainConfig, train

    cfg = TrainConfig(limit_per_class=limit_images, **kw)
    with progress_bar() as progress:
        result = train(cfg, progress=progress, log=lambda m: console.print(f"[bold yellow]{m}[/]"), force=force)
    metrics = {k: v for k, v in result.items() if k not in ("history",)}
    if as_json:
        emit_json(metrics)
    print_train_summary(result)


def print_train_summary(result: dict) -> None:
    from rich.table import Table

    t = Table(title=f"trained {result['backbone']} -> {result['out']}")
    t.add_column("")
    t.add_column("value")
    test = result["test"]
    t.add_row("weights", result["weights_source"] if result["pretrained"] else "[bold red]RANDOM initialisation[/]")
    d = result["data"]
    t.add_row("data", f"{d['source']}: {len(d['classes'])} classes, train {d['train']} / val {d['val']} / test {d['test']}"
                      + (f", [yellow]{d['skipped']} skipped {d.get('skipped_reasons', '')}[/]" if d["skipped"] else ""))
    if result.get("selection"):
        t.add_row("kept", f"{result['selection']['kept']} ({result['selection']['reason']})")
    t.add_row("test accuracy", f"{test['accuracy']:.3f}")
    t.add_row("test loss", f"{test['loss']:.3f}")
    if "auc" in test:
        at = "argmax" if test.get("threshold") is None else f"threshold {test['threshold']:.4f}"
        t.add_row(f"{test.get('positive_class', 'positive')}: precision / recall ({at}) / AUC",
                  f"{test['precision']:.3f} / {test['recall']:.3f} / "
                  f"{test['auc'] if test['auc'] is None else round(test['auc'], 3)}")
    t.add_row("test figures from", str(d.get("test_from", "?")))
    t.add_row("params", f"{result['params']:,}")
    t.add_row("train time", f"{result['train_seconds']:.1f} s")
    console.print(t)
