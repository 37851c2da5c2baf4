"""The edgetl command line: a thin layer over the Python API (one module per command group)."""
from __future__ import annotations

import click

from . import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="edgetl")
def main():
    """edgetl: from a folder of photos to a small, fast, accurate model on a phone.

    \b
    The road:  train -> prune/quantize -> convert -> benchmark/compare -> export android
    All at once: edgetl run              (offline default: digits, MobileNetV2 a=0.35)
    """


def _register():
    from .cli_train import backbones_cmd, train_cmd

    main.add_command(backbones_cmd)
    main.add_command(train_cmd)
    # Later stages register here: quantize/prune/convert, benchmark/compare, run, export.
    for module, names in _STAGE_COMMANDS:
        mod = __import__(f"edgetl.{module}", fromlist=names)
        for name in names:
            main.add_command(getattr(mod, name))


_STAGE_COMMANDS: list = [
    ("cli_quantize", ["quantize_cmd", "prune_cmd", "convert_cmd"]),
    ("cli_bench", ["benchmark_cmd", "compare_cmd"]),
    ("cli_export", ["export_group"]),
    ("cli_run", ["run_cmd"]),
]

_register()
