"""The edgetl command line: a thin layer over the Python API (one module per command group)."""
from __future__ import annotations

import click

from edgetl import __version__
from edgetl.cli.bench import benchmark_cmd, compare_cmd
from edgetl.cli.export import export_group
from edgetl.cli.quantize import convert_cmd, prune_cmd, quantize_cmd
from edgetl.cli.run import run_cmd
from edgetl.cli.train import backbones_cmd, train_cmd


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="edgetl")
def main():
    """edgetl: from a folder of photos to a small, fast, accurate model on a phone.

    \b
    The road:  train -> prune/quantize -> convert -> benchmark/compare -> export android
    All at once: edgetl run              (offline default: digits, MobileNetV2 a=0.35)
    """


for _cmd in (backbones_cmd, train_cmd, prune_cmd, quantize_cmd, convert_cmd, benchmark_cmd, compare_cmd,
             run_cmd, export_group):
    main.add_command(_cmd)
