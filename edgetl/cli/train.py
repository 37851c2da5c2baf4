"""`edgetl backbones` and `edgetl train`."""
from __future__ import annotations

import click

from edgetl.cli.common import console, emit_json, out, results_console, user_errors
from edgetl.config.params import click_options
from edgetl.config.stages import TrainConfig  # every option's default, type, range and help (generated below)


@click.command("backbones")
@click.option("--json", "as_json", is_flag=True, help="Print the registry as JSON.")
@click.option("--wide", is_flag=True, help="Show every column [default: the columns that fit the terminal].")
@user_errors
def backbones_cmd(as_json, wide):
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

    rows, kinds = [], []  # kinds: the table's short form of where the ImageNet weights come from
    for spec in BACKBONES.values():
        kinds.append("keras file" if spec.weights_url else "keras files" if spec.parts else "FILE or random")
        rows.append({
            "name": spec.name, "family": spec.family, "default_size": spec.default_size, "min_size": spec.min_size,
            "alphas": list(spec.alphas) if spec.alphas else None,
            "params": spec.params, "depth": spec.weight_layers,
            "normalisation": {"mean": spec.mean, "std": spec.std, "channel_order": spec.channel_order},
            "imagenet_weights": (f"--weights-dir/${WEIGHTS_DIR_ENV}, ~/.keras/models, or download ({spec.weights_url})"
                                 if spec.weights_url else
                                 "each branch's own file: " + " + ".join(f"{n} {a}" for n, a in spec.parts)
                                 if spec.parts else "none public: --weights FILE or random"),
            "description": spec.description,
        })
    if as_json:
        emit_json(rows)
        return
    from edgetl.report.tables import show_table

    cells = [{"name": r["name"], "default_px": str(r["default_size"]), "min_px": str(r["min_size"]),
              "alphas": ",".join(map(str, r["alphas"])) if r["alphas"] else "-", "params_m": f"{r['params'] / 1e6:.1f}",
              "depth": str(r["depth"]), "description": kind} for r, kind in zip(rows, kinds)]
    show_table(out, "edgetl backbones", [("name", "backbone"), ("default_px", "default px"), ("min_px", "min px"),
                                         ("alphas", "alpha"), ("params_m", "params (M)"), ("depth", "depth"),
                                         ("description", "ImageNet weights")], cells, wide=wide, drop=("alphas",))



@click.command("train")
@click_options(TrainConfig)
@click.option("--force", is_flag=True, help="Replace what --out holds (a previous run: its artifacts are removed).")
@click.option("--json", "as_json", is_flag=True, help="Print metrics.json to stdout.")
@user_errors
def train_cmd(as_json, force, **kw):
    """Train a classifier by transfer learning: frozen-base feature extraction, then fine-tuning.

    \b
    Examples:
      edgetl train                                   # digits, MobileNetV2 1.0, ImageNet weights if available
      edgetl train --data photos/ --backbone mobilenet_v2 --alpha 0.35 --input-size 224 --out runs/flowers
      edgetl train --data ../shared/data/flowers_small --weights-dir ../shared/weights/imagenet \\
                   --backbone mobilenet_v2 --alpha 0.35 --out runs/flowers
      edgetl train --data xrays/ --backbone resnet50 --class-weights auto --unfreeze 32 --out runs/pneumonia
      edgetl train --data photos/ --out runs/flowers --force     # retrain in place; the old model's artifacts go
      edgetl train --data chest_xray/ --positive-class PNEUMONIA --target-recall 0.95 --out runs/pneumonia
      edgetl train --data dog-breed/train --labels-csv dog-breed/labels.csv --out runs/dogs
      edgetl train --data dogs/ --input-pipeline stream --cache-dir /data/edgetl-cache --out runs/dogs
      TF_CONFIG='{"cluster": {"worker": ["a:2222", "b:2222"]}, "task": {"type": "worker", "index": 0}}' \\
        edgetl train --data dogs/ --distribute multiworker --out runs/dogs      # same command on b, index 1
    """
    from edgetl.cli.progress import progress_bar
    from edgetl.stages.train import TrainConfig, train

    from rich.markup import escape

    cfg = TrainConfig(**kw)
    cfg.validate()  # a bad value is one line before any progress output
    with progress_bar() as progress:
        result = train(cfg, progress=progress, log=lambda m: console.print(f"[bold yellow]{escape(m)}[/]"), force=force)
    metrics = {k: v for k, v in result.items() if k not in ("history",)}
    if as_json:
        emit_json(metrics)
    print_train_summary(result, machine=as_json)


def print_train_summary(result: dict, machine: bool = False) -> None:
    from rich.table import Table

    t = Table(title=f"trained {result['backbone']} -> {result['out']}")
    t.add_column("")
    t.add_column("value")
    test = result["test"]
    # paths go below the table on lines of their own, so that a narrow terminal never cuts or folds one
    paths = [("weights", result["weights_source"])] if result["pretrained"] else []
    t.add_row("weights", f"{result['weights_source'].split(':', 1)[0]} (file below)" if result["pretrained"]
              else "[bold red]RANDOM initialisation[/]")
    d = result["data"]
    paths.append(("data", str(d["source"])))
    t.add_row("data", f"{len(d['classes'])} classes, train {d['train']} / val {d['val']} / test {d['test']}"
                      + (f", [yellow]{d['skipped']} skipped {d.get('skipped_reasons', '')}[/]" if d["skipped"] else ""))
    if result.get("selection"):
        t.add_row("kept", f"{result['selection']['kept']} ({result['selection']['reason']})")
    from edgetl.metrics import wilson_interval, with_interval

    n = test.get("n") or d["test"]
    lo, hi = wilson_interval(int(round(test["accuracy"] * n)), int(n)) if n else (None, None)
    t.add_row("test accuracy", f"{test['accuracy']:.3f}" + (f" [{lo:.3f}, {hi:.3f}] (95% Wilson, n={n})" if n else ""))
    t.add_row("test loss", f"{test['loss']:.3f}")
    if "auc" in test:
        pos = test.get("positive_class", "positive")
        t.add_row("decision", f"{pos} " + ("when it is the top class" if test.get("threshold") is None
                                           else f"when its probability >= {test['threshold']:.4f}"))
        t.add_row(f"{pos} precision",
                  f"{with_interval(test['precision'], test.get('precision_low'), test.get('precision_high'))} "
                  f"(95% Wilson, n={test.get('predicted', '?')} predicted)")
        t.add_row(f"{pos} recall",
                  f"{with_interval(test['recall'], test.get('recall_low'), test.get('recall_high'))} "
                  f"(95% Wilson, n={(test['per_class'].get(pos) or {}).get('support', '?')} true)")
        t.add_row("AUC", with_interval(test["auc"], test.get("auc_low"), test.get("auc_high"))
                  + (" (95% bootstrap)" if test.get("auc_low") is not None else ""))
    t.add_row("test figures from", str(d.get("test_from", "?")))
    t.add_row("params", f"{result['params']:,}")
    t.add_row("train time", f"{result['train_seconds']:.1f} s")
    from rich.markup import escape

    shown = results_console(machine)
    shown.print(t)
    for name, path in paths:
        shown.print(f"{name}: {escape(path)}", soft_wrap=True, highlight=False)
