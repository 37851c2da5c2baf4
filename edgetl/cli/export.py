"""`edgetl export ...`: hand a run's artifact to a device project (thin layer over edgetl.export.android)."""
from __future__ import annotations

from pathlib import Path

import click

from edgetl.cli.common import emit_json, results_console, user_errors
from edgetl.config.params import params
from edgetl.config.stages import ExportConfig
from edgetl.formats.registry import FORMATS

_ARTIFACT = next(p for p in params(ExportConfig) if p.name == "artifact")  # the recipe's android_artifact too


@click.group("export")
def export_group():
    """Export a trained, quantized model for a device app.

    \b
    Examples:
      edgetl export android runs/flowers                     # int8 -> android_demo/app/src/main/assets
      edgetl export android runs/flowers --artifact float16 --out assets/
    """


@export_group.command("android")
@click.argument("run_dir", metavar="RUN_DIR")
@click.option("--artifact", "artifacts", multiple=True, default=(_ARTIFACT.default,), show_default=True,
              help=f"Which TFLite artifact of the run: {', '.join(f.mode for f in FORMATS.values() if f.android)} "
                   "(the model_<name>.tflite files in RUN_DIR) or a .tflite path. Repeat it to ship several: "
                   "the first becomes model.tflite, the others keep their run file names (the app's model picker).")
@click.option("--out", "out", default=None, metavar="DIR",
              help="Assets folder to write [default: android_demo/app/src/main/assets when run from the edgetl "
                   "checkout, else RUN_DIR/android].")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON on stdout.")
@user_errors
def android_cmd(run_dir, artifacts, out, as_json):
    """Write model.tflite, labels.txt and model.json (the contract) for the Android demo app.

    The contract is checked against the model's real tensors (shape, dtype, scale/zero point,
    output units vs labels) before anything is written.

    \b
    Examples:
      edgetl export android runs/flowers
      edgetl export android runs/flowers --artifact float16 --out android_demo/app/src/main/assets
      edgetl export android runs/flowers --artifact int8 --artifact float32 --artifact float16
    """
    from edgetl.export.android import APP_ASSETS, export_android

    result = export_android(ExportConfig(run=run_dir, artifact=artifacts[0], out=out, also=list(artifacts[1:])))
    if as_json:
        emit_json(result)
        return
    console = results_console()
    inp = result["input"]
    q = f", scale {inp['scale']:.6g}, zero point {inp['zero_point']}" if "scale" in inp else ""
    console.print(f"[bold]exported[/bold] {result['artifact']} ({result['bytes'] / 1024:.0f} KiB) -> {result['out']}")
    console.print(f"  input {result['height']}x{result['width']} {inp['dtype']}{q}; "
                  f"{len(result['labels'])} labels; output {result['output']['dtype']}")
    console.print("  model.json checked against the real tensors of model.tflite")
    for extra in result["also"]:
        console.print(f"  also {extra['artifact']} ({extra['bytes'] / 1024:.0f} KiB): {', '.join(extra['files'])}")
    if Path(result["out"]).resolve() != APP_ASSETS.resolve():
        console.print(f"  next: copy the three files into {APP_ASSETS}/ (or pass --out {APP_ASSETS}), "
                      "then open android_demo/ in Android Studio")
