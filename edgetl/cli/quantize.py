"""`edgetl quantize`, `edgetl prune`, `edgetl convert`: thin click layers over quantize.py, prune.py, convert.py."""
from __future__ import annotations

import click

from edgetl.cli.common import console, emit_json, user_errors
from edgetl.progress import steps
from edgetl.config.params import click_options, params
from edgetl.config.stages import ConvertConfig, PruneConfig, QuantizeConfig
from edgetl.formats.registry import CONVERT_TARGETS, MODES, mode_help, parse_agreement, threshold_help

_KEEP_FLOAT = next(p for p in params(QuantizeConfig) if p.name == "keep_float")


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
@click_options(QuantizeConfig, only=("calibration_images", "io", "qat_epochs", "max_drop"))
@click.option("--keep-float", "keep_float", multiple=True, default=_KEEP_FLOAT.default, show_default=True,
              help=_KEEP_FLOAT.help)
@click.option("--auto", "auto", is_flag=True,
              help="int8 also keeps in float the worst tensors of TFLite's quantization debugger (rmse/scale > 0.7, "
                   "at most 5) beside the ops that cut the graph out of XNNPACK; prints what it chose and why "
                   "(rule: docs/quantize.md).")
@_common
@user_errors
def quantize_cmd(run_dir, modes, calibration_images, io, qat_epochs, max_drop, keep_float, auto, data, model,
                 min_agreement, parity_images, as_json):
    """Quantize a trained run to TFLite: RUN_DIR/model_<mode>.tflite + model_<mode>.json (its contract).

    \b
    Every file passes a parity gate (top-1 agreement with the Keras model on the run's validation
    images) or is not written. The table gives size, gzipped size, test accuracy and agreement.

    \b
    int8 and qat are the FAST int8 by default: an op XNNPACK has no int8 kernel for (MobileNetV3's
    HARD_SWISH) would cut the graph and make the file slower than float32, so it stays in float
    (--keep-float fallback); what was kept and why is printed and saved in the file's contract and
    gate.json. --keep-float none writes the plain int8 file.

    \b
    Examples:
      edgetl quantize runs/flowers --mode float32 --mode int8
      edgetl quantize runs/flowers --mode dynamic --mode float16 --mode int8 --mode qat --json
      edgetl quantize runs/flowers --mode int8 --io float32 --calibration-images 500
      edgetl quantize runs/flowers --mode int16x8          # int16 activations: when int8 loses too much accuracy
      edgetl quantize runs/v3 --mode int8                    # HARD_SWISH stays float: no int8 kernel in XNNPACK
      edgetl quantize runs/v3 --mode int8 --keep-float none  # the plain int8 file (slower than float32 here)
      edgetl quantize runs/v3 --mode int8 --keep-float fallback,MEAN   # the default plus MEAN
      edgetl quantize runs/v3 --mode int8 --auto        # also the debugger's worst tensors (accuracy)
      edgetl quantize runs/flowers --mode int8 --model model_pruned.keras      # after `edgetl prune`
      edgetl quantize runs/flowers --mode int8 --data /new/place/of/photos --min-agreement int8=0.9
    """
    from edgetl.cli.progress import progress_bar
    from edgetl.stages.quantize import quantize_run

    agreement = parse_agreement(min_agreement)
    with progress_bar() as progress:
        records = quantize_run(run_dir, list(modes), calibration_images=calibration_images, io=io, qat_epochs=qat_epochs,
                               data=data, agreement=agreement, parity_images=parity_images,
                               progress=steps(progress), model=model, keep_float=list(keep_float), auto=auto,
                               max_drop=max_drop)
    if as_json:
        emit_json(records)
    print_artifacts(records, f"edgetl quantize {run_dir}")
    for r in records:
        if r.get("auto_keep_float"):
            print_auto(r)
        elif r.get("kept_float"):
            print_kept(r)
        if (r.get("max_drop") or {}).get("steps"):
            print_max_drop(r)
    if any(r.get("kept_float") is not None for r in records):  # an int8 / qat file was written
        from edgetl.measure.sysinfo import collect, int8_note

        note = int8_note(collect())
        if note:
            console.print(f"[yellow]note:[/] {note} (no VNNI / AMX / dotprod / i8mm in this CPU's flags).")


def print_max_drop(record: dict) -> None:
    """The --max-drop steps: what went back into float, the drop and its interval at each step."""
    from edgetl.stages.auto_float import short

    md = record["max_drop"]
    for i, st in enumerate(md["steps"]):
        what = ", ".join(map(short, st["kept"])) or "the file as converted"
        if "error" in st:
            console.print(f"  --max-drop step {i}: {what}: not converted ({st['error']})")
            continue
        console.print(f"  --max-drop step {i}: {what}: drop {st['drop']:+.1f} points [{st['low']:+.1f}, "
                      f"{st['high']:+.1f}] on {st['n']} validation images{'  <- written' if i == md['best'] else ''}")
    console.print(("[green]" if md["verdict"] == "fits" else "[bold yellow]warning: ") + md["message"] + "[/]")


def print_kept(record: dict) -> None:
    """What an int8 file keeps in float and why (``keep_float.fast_int8``)."""
    from edgetl.stages.auto_float import short

    kept = record["kept_float"]
    console.print(f"{record['file']} keeps in float: {', '.join(map(short, kept['keep_float'])) or 'nothing'}")
    for reason in kept.get("reasons") or []:
        console.print(f"  - {reason}")


def print_auto(record: dict) -> None:
    """What --auto kept in float, why, and the quantization debugger's worst tensors."""
    from rich.table import Table

    from edgetl.stages.auto_float import short

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
@click_options(QuantizeConfig, only=("max_drop",))
@click.option("--data", default=None, help="The run's data folder, if it moved [default: the one in manifest.json].")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON to stdout.")
@user_errors
def prune_cmd(run_dir, sparsity, epochs, max_drop, data, as_json):
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
        r = prune_run(run_dir, sparsity=sparsity, epochs=epochs, data=data, max_drop=max_drop)
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
    md = r.get("max_drop") or {}
    if md.get("n"):
        t.add_row("validation drop from unpruned (95% interval)", f"{md['drop']:+.1f} [{md['low']:+.1f}, {md['high']:+.1f}] points")
    console.print(t)
    if r.get("max_drop_warning"):
        console.print(f"[bold yellow]warning:[/] {r['max_drop_warning']}")


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
