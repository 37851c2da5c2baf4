"""`edgetl run`: the whole road in one command; every recipe key is also a CLI option."""
from __future__ import annotations

import click

from edgetl.cli.common import emit_json, results_console, user_errors
from edgetl.pipeline.recipes import SCHEMA

_NOT_OPTIONS = ("name", "description", "data_help", "android")


def _recipe_options(fn):
    """One --option per recipe key (lists as comma-separated values); None means 'keep the recipe's value'."""
    for key in reversed([k for k in SCHEMA if k not in _NOT_OPTIONS]):
        spec = SCHEMA[key]
        flag = "--" + key.replace("_", "-")
        if spec.type is bool:
            fn = click.option(f"{flag}/--no-{key.replace('_', '-')}", key, default=None, help=spec.help)(fn)
        else:
            typ = str if spec.is_list else spec.type
            extra = " (comma-separated)" if spec.is_list else ""
            fn = click.option(flag, key, type=typ, default=None, help=spec.help + extra)(fn)
    return fn


@click.command("run")
@click.argument("recipe", required=False)
@click.option("--out", default=None, help="Run folder [default: runs/<recipe name>].")
@click.option("--force", is_flag=True, help="Redo every stage (and replace a different run in --out).")
@click.option("--android", "android", is_flag=True, default=None, help="Export to android_demo's assets at the end.")
@click.option("--until", type=click.Choice(["train", "prune", "quantize", "convert", "benchmark", "compare", "report"]),
              default=None, help="Stop after this stage.")
@click.option("--json", "as_json", is_flag=True, help="Print summary.json to stdout.")
@_recipe_options
@user_errors
def run_cmd(recipe, out, force, android, until, as_json, **overrides):
    """Train -> prune/quantize -> convert -> benchmark -> compare -> report, resumable.

    RECIPE is a YAML file or the name of one in models/ (default: digits_mobilenet_v2, the offline
    built-in: digits, MobileNetV2 alpha 0.35, float32/dynamic/float16/int8 TFLite + ONNX). Any recipe
    key can be overridden by its option. Rerunning skips unchanged stages.

    \b
    Examples:
      edgetl run                                     # offline default, -> runs/digits_mobilenet_v2
      edgetl run models/flowers_mobilenet_v2.yaml --data ~/flower_photos
      edgetl run flowers_mobilenet_v2 --data ../shared/data/flowers_small --weights-dir ../shared/weights/imagenet
      edgetl run --limit-images 20 --epochs 1 --out runs/quick
      edgetl run flowers_mobilenet_v2 --quantize float32,int8,qat --android
    """
    from edgetl.pipeline.runner import run_pipeline
    from edgetl.cli.progress import progress_bar
    from edgetl.pipeline.recipes import load_recipe, validate
    from rich.markup import escape

    base, source = load_recipe(recipe)
    raw = dict(base)
    for key, value in overrides.items():
        if value is None:
            continue
        if SCHEMA[key].is_list and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
            if SCHEMA[key].type is int:
                value = [_int(key, v) for v in value]
        raw[key] = value
    if android:
        raw["android"] = True
    cfg = validate(raw, source=source)
    _check_data(cfg)
    out = out or f"runs/{cfg['name']}"
    with progress_bar() as progress:
        summary = run_pipeline(cfg, out, force=force, progress=progress,
                               log=lambda m: progress.console.print(escape(m)), recipe_source=source, until=until)
    if as_json:
        emit_json(summary)
    _print_summary(summary, results_console(as_json))
    if summary.get("refused"):
        import sys

        click.echo(f"error: {len(summary['refused'])} artifact(s) not written: " + " | ".join(summary["refused"]), err=True)
        sys.exit(2)


def _int(key, v):
    try:
        return int(v)
    except ValueError as err:
        from edgetl.errors import EdgetlError

        raise EdgetlError(f"--{key.replace('_', '-')} takes comma-separated integers, got '{v}'") from err


def _check_data(cfg: dict) -> None:
    from pathlib import Path

    from edgetl.errors import EdgetlError

    src = cfg["data"]
    if src == "digits" or src.startswith("tfds:") or Path(src).expanduser().is_dir():
        return
    hint = f" {cfg['data_help'].strip()}" if cfg.get("data_help") else ""
    raise EdgetlError(f"data folder {src} not found.{hint} Pass --data DIR (one sub-folder per class).")


def _print_summary(summary: dict, console) -> None:
    from rich.table import Table

    t = Table(title=f"edgetl run -> {summary['out']}")
    for col in ("stage", "status", "seconds"):
        t.add_column(col)
    for name, st in summary["stages"].items():
        t.add_row(name, st["status"], f"{st.get('seconds', 0):.1f}" if st["status"] != "disabled" else "-")
    t.add_row("total", "", f"{summary['total_seconds']:.1f}")
    console.print(t)
    report = (summary["results"].get("report") or {}).get("report")
    if report:
        console.print(f"report: {report}")
