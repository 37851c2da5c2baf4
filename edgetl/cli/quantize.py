"""`edgetl quantize`, `edgetl prune`, `edgetl convert`: thin click layers over quantize.py, prune.py, convert.py."""
from __future__ import annotations

import click

from rich.markup import escape

from edgetl.cli.common import console, emit_json, results_console, user_errors
from edgetl.progress import steps
from edgetl.config.params import click_options, config_values, params
from edgetl.config.stages import ConvertConfig, PruneConfig, QuantizeConfig
from edgetl.formats.registry import CONVERT_TARGETS, MODES, mode_help, parse_agreement

_KEEP_FLOAT = next(p for p in params(QuantizeConfig) if p.name == "keep_float")


def _fmt(v, spec):
    return "-" if v is None else format(v, spec)


def _interval(r: dict) -> str:
    if r.get("agreement_low") is None:
        return "-"
    return f"{r['agreement_low']:.1%}-{r['agreement_high']:.1%}"


ARTIFACT_COLUMNS = [("file", "file"), ("format", "format"), ("io", "io"), ("size_mb", "size MB"),
                    ("gzip_mb", "gzip MB"), ("test_acc", "test acc [95%]"), ("keras_acc", "keras acc"),
                    ("agreement", "agreement"), ("interval", "95% interval"), ("n", "n"), ("gate", "gate"),
                    ("max_dp", "max |dp|"), ("seconds", "seconds")]
# Left out first when the table must fit a narrow terminal; file, size, accuracy, agreement and gate stay.
ARTIFACT_DROP = ("seconds", "max_dp", "gzip_mb", "keras_acc", "io", "n", "interval", "format")


def artifact_rows(records: list) -> list:
    """The quantize/convert table's cells, formatted (a skipped file: its name, format and "skipped")."""
    from edgetl.report.tables import _cell
    rows = []
    for r in records:
        if "skipped" in r:
            rows.append({"file": r["file"], "format": r["format"], "gate": "skipped"})
            continue
        rows.append({"file": r["file"], "format": r["format"],
                     "io": f"{r.get('input_dtype', '?')}/{r.get('output_dtype', '?')}",
                     "size_mb": _fmt(r.get("size_mb"), ".3f"), "gzip_mb": _fmt(r.get("gzip_mb"), ".3f"),
                     "test_acc": _cell({"accuracy": r.get("accuracy"), "accuracy_n": r.get("accuracy_n")}, "accuracy"),
                     "keras_acc": _fmt(r.get("keras_accuracy"), ".3f"),
                     "agreement": _fmt(r.get("agreement"), ".1%"), "interval": _interval(r),
                     "n": _fmt(r.get("parity_images"), "d"), "gate": r.get("gate") or "-",
                     "max_dp": _fmt(r.get("max_abs_diff"), ".2g"), "seconds": _fmt(r.get("seconds"), ".1f")})
    return rows


def print_artifacts(records: list, title: str, machine: bool = False, wide: bool = False) -> None:
    from edgetl.report.tables import show_table

    res = results_console(machine)
    show_table(res, title, ARTIFACT_COLUMNS, artifact_rows(records), wide=wide, drop=ARTIFACT_DROP)
    for r in records:
        if "skipped" in r:
            console.print(f"[yellow]skipped[/] {r['file']} ({r['format']}): {escape(str(r['skipped']))}")
    for r in records:
        if r.get("gate_warning"):
            console.print(f"[yellow]warning:[/] {escape(r['gate_warning'])}")
    src = {r.get("parity_source") for r in records if r.get("parity_source")}
    if src:
        n = max(r.get("parity_images", 0) for r in records)
        res.print(f"parity gate: top-1 agreement with the Keras model on {n} images ({', '.join(sorted(src))}), "
                      "decided by its 95% Wilson interval (pass: lower bound >= threshold; refuse: upper bound < threshold; "
                      "else inconclusive, written with a warning); test acc on the run's test split; records in gate.json")


_COMMON = [
    click.option("--json", "as_json", is_flag=True, help="Print the records as JSON to stdout."),
    click.option("--wide", is_flag=True, help="Show every column of the table [default: the columns that fit the terminal]."),
]


def _common(fn):
    for opt in reversed(_COMMON):
        fn = opt(fn)
    return fn


@click.command("quantize")
@click.argument("run_dir")
@click.option("--mode", "modes", multiple=True, type=click.Choice(MODES),
              help=mode_help())
@click_options(QuantizeConfig, skip=("modes", "keep_float", "auto_keep_float"))  # those three: by hand, below
@click.option("--keep-float", "keep_float", multiple=True, default=_KEEP_FLOAT.default, show_default=True,
              help=_KEEP_FLOAT.help)
@click.option("--auto", "auto", is_flag=True,
              help="int8 also keeps in float the worst tensors of TFLite's quantization debugger (rmse/scale > 0.7, "
                   "at most 5) beside the ops that cut the graph out of XNNPACK; prints what it chose and why "
                   "(rule: docs/quantize.md).")
@_common
@user_errors
def quantize_cmd(run_dir, modes, keep_float, auto, as_json, wide, **options):
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

    cfg = QuantizeConfig(run=run_dir, modes=list(modes), keep_float=list(keep_float), auto_keep_float=auto,
                         **config_values(options))  # every generated option is a QuantizeConfig field
    parse_agreement(cfg.min_agreement)  # a bad threshold fails before the run is opened
    with progress_bar() as progress:
        records = quantize_run(cfg, progress=steps(progress))
    if as_json:
        emit_json(records)
    print_artifacts(records, f"edgetl quantize {run_dir}", machine=as_json, wide=wide)
    for r in records:
        if r.get("auto_keep_float"):
            print_auto(r, results_console(as_json))  # with the per-layer error table
        else:
            if r.get("kept_float"):
                print_kept(r)
            if r.get("layer_error"):
                print_layer_error(r, results_console(as_json))
        if (r.get("max_drop") or {}).get("steps"):
            print_max_drop(r)
    if any(r.get("kept_float") is not None for r in records):  # an int8 / qat file was written
        from edgetl.measure.sysinfo import collect, int8_note

        note = int8_note(collect())
        if note:
            console.print(f"[yellow]note:[/] {note} (no VNNI / AMX / dotprod / i8mm in this CPU's flags).")


def print_max_drop(record: dict) -> None:
    """The --max-drop steps: what went back into float, the drop and its interval at each step."""
    from edgetl.tflite.auto_float import short

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
    from edgetl.tflite.auto_float import short

    kept = record["kept_float"]
    console.print(f"{record['file']} keeps in float: {', '.join(map(short, kept['keep_float'])) or 'nothing'}")
    for reason in kept.get("reasons") or []:
        console.print(f"  - {reason}")


def print_auto(record: dict, console) -> None:
    """What --auto kept in float, why, and the quantization debugger's worst tensors."""
    from edgetl.tflite.auto_float import short

    sel = record["auto_keep_float"]
    console.print(f"--auto kept in float for {record['file']}: {', '.join(map(short, sel['keep_float'])) or 'nothing'}")
    for reason in sel["reasons"]:
        console.print(f"  - {reason}")
    table = record.get("layer_error") or {"rows": sel["layer_error"], "tensors_measured": sel["tensors_measured"],
                                           "threshold": sel["threshold"]}
    console.print(layer_error_table(table))


def print_layer_error(record: dict, console) -> None:
    """An int8/qat file's per-layer error table (every such file has one; ``auto_float.Debugged.record``)."""
    table = record["layer_error"]
    if table.get("error"):
        console.print(f"{record['file']}: per-layer error not measured ({table['error']})")
    elif table.get("rows"):
        console.print(layer_error_table(table, record["file"]))


def layer_error_table(table: dict, file: str = ""):
    """The quantization debugger's worst tensors as a rich Table (quantize and inspect print it)."""
    from rich.table import Table

    from edgetl.tflite.auto_float import short

    on = f" on {table['images']} images" if table.get("images") else ""
    by = "against the float twin" if table.get("method") == "float twin" else "quantization debugger"
    t = Table(title=f"{file + ': ' if file else ''}{by}{on}: worst {len(table['rows'])} of "
                    f"{table['tensors_measured']} tensors (rmse/scale in quantization steps; rounding alone 0.29; "
                    f"threshold {table['threshold']})")
    for col in ("tensor", "op", "rmse/scale", "scale", "kept as"):
        t.add_column(col, justify="right" if col in ("rmse/scale", "scale") else "left")
    for e in table["rows"]:
        t.add_row(short(e["tensor"]), str(e.get("op")), f"{e['rmse_scale']:.2f}", _fmt(e.get("scale"), ".3g"),
                  "float" if e.get("kept") else "int8")
    return t


@click.command("prune")
@click.argument("run_dir")
@click_options(PruneConfig)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON to stdout.")
@user_errors
def prune_cmd(run_dir, as_json, **options):
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
        r = prune_run(PruneConfig(run=run_dir, **config_values(options)))
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
    results_console(as_json).print(t)
    if r.get("max_drop_warning"):
        console.print(f"[bold yellow]warning:[/] {r['max_drop_warning']}")


@click.command("convert")
@click.argument("run_dir")
@click.option("--to", "targets", multiple=True, type=click.Choice(CONVERT_TARGETS),
              help="tflite (float32) and/or onnx (float + int8) [default: both].")
@click_options(ConvertConfig)
@_common
@user_errors
def convert_cmd(run_dir, targets, as_json, wide, **options):
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

    cfg = ConvertConfig(run=run_dir, to=list(targets) or list(CONVERT_TARGETS), **config_values(options))
    parse_agreement(cfg.min_agreement)  # a bad threshold fails before the run is opened
    with progress_bar() as progress:
        records = convert_run(cfg, progress=steps(progress))
    if as_json:
        emit_json(records)
    print_artifacts(records, f"edgetl convert {run_dir}", machine=as_json, wide=wide)
