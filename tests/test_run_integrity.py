"""Run integrity: a run folder is never overwritten, mixed, damaged or raced without a clear error (fast tier).

The runs here are fakes (a contract, a manifest and placeholder model bytes): every check under
test happens before any model is loaded, so no TensorFlow is needed.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgetl.cli import main
from edgetl.formats.contract import Contract


def run_cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_line_exit_2(r, *needles):
    assert r.exit_code == 2, (r.exit_code, r.output, r.exception)
    err = r.output.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for n in needles:
        assert n in err, (n, err)
    return err


def fake_run(path: Path, model_bytes: bytes = b"model-v1") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    c = Contract(labels=["a", "b", "c"], height=32, width=32, artifact="keras", output_units=3)
    (path / "contract.json").write_text(c.to_json())
    (path / "labels.txt").write_text("a\nb\nc\n")
    (path / "manifest.json").write_text(json.dumps({"edgetl_run": 1, "data": {"options": {
        "source": "digits", "val_ratio": 0.15, "test_ratio": 0.15, "seed": 42, "limit_per_class": None}}}))
    (path / "model.keras").write_bytes(model_bytes)
    return path


def fake_tflite(run: Path, name: str, source: dict | None) -> Path:
    """An artifact file plus its contract sidecar recording ``source`` as the model it came from."""
    c = Contract.load(run / "contract.json").replace(artifact="tflite:int8", source_model=source)
    (run / f"{name}.tflite").write_bytes(b"not really a tflite file")
    (run / f"{name}.json").write_text(c.to_json())
    return run / f"{name}.tflite"


# ---- train --out --------------------------------------------------------------------------------

def test_train_refuses_a_non_empty_out_folder_without_force(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "metrics.json").write_text('{"mine": true}')
    err = assert_one_line_exit_2(run_cli("train", "--out", mine, "--epochs", "1"), str(mine), "--force")
    assert (mine / "metrics.json").read_text() == '{"mine": true}'
    assert "not empty" in err or "already holds" in err


@pytest.mark.parametrize("args", [
    ["--data", "no/such/folder"],
    ["--val-ratio", "0.5", "--test-ratio", "0.5"],
    ["--limit-images", "-3"],
    ["--limit-images", "0"],
])
def test_a_late_check_leaves_no_out_folder(tmp_path, args):
    out = tmp_path / "new_run"
    assert_one_line_exit_2(run_cli("train", *args, "--out", out, "--epochs", "1"))
    assert not out.exists()


def test_negative_limit_names_the_option_not_corrupt_images(tmp_path):
    err = assert_one_line_exit_2(run_cli("train", "--limit-images", "-3", "--out", tmp_path / "o"))
    assert "--limit-images" in err and "corrupt" not in err


# ---- malformed run files ----------------------------------------------------------------------------

@pytest.mark.parametrize("name,text,needle", [
    ("manifest.json", "{not json", "manifest.json"),
    ("manifest.json", "[1, 2]", "manifest.json"),
    ("manifest.json", '{"data": 5}', "manifest.json"),
    ("manifest.json", '{"data": {"options": {"source": "digits", "val_ratio": "x"}}}', "manifest.json"),
    ("contract.json", "{not json", "contract.json"),
    ("contract.json", '{"format": "edgetl-contract/1", "labels": 3}', "contract.json"),
])
@pytest.mark.parametrize("command", [["quantize", "--mode", "float32"], ["convert"], ["prune"]])
def test_malformed_run_files_are_one_line_exit_2(tmp_path, name, text, needle, command):
    run = fake_run(tmp_path / "run")
    (run / name).write_text(text)
    assert_one_line_exit_2(run_cli(command[0], run, *command[1:]), needle)


@pytest.mark.parametrize("text", ["{not json", "[]", '{"identity": 3, "stages": []}'])
def test_malformed_stages_json_is_one_line_exit_2(tmp_path, text):
    out = tmp_path / "run"
    out.mkdir()
    (out / "stages.json").write_text(text)
    assert_one_line_exit_2(run_cli("run", "--out", out, "--until", "train"), "stages.json", "--force")


# ---- recipes ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_an_empty_recipe_is_refused(tmp_path, text):
    from edgetl.errors import EdgetlError
    from edgetl.pipeline.recipes import load_recipe

    p = tmp_path / "empty.yaml"
    p.write_text(text)
    with pytest.raises(EdgetlError, match="empty"):
        load_recipe(p)


# ---- compare output paths ----------------------------------------------------------------------

@pytest.mark.parametrize("option", ["--plot", "--workdir"])
def test_compare_checks_output_paths_before_the_slow_work(tmp_path, monkeypatch, option):
    import edgetl.backbones.registry as registry

    def no_work(*a, **k):
        raise AssertionError("the slow work started before the output paths were checked")

    monkeypatch.setattr(registry, "build_imagenet_classifier", no_work)
    for mod in list(sys.modules.values()):
        if getattr(mod, "__name__", "").startswith("edgetl.compare.") and hasattr(mod, "build_imagenet_classifier"):
            monkeypatch.setattr(mod, "build_imagenet_classifier", no_work)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    target = blocker / ("plot.png" if option == "--plot" else "work")
    r = run_cli("compare", "--backbones", "mobilenet", "--input-size", "32", option, target)
    assert_one_line_exit_2(r, option)


# ---- artifacts record the model they came from ------------------------------------------------------

def test_a_stale_artifact_is_refused_by_benchmark_and_export_and_removed_on_retrain(tmp_path):
    from edgetl.measure.bench import expand_artifacts
    from edgetl.rundir import RunDir, file_sha256

    run = fake_run(tmp_path / "run")
    fresh = fake_tflite(run, "model_int8", RunDir(run).provenance(run / "model.keras"))
    assert RunDir(run).stale_reason(fresh) is None
    (run / "model.keras").write_bytes(b"model-v2: retrained")
    old = {"file": "model.keras", "sha256": file_sha256(run / "model.keras")[:-4] + "0000"}
    stale = fake_tflite(run, "model_dynamic", old)
    unrecorded = fake_tflite(run, "model_float16", None)

    reasons = dict(expand_artifacts([run]))
    for p in (fresh, stale, unrecorded):
        assert reasons[p] and "model.keras" in reasons[p] and "re-run" in reasons[p], reasons[p]
    err = assert_one_line_exit_2(run_cli("export", "android", run, "--artifact", "dynamic", "--out", tmp_path / "a"),
                                 "model_dynamic.tflite", "model.keras")
    assert not (tmp_path / "a").exists(), err

    removed = RunDir(run).remove_stale()
    assert sorted(Path(p).name for p in removed) == sorted(
        f"{n}.{s}" for n in ("model_int8", "model_dynamic", "model_float16") for s in ("tflite", "json"))
    assert sorted(p.name for p in run.iterdir() if not p.name.startswith(".")) == \
        ["contract.json", "labels.txt", "manifest.json", "model.keras"]


def test_a_pruned_model_and_its_artifacts_go_stale_with_the_model(tmp_path):
    from edgetl.rundir import RunDir

    run = fake_run(tmp_path / "run")
    rd = RunDir(run)
    (run / "model_pruned.keras").write_bytes(b"pruned-v1")
    rd.record_source(run / "model_pruned.keras", run / "model.keras")
    art = fake_tflite(run, "model_pruned_int8", rd.provenance(run / "model_pruned.keras"))
    assert rd.stale_reason(run / "model_pruned.keras") is None and rd.stale_reason(art) is None
    (run / "model.keras").write_bytes(b"model-v2")
    assert "model.keras" in rd.stale_reason(run / "model_pruned.keras")
    rd.remove_stale()
    assert not (run / "model_pruned.keras").exists() and not art.exists()


def test_the_report_refuses_a_stale_artifact(tmp_path):
    from edgetl.report.markdown import artifact_rows
    from edgetl.rundir import RunDir

    run = fake_run(tmp_path / "run")
    good = fake_tflite(run, "model_float32", RunDir(run).provenance(run / "model.keras"))
    bad = fake_tflite(run, "model_int8", {"file": "model.keras", "sha256": "0" * 64})
    bench = {"results": [{"artifact": str(p), "runtime": "tflite", "threads": 1, "size_mb": 1.0, "p50_ms": 2.0,
                          "error": None} for p in (good, bad)]}
    rows = {r["name"]: r for r in artifact_rows({"benchmark": bench}, run_dir=run)}
    assert rows["model_float32.tflite"]["error"] is None and rows["model_float32.tflite"]["p50_ms"] == 2.0
    assert "stale" in rows["model_int8.tflite"]["error"] and rows["model_int8.tflite"]["p50_ms"] is None


# ---- one command per run folder at a time ----------------------------------------------------------------

def test_a_second_command_on_a_locked_run_gets_a_clear_error(tmp_path):
    run = fake_run(tmp_path / "run")
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from edgetl.rundir import run_lock
        with run_lock({str(run)!r}, "edgetl quantize (test holder)"):
            print("held", flush=True)
            sys.stdin.readline()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        for args in (["quantize", run, "--mode", "float32"], ["convert", run], ["prune", run],
                     ["train", "--out", run, "--force"], ["export", "android", run, "--out", tmp_path / "a"]):
            assert_one_line_exit_2(run_cli(*args), "in use", "edgetl quantize (test holder)")
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=30)
    from edgetl.rundir import run_lock

    with run_lock(run, "after"):  # released with the holder
        pass


def test_the_lock_is_reentrant_in_one_process(tmp_path):
    from edgetl.rundir import run_lock

    run = fake_run(tmp_path / "run")
    with run_lock(run, "outer"):
        with run_lock(run, "inner"):
            pass


# ---- calibration images -------------------------------------------------------------------------------

def test_calibration_is_stratified_and_seeded():
    from types import SimpleNamespace

    import numpy as np

    from edgetl.rundir import RunDir

    labels = np.repeat([0, 1, 2], [60, 30, 10])
    images = np.arange(100, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 3), np.uint8)
    splits = SimpleNamespace(train=SimpleNamespace(images=images, labels=labels))
    cal = RunDir.calibration(splits, 20)
    picked = labels[cal[:, 0, 0, 0].astype(int)]
    assert np.bincount(picked, minlength=3).tolist() == [12, 6, 2]  # each class in its training share
    assert np.array_equal(cal, RunDir.calibration(splits, 20))  # seeded: the same images every time
    assert not np.array_equal(cal, RunDir.calibration(splits, 20, seed=1))
    assert len(RunDir.calibration(splits, 500)) == 100


@pytest.mark.parametrize("args", [["--limit-images", "-3"], ["--val-ratio", "0.5", "--test-ratio", "0.5"]])
def test_edgetl_run_with_a_bad_training_value_leaves_no_out_folder(tmp_path, args):
    out = tmp_path / "new_run"
    assert_one_line_exit_2(run_cli("run", "--out", out, *args))
    assert not out.exists()
