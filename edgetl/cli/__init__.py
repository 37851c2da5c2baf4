"""The edgetl command line: a thin layer over the Python API (one module per command group)."""
from __future__ import annotations

import os

import click

from edgetl._version import __version__
from edgetl.cli.common import DEBUG_ENV, VERBOSE_ENV
from edgetl.cli.bench import benchmark_cmd, compare_cmd
from edgetl.cli.evaluate import evaluate_cmd, predict_cmd
from edgetl.cli.export import export_group
from edgetl.cli.inspect import inspect_cmd
from edgetl.cli.quantize import convert_cmd, prune_cmd, quantize_cmd
from edgetl.cli.recipes import recipes_cmd
from edgetl.cli.run import run_cmd
from edgetl.cli.search import search_cmd
from edgetl.cli.train import backbones_cmd, train_cmd


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="edgetl")
@click.option("--debug", is_flag=True, envvar=DEBUG_ENV,
              help=f"Show the full traceback (with its causes) behind an error. Also: {DEBUG_ENV}=1.")
@click.option("--verbose", is_flag=True, envvar=VERBOSE_ENV,
              help=f"Let TensorFlow, absl and ONNX Runtime print their own logs. Also: {VERBOSE_ENV}=1.")
def main(debug, verbose):
    """edgetl: from a folder of photos to a small, fast, accurate model on a phone.

    \b
    The road:  train -> prune/quantize -> convert -> benchmark/compare -> export android
    All at once: edgetl run              (offline default: digits, MobileNetV2 a=0.35)
    """
    # Environment variables, so that the commands' error boundary and their subprocesses see the switches too.
    if debug:
        os.environ[DEBUG_ENV] = "1"
    if verbose:
        os.environ[VERBOSE_ENV] = "1"
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"


for _cmd in (backbones_cmd, train_cmd, prune_cmd, quantize_cmd, convert_cmd, benchmark_cmd, compare_cmd,
             evaluate_cmd, predict_cmd, inspect_cmd, run_cmd, recipes_cmd, search_cmd, export_group):
    main.add_command(_cmd)

