"""`edgetl quantize`, `edgetl prune`, `edgetl convert`: thin click layers over quantize.py, prune.py, convert.py."""
from __future__ import annotations

import click

from edgetl.cli.common import console, emit_json, user_errors
from edgetl.progress import steps
from edgetl.config.params import click_options
from edgetl.config.stages import ConvertConfig, PruneConfig, QuantizeConfig
from edgetl.formats.registry import CONVERT_TARGETS, MODES, mode_help, parse_agreement, threshold_help



def _fmt(v, spec):
    return "-" if v is None else format(v, spec)


def _interval(r: dict) -> str:
    if r.get("agreement_low") is None:
        return "-"
    return f"{r['agreement_low']:.1%}-{r['agreement_high']:.1%}"


def print_artifacts(records: list, title: str) -> None:
    from rich.table import Table

    t = Table(title=title)
    for col in ("file", "format", "io", "size MB", "gzip MB", "test acc", "keras acc", "agreement", "95% interval",
                "n", "gate", "max |dp|", "seconds"):
        t.add_column(col, justify="left" if col in ("file", "format", "io") else "right")
    for r in records:
        if "skipped" in r:
            t.add_row(r["file"], r["format"], *[""] * 11, end_section=False)
            t.add_row(f"  [yellow]skipped: {r['skipped']}[/]", *[""] * 12)
            continue
        io = f"{r.get('input_dtype', '?')}/{r.get('output_dtype', '?')}"
        t.add_row(r["file"], r["format"], io, _fmt(r.get("size_mb"), ".3f"), _fmt(r.get("gzip_mb"), ".3f"),
                  _fmt(r.get("accuracy"), ".3f"), _fmt(r.get("keras_accuracy"), ".3f"),
                  _fmt(r.get("agreement"), ".1%"), _interval(r), _fmt(r.get("parity_images"), "d"), r.get("gate") or "-",
                  _fmt(r.get("max_abs_diff"), ".2g"), _fmt(r.get("seconds"), ".1f"))
    console.print(t)
    for r in records:
        if r.get("gate_warning"):
            console.print(f"[yellow]warning:[/] {r['gate_warning']}")
    src = {r.get("parity_source") for r in records if r.get("parity_source")}
    if src:
        n = max(r.get("parity_images", 0) for r in records)
        console.print(f"parity gate: top-1 agreement with the Keras model on {n} images ({', '.join(sorted(src))}), "
                      "decided by its 95% Wilson interval (pass: lower bound >= threshold; refuse: upper bound < threshold; "
                      "else inconclusive, written with a warning); test acc on the run's test split; records in gate.json")


_COMMON = [
    click.option("--data", default=None, help="The run's data folder, if it moved [default: the one in manifest.json]."),
    click.option("--model", default=None,
                 help="Keras model to convert instead of RUN_DIR/model.keras, e.g. model_pruned.keras from `edgetl prune`; "
                      "artifacts are named after it (model_pruned_int8.tflite)."),
    click.option("--min-agreement", multiple=True,
                 help="Parity threshold (top-1 agreement with Keras): 0.97 for all, or MODE=0.9 / onnx:int8=0.9 "
                      f"[defaults: {threshold_help()}]."),
    click.option("--parity-images", type=int, default=None,
                 help="Validation images the parity gate compares on: a stratified seeded sample across classes "
                      "[default: the whole validation split up to 2000 images, else 1000]."),
    click.option("--json", "as_json", is_flag=True, help="Print the records as JSON to stdout."),
]


def _common(fn):
    for opt in reversed(_COMMON):
        fn = opt(fn)
    return fn


@click.command("quantize")
@click.argument("run_dir")
@click.option("--mode", "modes", multiple=True, type=click.Choice(MODES),
              help=mode_help())
@click_options(QuantizeConfig, only=("calibration_images", "io", "qat_epochs"))
@click.option("--keep-float", "keep_float", multiple=True,
              help="Ops (TFLite names in capitals, e.g. HARD_SWISH) or tensor names that int8 keeps in float, "
                   "comma-separated or repeated; find candidates with `edgetl benchmark --ops` (fallback ops).")
@click.option("--auto", "auto", is_flag=True,
              help="int8 also keeps in float the ops that fall back from XNNPACK in plain int8 and the worst tensors "
                   "of TFLite's quantization debugger (rmse/scale > 0.7, at most 5); prints what it chose and why "
                   "(rule: docs/quantize.md).")
@_common
@user_errors
def quantize_cmd(run_dir, modes, calibration_images, io, qat_epochs, keep_float, auto, data, model, min_agreement,
                 parity_images, as_json):
    """Quantize a trained run to TFLite: RUN_DIR/model_<mode>.tflite + model_<mode>.json (its contract).

    \b
    Every file passes a parity gate (top-1 agreement with the Keras model on the run's validation
    images) or is not written. The table gives size, gzipped size, test accuracy and agreement.

    \b
    Examples:
      edgetl quantize runs/flowers --mode float32 --mode int8
      edgetl quantize runs/flowers --mode dynamic --mode float16 --mode int8 --mode qat --json
      edgetl quantize runs/flowers --mode int8 --io float32 --calibration-images 500
      edgetl quantize runs/flowers --mode int16x8          # int16 activations: when int8 loses too much accuracy
      edgetl quantize runs/v3 --mode int8 --keep-float HARD_SWISH   # XNNPACK has no int8 hard-swish
      edgetl quantize runs/v3 --mode int8 --auto        # choose what stays in float from coverage + debugger
      edgetl quantize runs/flowers --mode int8 --model model_pruned.keras      # after `edgetl prune`
      edgetl quantize runs/flowers --mode int8 --data /new/place/of/photos --min-agreement int8=0.9
    """
    from edgetl.cli.progress import progress_bar
    from edgetl.stages.quantize import quantize_run

    agreement = parse_agreement(min_agreement)
    with progress_bar() as progress:
        records = quantize_run(run_dir, list(modes), calibration_images=calibration_images, io=io, qat_epochs=qat_epochs,
                               data=data, agreement=agreement, parity_images=parity_images,
                               progress=steps(progress), model=model, keep_float=list(keep_float), auto=auto)
    if as_json:
        emit_json(records)
    print_artifacts(records, f"edgetl quantize {run_dir}")
    for r in records:
        if r.get("auto_keep_float"):
            print_auto(r)


def print_auto(record: dict) -> None:
    """What --auto kept in float, why, and the quantization debugger's worst tensors."""
    from rich.table import Table

    from edgetl.tflite.auto_float import short

    sel = record["auto_keep_float"]
    console.print(f"--auto kept in float for {record['file']}: {', '.join(map(short, sel['keep_float'])) or 'nothing'}")
    for reason in sel["reasons"]:
        console.print(f"  - {reason}")
    t = Table(title=f"quantization debugger: worst {len(sel['layer_error'])} of {sel['tensors_measured']} tensors "
                    f"(rmse/scale in quantization steps; rounding alone 0.29; threshold {sel['threshold']})")
    for col in ("tensor", "op", "rmse/scale", "scale", "kept as"):
        t.add_column(col, justify="right" if col in ("rmse/scale", "scale") else "left")
    for e in sel["layer_error"]:
        t.add_row(short(e["tensor"]), str(e.get("op")), f"{e['rmse_scale']:.2f}", _fmt(e.get("scale"), ".3g"),
                  "float" if e.get("kept") else "int8")
    console.print(t)


@click.command("prune")
@click.argument("run_dir")
@click_options(PruneConfig)
@click.option("--data", default=None, help="The run's data folder, if it moved [default: the one in manifest.json].")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON to stdout.")
@user_errors
def prune_cmd(run_dir, sparsity, epochs, data, as_json):
    """Prune a trained run (TFMOT low-magnitude, polynomial schedule): RUN_DIR/model_pruned.keras.

    \b
    Zeros only shrink a file after compression: the report gives the sparsity reached and gzipped
    sizes. Quantize or convert the pruned model with --model model_pruned.keras.

    \b
    Examples:
      edgetl prune runs/flowers --sparsity 0.5 --epochs 2
      edgetl quantize runs/flowers --mode int8 --model model_pruned.keras
      edgetl convert runs/flowers --to onnx --model model_pruned.keras
    """
    from rich.table import Table

    from edgetl.stages.prune import prune_run

    with console.status("pruning (fine-tuning with the sparsity schedule)..."):
        r = prune_run(run_dir, sparsity=sparsity, epochs=epochs, data=data)
    if as_json:
        emit_json(r)
    t = Table(title=f"edgetl prune {run_dir} -> {r['file']}")
    t.add_column("")
    t.add_column("value", justify="right")
    t.add_row("sparsity (conv/dense kernels) / target", f"{r['sparsity']:.1%} / {r['sparsity_target']:.0%}")
    t.add_row("sparsity incl. depthwise (TFMOT keeps them dense)", f"{r['sparsity_all_kernels']:.1%}")
    t.add_row("gzipped .keras: pruned / unpruned MB", f"{r['gzip_mb']:.3f} / {r['unpruned_gzip_mb']:.3f}")
    t.add_row("gzipped float32 TFLite: pruned / unpruned MB", f"{r['tflite_gzip_mb']:.3f} / {r['unpruned_tflite_gzip_mb']:.3f}")
    t.add_row("test accuracy: pruned / unpruned", f"{_fmt(r['accuracy'], '.3f')} / {_fmt(r['keras_accuracy'], '.3f')}")
    t.add_row("seconds", f"{r['seconds']:.1f}")
    console.print(t)


@click.command("convert")
@click.argument("run_dir")
@click.option("--to", "targets", multiple=True, type=click.Choice(CONVERT_TARGETS),
              help="tflite (float32) and/or onnx (float + int8) [default: both].")
@click_options(ConvertConfig)
@click_options(QuantizeConfig, only=("calibration_images",))
@_common
@user_errors
def convert_cmd(run_dir, targets, opset, int8_method, calibration_images, data, model, min_agreement, parity_images,
                as_json):
    """Convert a trained run to float TFLite and ONNX (float + int8), each with its contract, behind the parity gate.

    \b
    Writes RUN_DIR/model_float32.tflite (+ .json), RUN_DIR/model.onnx and RUN_DIR/model_int8.onnx
    (contract in the ONNX metadata_props key 'edgetl_contract').

    \b
    Examples:
      edgetl convert runs/flowers
      edgetl convert runs/flowers --to onnx --opset 17 --json
      edgetl convert runs/flowers --to onnx --int8-method tflite     # from model_int8.tflite (edgetl quantize)
      edgetl convert runs/flowers --model model_pruned.keras
    """
    from edgetl.stages.convert import convert_run
    from edgetl.cli.progress import progress_bar

    agreement = parse_agreement(min_agreement)
    with progress_bar() as progress:
        records = convert_run(run_dir, list(targets) or list(CONVERT_TARGETS), opset=opset, data=data, agreement=agreement,
                              parity_images=parity_images, model=model, int8_method=int8_method,
                              calibration_images=calibration_images, progress=steps(progress))
    if as_json:
        emit_json(records)
    print_artifacts(records, f"edgetl convert {run_dir}")
