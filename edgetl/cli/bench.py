"""`edgetl benchmark` and `edgetl compare`, plus the table renderers both share (rich, markdown, CSV)."""
from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Optional

import click
from rich.markup import escape

from edgetl.cli.common import (console, emit_json, parse_threads, results_console, results_stream, threads_option,
                               user_errors)
from edgetl.config.params import click_options, config_values
from edgetl.config.stages import BenchmarkConfig, ComparisonConfig
from edgetl.errors import EdgetlError
from edgetl.report.tables import (BENCH_COLUMNS, BENCH_DROP, compare_columns, compare_markdown, comparison_rows,
                                  csv_table, markdown_table, measured_drop, measured_keys, show_table)

@contextlib.contextmanager
def live_progress():
    """A transient progress bar on a terminal; nothing in logs or pipes (stderr stays one line per error)."""
    if not console.is_terminal:
        yield None
        return
    from edgetl.cli.progress import progress_bar

    bar = progress_bar()
    bar.live.transient = True
    with bar:
        yield bar


def output_format(as_json: bool, as_csv: bool, as_markdown: bool) -> Optional[str]:
    chosen = [n for n, on in (("json", as_json), ("csv", as_csv), ("markdown", as_markdown)) if on]
    if len(chosen) > 1:
        raise EdgetlError(f"choose one output format, not {' and '.join('--' + c for c in chosen)}")
    return chosen[0] if chosen else None


WIDE_OPTION = click.option("--wide", is_flag=True,
                           help="Show every column of the table [default: the columns that fit the terminal].")


def _bench_options(fn):
    opts = [
        click_options(BenchmarkConfig, only=("runs", "min_seconds", "warmup", "rounds")),
        click.option("--json", "as_json", is_flag=True, help="Print JSON to stdout."),
        click.option("--csv", "as_csv", is_flag=True, help="Print CSV to stdout."),
        click.option("--markdown", "as_markdown", is_flag=True, help="Print a Markdown table to stdout."),
        WIDE_OPTION,
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


@click.command("benchmark")
@click.argument("artifacts", nargs=-1, required=True)
@threads_option(many=True, default="1")
@click.option("--data", type=click.Path(), default=None,
              help="Accuracy on DIR/<label>/*.jpg (each sub-folder named after one of the model's labels), or digits; "
                   "on the data a run was trained on, its test split only.")
@click.option("--labels", type=click.Path(), default=None, help="Labels file for a TFLite file without contract.")
@click_options(BenchmarkConfig, only=("budget_ms",))
@click.option("--xnnpack/--no-xnnpack", default=True, show_default=True, help="TFLite XNNPACK delegate.")
@click.option("--ops", "with_ops", is_flag=True,
              help="Also an op coverage table per .tflite/.onnx file: ops XNNPACK took vs fell back, partitions, "
                   "time share per op type (ONNX: onnxruntime's per-node profile).")
@_bench_options
@user_errors
def benchmark_cmd(artifacts, threads, data, labels, budget_ms, xnnpack, with_ops, runs, min_seconds, warmup, rounds,
                  as_json, as_csv, as_markdown, wide):
    """Measure latency (p50/p90/p99), init and first-run time, peak memory, size and accuracy of artifacts.

    \b
    ARTIFACT: .tflite (ai-edge-litert), .onnx (onnxruntime), .keras or a run directory (Keras
    tf.function, batch 1: the baseline), or the file of a runtime registered through EDGETL_RUNTIMES
    (docs/ARCHITECTURE.md, "The runtime registry"). A run directory expands to all artifacts in it.
    Each artifact x thread count runs in its own subprocess, in rounds interleaved across
    artifacts; a failed artifact gets a row "failed: reason", the others are still measured
    (exit code 2 at the end).

    \b
    Examples:
      edgetl benchmark runs/flowers                       # every artifact of a run
      edgetl benchmark model_int8.tflite model.onnx --threads 1,2,4 --json
      edgetl benchmark ../shared/models/coral/mobilenet_v2_1.0_224_quant.tflite --data photos/
      edgetl benchmark m.tflite --no-xnnpack --runs 200 --markdown
      edgetl benchmark runs/flowers/model_int8.tflite runs/flowers/model.onnx --ops
    """
    from edgetl.measure.bench import ROW_KEYS, benchmark, check_settings, expand_artifacts, failures
    from edgetl.measure.sysinfo import one_line

    fmt_name = output_format(as_json, as_csv, as_markdown)
    thread_list = check_settings(parse_threads(threads), runs, min_seconds, warmup, rounds, budget_ms)
    expanded = expand_artifacts(artifacts)
    if len(expanded) == 1 and expanded[0][1]:
        raise EdgetlError(expanded[0][1])  # a single bad artifact: one line, before any work
    with live_progress() as progress:
        cfg = BenchmarkConfig(threads=list(thread_list), runs=runs, min_seconds=min_seconds, warmup=warmup,
                              budget_ms=budget_ms, rounds=rounds)
        result = benchmark(list(artifacts), cfg, data=data, xnnpack=xnnpack, progress=progress, labels=labels,
                           ops=with_ops)
    rows = result["results"]
    failed = failures(result)
    if len(rows) == len(failed) and len({r["artifact"] for r in rows}) == 1:
        raise EdgetlError(rows[0]["error"].removeprefix("failed: "))  # a single bad artifact: one line
    s = result["settings"]
    res = results_console(fmt_name is not None)
    show_table(res, "edgetl benchmark", BENCH_COLUMNS, rows, wide=wide, drop=BENCH_DROP,
               caption=f"{one_line(result['system'])}\n{s['runs']}+ runs, {s['min_seconds']}+ s, {s['rounds']} rounds; "
                       f"budget {s['budget_ms']} ms; XNNPACK {'on' if s['xnnpack'] else 'off'}"
                       + peak_line(result.get("peak")))
    for where in sorted({r["accuracy_from"] for r in rows if r.get("accuracy_from")}):
        res.print(f"accuracy on {escape(where)}")
    for note in result.get("notes") or ():  # e.g. a dynamic-range file measured slower than float32
        res.print(f"[bold yellow]note:[/] {note}")
    if result.get("ops"):
        from edgetl.measure.ops import OPS_COLUMNS, table_row

        show_table(res, "op coverage (time share: each step cut out and timed alone; ONNX: onnxruntime profiler)",
                   OPS_COLUMNS, [table_row(p) for p in result["ops"]], wide=wide)
    emit(result, rows, fmt_name, BENCH_COLUMNS, ROW_KEYS)
    if fmt_name == "markdown" and result.get("notes"):
        click.echo("\n" + "\n".join(f"Note: {n}" for n in result["notes"]), file=results_stream)
    if fmt_name == "markdown" and result.get("ops"):
        from edgetl.measure.ops import OPS_COLUMNS, table_row

        click.echo("\n" + markdown_table(OPS_COLUMNS, [table_row(p) for p in result["ops"]]), file=results_stream)
    if failed:
        click.echo("error: " + "; ".join(failed), err=True)
        sys.exit(2)


def peak_line(machine_peak) -> str:
    """The caption's peak: GMAC/s = MACs / p50; % of peak against the one-core GEMM peak x threads."""
    if not machine_peak:
        return ""
    return (f"\nGMAC/s = MACs / p50; % of peak vs this machine's measured one-core GEMM peak x threads "
            f"(float32 {machine_peak['float32']:.1f}, int8 {machine_peak['int8']:.1f} GMAC/s; {machine_peak['method']})")


def emit(result: dict, rows, fmt_name, columns, keys) -> None:
    if fmt_name == "json":
        emit_json(result)
    elif fmt_name == "csv":
        click.echo(csv_table(rows, keys), nl=False, file=results_stream)
    elif fmt_name == "markdown":
        click.echo(markdown_table(columns, rows), file=results_stream)


def _reference_line(ref: Optional[dict]) -> Optional[str]:
    if not ref:
        return None
    if ref.get("ratio") is None:
        return f"reference: failed: {ref.get('error')}"
    return (f"reference: our int8 MobileNetV2 1.0 224 p50 {ref['ours_p50_ms']:.2f} ms ({ref['ours_mb']:.2f} MB) vs "
            f"Google's {Path(ref['google']).name} {ref['google_p50_ms']:.2f} ms ({ref['google_mb']:.2f} MB): "
            f"ratio {ref['ratio']:.3f}")


@click.command("compare")
@click_options(ComparisonConfig, only=("backbones", "input_size", "alpha"))
@threads_option(default="1", help="Threads for every runtime.")
@click_options(ComparisonConfig, only=("data", "weights_dir", "epochs", "reference", "workdir"))
@click.option("--plot", "plot_file", type=click.Path(), default=None, help="Write latency-vs-size (and accuracy) PNG.")
@click_options(ComparisonConfig, only=("formats",))
@_bench_options
@user_errors
def compare_cmd(threads, plot_file, as_json, as_csv, as_markdown, wide, **options):
    """The classic comparison table (AlexNet, VGG, ResNet, MobileNet), each row measured under it.

    \b
    The classic rows are the comparison table of edgetl's seed (the brief the project started
    from) as stated: depth and parameters of the original ImageNet classifiers (width 1.0, 224
    px). Under each, every backbone of its family as measured here, with its alpha and px: its
    classic ImageNet classifier (1000 classes, random weights: the parameter count Keras
    Applications reports) converted to float32 and int8 TFLite and ONNX and benchmarked.
    Depth counts layers with weights (conv, depthwise conv, dense), as the classic table does;
    a measured row whose depth or parameters (beyond 10%, at alpha 1.0) disagree is flagged.
    With --data (and --weights-dir) a transfer classifier is trained instead and its test
    accuracy is measured per artifact.

    \b
    Examples:
      edgetl compare                                           # 6 backbones at 224 px, 1 thread (slow: VGG)
      edgetl compare --backbones mobilenet,mobilenet_v2 --input-size 128 --markdown
      edgetl compare --backbones mobilenet_v2 --reference ../shared/models/coral/mobilenet_v2_1.0_224_quant.tflite
      edgetl compare --backbones mobilenet_v2 --alpha 0.35 --input-size 96 --formats tflite:int8,tflite:int16x8
      edgetl compare --backbones mobilenet_v2 --alpha 0.35 --data ../shared/data/flowers_small \\
          --weights-dir ../shared/weights/imagenet --plot compare.png
    """
    from edgetl.compare.compare import compare, plot
    from edgetl.measure.sysinfo import one_line

    fmt_name = output_format(as_json, as_csv, as_markdown)
    cfg = ComparisonConfig(threads=[parse_threads(threads, many=False)], **config_values(options))
    data = cfg.data
    if cfg.weights_dir and not data:
        raise EdgetlError("--weights-dir only matters with --data (a trained transfer classifier); add --data DIR")
    if plot_file:  # an output path is checked before the slow comparison, not after it
        from edgetl.fsutil import check_creatable

        check_creatable(plot_file, "--plot")
    with live_progress() as progress:
        result = compare(cfg, progress=progress)
    formats = result["settings"]["formats"]
    columns = compare_columns(result)
    res = results_console(fmt_name is not None)
    caption = result["classic_source"] + (f"\n{one_line(result['system'])}" if result.get("system") else "")
    show_table(res, f"classic rows as claimed, measured rows under them ({threads} thread(s), p50 of {cfg.runs}+ "
               "runs)", columns, comparison_rows(result), caption=caption, wide=wide,
               drop=measured_drop(columns))
    ref_line = _reference_line(result.get("reference"))
    if ref_line:
        res.print(ref_line)
    if plot_file:
        res.print(f"plot: {plot(result, plot_file)}")
    if fmt_name == "json":
        emit_json(result)
    elif fmt_name == "csv":
        click.echo(csv_table([{**r, "flags": "; ".join(r["flags"]), "errors": "; ".join(r["errors"])}
                              for r in result["measured"]], measured_keys(formats)), nl=False, file=results_stream)
    elif fmt_name == "markdown":
        click.echo(compare_markdown(result) + (f"\n\n{ref_line}" if ref_line else ""), file=results_stream)
    failed = [f"{r['backbone']}: {'; '.join(r['errors'])}" for r in result["measured"] if r["errors"]]
    if result.get("reference") and result["reference"].get("error"):
        failed.append(f"reference: {result['reference']['error']}")
    if failed:
        click.echo("error: " + " | ".join(failed), err=True)
        sys.exit(2)
