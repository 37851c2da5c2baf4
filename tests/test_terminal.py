"""Issue 20: a terminal that stays clean. Results on stdout, everything else on stderr; --json is one document."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import urllib.error

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import PROJECT
from edgetl.cli import main


def cli(*args, **kw):
    return CliRunner().invoke(main, [str(a) for a in args], **kw)


@pytest.mark.parametrize("cmd, needle", [("backbones", "mobilenet_v2"), ("recipes", "flowers_mobilenet_v2")])
def test_tables_go_to_stdout_so_redirects_and_grep_work(cmd, needle):
    r = cli(cmd)
    assert r.exit_code == 0, r.output
    assert needle in r.stdout and f"edgetl {cmd}" in r.stdout and needle not in r.stderr  # hints may go to stderr
    assert any(needle in line for line in r.stdout.splitlines())  # `| grep` finds it on one line


@pytest.mark.parametrize("cmd", ["backbones", "recipes"])
def test_json_is_the_whole_of_stdout(cmd):
    r = cli(cmd, "--json")
    assert r.exit_code == 0, r.output
    assert isinstance(json.loads(r.stdout), list)


def _env():
    return {**os.environ, "PYTHONPATH": str(PROJECT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def test_stray_stdout_writes_python_and_native_go_to_stderr_while_a_command_runs():
    """What a library prints (Keras's "Downloading data from ...") or native code writes to fd 1 never reaches stdout."""
    script = textwrap.dedent("""
        import os, click
        from edgetl.cli.common import emit_json, out, user_errors

        @click.command()
        @user_errors
        def cmd():
            print("Downloading data from https://example.invalid/w.h5")
            os.write(1, b"native noise on fd 1\\n")
            emit_json({"ok": 1})
            out.print("a table line")

        cmd()
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=_env(), timeout=60)
    assert r.returncode == 0, r.stderr
    doc, _, rest = r.stdout.partition("\n}\n")
    assert json.loads(doc + "\n}") == {"ok": 1} and rest.strip() == "a table line"
    assert "Downloading data from" in r.stderr and "Downloading" not in r.stdout and "native noise" not in r.stdout


def _keras_style_failure(url):
    """The exception chain tf_keras.utils.get_file raises offline: a bare Exception raised while handling URLError."""
    try:
        try:
            raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))
        except urllib.error.URLError as e:
            raise Exception(f"URL fetch failure on {url}: None -- {e.reason}")
    except Exception as e:
        return e


def test_a_failed_download_names_the_url_whole_the_reason_the_file_and_weights_dir(monkeypatch, capsys, tmp_path):
    from edgetl import _tf
    from edgetl.backbones import weights
    from edgetl.backbones.registry import get_backbone

    spec = get_backbone("mobilenet_v2")
    name = spec.weight_files(0.35, 96)[0]

    class FakeUtils:
        @staticmethod
        def get_file(fname, origin, cache_subdir):
            print(f"Downloading data from {origin}")
            raise _keras_style_failure(origin)

    class FakeKeras:
        utils = FakeUtils

    monkeypatch.setattr(_tf, "keras", lambda: FakeKeras)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.delenv(weights.WEIGHTS_DIR_ENV, raising=False)
    resolved = weights.resolve_weights(spec, 0.35, 96, "auto")
    captured = capsys.readouterr()
    assert captured.out == "" and "Downloading data from" in captured.err  # Keras's progress goes to stderr
    msg = resolved.warning
    assert resolved.path is None and spec.weights_url + name in msg  # the URL whole, not cut at 100 characters
    assert "Temporary failure in name resolution" in msg and "URL fetch failure" not in msg
    assert f"put {name} in" in msg and "--weights-dir" in msg and weights.WEIGHTS_DIR_ENV in msg
    assert "--weights none" in msg


def test_http_error_reason_reads_as_status():
    from edgetl.backbones.weights import _reason

    err = urllib.error.HTTPError("https://x/w.h5", 404, "Not Found", {}, None)
    assert _reason(err) == "HTTP 404 Not Found"


# --- tables at 80/100/120 columns: numbers and names whole, on one line -------------------------------------------

def _render(table, width):
    import io

    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None).print(table)
    return buf.getvalue()


def _bench_rows():
    names = ["model_float32.tflite", "model_dynamic.tflite", "model_float16.tflite", "model_int8.tflite",
             "model.onnx", "model_int8.onnx", "model.keras"]
    rows = []
    for i, name in enumerate(names):
        rows.append({"name": name, "runtime": "onnxruntime" if name.endswith("onnx") else "tflite", "threads": 1,
                     "init_ms": 149.04 + i, "first_ms": 12.34, "mean_ms": 49.04 + i, "std_ms": 0.1234,
                     "p50_ms": 49.04 + i, "p90_ms": 51.27, "p99_ms": 123.4, "fps": 20.4, "size_mb": 1.726,
                     "gzip_mb": 1.534, "peak_rss_mb": 143.2, "accuracy": 0.9504, "accuracy_n": 269, "macs": 58_000_000, "gmacs": 1.18,
                     "pct_peak": 12.0, "meets_budget": True})
    return rows


@pytest.mark.parametrize("width", [80, 100, 120])
def test_benchmark_table_fits_and_never_splits_a_number_or_a_name(width):
    from edgetl.report.tables import BENCH_COLUMNS, BENCH_DROP, _cells, rich_table

    rows = _bench_rows()
    text = _render(rich_table("edgetl benchmark", BENCH_COLUMNS, rows, width=width, drop=BENCH_DROP), width)
    lines = text.splitlines()
    assert max(len(ln) for ln in lines) <= width
    shown_headers = [h for k, h in BENCH_COLUMNS if h.split()[0] in text]
    assert "…" not in text
    for row in rows:
        line = next(ln for ln in lines if f" {row['name']} " in ln)  # the name whole, on its row's line
        for key in ("p50_ms", "size_mb", "accuracy"):  # always shown, whole on that same line
            assert _cells(row, [(key, key)])[0] in line, (key, line)
    assert "--wide" in text if width < 120 else True
    assert len(shown_headers) >= 5


def test_benchmark_table_wide_shows_every_column():
    from edgetl.report.tables import BENCH_COLUMNS, BENCH_DROP, rich_table

    text = _render(rich_table("edgetl benchmark", BENCH_COLUMNS, _bench_rows(), width=None, drop=BENCH_DROP), 400)
    assert all(h.split()[0] in text for _, h in BENCH_COLUMNS) and "not shown" not in text


@pytest.mark.parametrize("width", [80, 100, 120])
def test_quantize_table_keeps_file_format_agreement_and_gate_whole(width):
    from edgetl.cli.quantize import ARTIFACT_COLUMNS, ARTIFACT_DROP, artifact_rows
    from edgetl.report.tables import rich_table

    records = [{"file": f"model_{m}.tflite", "format": f"tflite:{m}", "input_dtype": "uint8", "output_dtype": "uint8",
                "size_mb": 0.532, "gzip_mb": 0.47, "accuracy": 0.9504, "accuracy_n": 269, "keras_accuracy": 0.9511, "agreement": 0.987,
                "agreement_low": 0.961, "agreement_high": 0.995, "parity_images": 225, "gate": gate,
                "max_abs_diff": 0.0123, "seconds": 12.3}
               for m, gate in (("float32", "pass"), ("int8", "inconclusive"), ("float16", "pass"))]
    records.append({"file": "model_qat.tflite", "format": "tflite:qat", "skipped": "needs training data"})
    text = _render(rich_table("edgetl quantize runs/x", ARTIFACT_COLUMNS, artifact_rows(records), width=width,
                              drop=ARTIFACT_DROP), width)
    lines = text.splitlines()
    assert max(len(ln) for ln in lines) <= width and "…" not in text
    for r in records[:3]:
        line = next(ln for ln in lines if f" {r['file']} " in ln)
        for cell in ("0.532", "95.0% [91.9-97.2]", "98.7%", r["gate"]) + ((r["format"],) if width >= 100 else ()):
            assert f" {cell} " in line, (cell, line)


@pytest.mark.parametrize("width", [80, 100, 120])
def test_recipes_and_backbones_names_are_never_broken(width, monkeypatch):
    from edgetl.backbones.registry import BACKBONES
    from edgetl.cli import common
    from edgetl.pipeline.recipes import list_recipes

    monkeypatch.setattr(common.out, "width", width)
    for cmd, names in (("recipes", [r["name"] for r in list_recipes()]), ("backbones", list(BACKBONES))):
        r = cli(cmd)
        assert r.exit_code == 0, r.output
        lines = r.stdout.splitlines()
        assert max(len(ln) for ln in lines) <= width
        for name in names:
            assert any(f" {name} " in ln for ln in lines), (cmd, name)


# --- library warnings: silenced unless --verbose -------------------------------------------------------------------

LEAKED = [  # verbatim from TensorFlow 2.21 (tensorflow/lite/python/interpreter.py and convert.py)
    "    Warning: tf.lite.Interpreter is deprecated and is scheduled for deletion in\n    TF 2.20. Please use the "
    "LiteRT interpreter from the ai_edge_litert package.\n",
    "Statistics for quantized inputs were expected, but not specified; continuing anyway.",
]


WARNING_SCRIPT = textwrap.dedent("""
    import sys, warnings, click
    from edgetl.cli.common import user_errors

    @click.command()
    @user_errors
    def cmd():
        for message in {leaked!r}:
            warnings.warn(message, UserWarning)
        warnings.warn("an edgetl-unknown library warning", UserWarning)

    cmd()
""").format(leaked=LEAKED)


def test_known_library_warnings_are_silenced_and_shown_with_verbose():
    env = {k: v for k, v in _env().items() if k not in ("EDGETL_VERBOSE", "PYTHONWARNINGS")}
    r = subprocess.run([sys.executable, "-c", WARNING_SCRIPT], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "tf.lite.Interpreter" not in r.stderr and "Statistics for quantized" not in r.stderr
    assert "an edgetl-unknown library warning" in r.stderr  # precise filters: an unknown warning still shows
    r = subprocess.run([sys.executable, "-c", WARNING_SCRIPT], capture_output=True, text=True,
                       env={**env, "EDGETL_VERBOSE": "1"}, timeout=60)
    assert "tf.lite.Interpreter is deprecated" in r.stderr and "Statistics for quantized" in r.stderr


@pytest.mark.slow
def test_run_json_until_train_with_weights_auto_prints_only_json_on_stdout(tmp_path):
    """The default path (--weights auto, no local weight file): Keras's download line must not precede the JSON."""
    env = {**_env(), "KERAS_HOME": str(tmp_path / "keras"), "EDGETL_WEIGHTS_DIR": ""}
    r = subprocess.run([sys.executable, "-m", "edgetl", "run", "--json", "--until", "train", "--out", tmp_path / "run",
                        "--limit-images", "6", "--input-size", "48", "--epochs", "1", "--fine-tune-epochs", "0"],
                       capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout)
    assert summary["stages"]["train"]["status"] == "ran"
    assert "Downloading data from" in r.stderr  # it tried (offline: then warned), on stderr
    assert "edgetl run" in r.stderr  # the summary table, on stderr beside --json


def test_benchmark_accuracy_on_the_runs_own_folder_scores_its_test_split_only(small_run, flowers, tmp_path):
    """`benchmark --data` on the folder the run was trained on: its test split, never its training images; any
    other folder: every image, and the row says which."""
    from conftest import make_subset
    from edgetl.formats.contract import Contract
    from edgetl.measure.bench_worker import select_scored

    out, result = small_run
    contract = Contract.load(out / "contract.json")
    sel = select_scored(str(flowers), contract, str(out / "model.keras"))
    assert sel.split == "test" and sel.own and len(sel) == result["data"]["test"]
    assert sel.images_from == result["data"]["test_from"]
    other = select_scored(str(make_subset(tmp_path / "copy")), contract, str(out / "model.keras"))
    assert other.split == "all" and len(other) > len(sel) and other.images_from.startswith("every image of")


@pytest.mark.parametrize("width, shown", [(40, False), (80, True)])
def test_evaluate_confusion_matrix_is_shown_whole_or_named_never_squeezed(width, shown):
    import io

    from rich.console import Console

    from edgetl.cli.evaluate import _print_metrics

    labels = [str(i) for i in range(10)]
    m = {"artifact": "m.tflite", "kind": "tflite:int8", "runtime": "tflite", "n": 270, "images_from": "the run's test split",
         "skipped": 0, "accuracy": 0.97, "accuracy_low": 0.942, "accuracy_high": 0.985, "loss": 0.16,
         "per_class": {c: {"precision": 0.9, "recall": 0.9, "f1": 0.9, "support": 27} for c in labels},
         "confusion_matrix": [[27 if i == j else 0 for j in range(10)] for i in range(10)]}
    buf = io.StringIO()
    _print_metrics(m, Console(file=buf, width=width, color_system=None))
    text = buf.getvalue()
    assert max(len(ln) for ln in text.splitlines()) <= width
    assert ("confusion matrix (rows: true" in text) is shown and ("--json has it" in text) is not shown
    assert "[0.9" in text and "n=270" in text  # the accuracy line carries its interval


def test_json_failure_is_still_one_json_document_on_stdout(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("hello")
    r = cli("benchmark", f, "--json")
    assert r.exit_code == 2 and "is not a model file" in r.stderr
    assert json.loads(r.stdout) == {"error": r.stderr.strip().removeprefix("error: "), "exit_code": 2}
    r = cli("benchmark", f)  # without --json, stdout stays empty
    assert r.exit_code == 2 and r.stdout == ""


@pytest.mark.parametrize("args", [["quantize", "{tmp}/nope"], ["evaluate", "{tmp}/nope"],
                                  ["train", "--data", "{tmp}/nope", "--out", "{tmp}/out"]])
def test_an_early_error_is_the_first_and_only_line_on_stderr(tmp_path, args):
    """A command that fails before its first step prints no blank line above its error (rich's Progress prints
    one on stop when stderr is not a terminal, even with nothing shown)."""
    from edgetl.cli import main

    r = CliRunner().invoke(main, [a.format(tmp=tmp_path) for a in args])
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, repr(r.stderr)


def test_train_summary_fits_80_columns_and_prints_paths_whole(monkeypatch):
    """The summary table fits 80 columns with a binary decision's rows; the weights file and the data folder
    come below it on lines of their own, never cut to "..." or folded mid-name."""
    import io

    from rich.console import Console

    import edgetl.cli.train as train_cli
    from edgetl.metrics import classification_metrics

    y = np.repeat([0, 1], [75, 75])
    p = np.clip(0.35 + 0.4 * y + np.random.default_rng(0).normal(0, 0.2, len(y)), 0, 1)
    test = classification_metrics(np.stack([1 - p, p], axis=1), y, ["NORMAL", "PNEUMONIA"], positive=1,
                                  threshold=0.2988)
    weights = "imagenet:/a/very/long/folder/of/shared/weights/imagenet-dequantized/mobilenet_1_0_224_tf_no_top.h5"
    data = "/a/very/long/folder/of/shared/data/chest_xray_kaggle224_with_a_longer_name_than_eighty_columns_allow"
    result = {"backbone": "mobilenet", "out": "runs/pneumonia_mobilenet", "pretrained": True, "weights_source": weights,
              "data": {"source": data, "classes": ["NORMAL", "PNEUMONIA"], "train": 256, "val": 44, "test": 150,
                       "skipped": 0, "test_from": "test/ folder"},
              "test": test, "params": 3229889, "train_seconds": 84.0}
    buf = io.StringIO()
    monkeypatch.setattr(train_cli, "results_console", lambda machine=False: Console(file=buf, width=80,
                                                                                    color_system=None))
    train_cli.print_train_summary(result)
    lines = buf.getvalue().splitlines()
    assert f"weights: {weights}" in lines and f"data: {data}" in lines
    assert all(len(ln) <= 80 for ln in lines if not ln.startswith(("weights: ", "data: ")))
    table = "\n".join(lines)
    assert "PNEUMONIA when its probability >= 0.2988" in table
    assert f"(95% Wilson, n={test['predicted']} predicted)" in table and "(95% Wilson, n=75 true)" in table
    assert "(95% bootstrap)" in table and "…" not in table
