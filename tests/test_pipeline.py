"""Issue 5: `edgetl run` end to end, resumability, recipes, bad input."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import make_subset
from edgetl.pipeline import runner as pipeline
from edgetl.cli import main
from edgetl.errors import EdgetlError
from edgetl.pipeline.recipes import load_recipe, recipes_dir, validate

SMALL = ["--limit-images", "6", "--input-size", "48", "--epochs", "2", "--fine-tune-epochs", "0",
         "--quantize", "float32,int8", "--calibration-images", "20", "--runs", "5", "--min-seconds", "0.05",
         "--warmup", "1", "--bench-rounds", "1", "--weights", "none"]


def run_cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def statuses(out: Path) -> dict:
    return {k: v["status"] for k, v in json.loads((out / "summary.json").read_text())["stages"].items()}


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "digits"
    r = run_cli("run", "--out", out, *SMALL)
    assert r.exit_code == 0, r.output
    return out


def test_run_end_to_end_writes_every_artifact_summary_and_report(default_run):
    out = default_run
    for name in ("model.keras", "model_float32.tflite", "model_int8.tflite", "model.onnx", "summary.json",
                 "report.md", "report_training.png", "report_confusion.png", "report_pareto.png", "labels.txt"):
        assert (out / name).stat().st_size > 0, name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stages"]["train"]["status"] == "ran" and summary["total_seconds"] > 0
    rows = summary["results"]["report"]["artifacts"]
    names = {r["name"] for r in rows}
    assert {"model_float32.tflite", "model_int8.tflite", "model.onnx"} <= names
    assert all(r["p50_ms"] > 0 for r in rows if not r["error"])
    report = (out / "report.md").read_text()
    assert "RANDOM initialisation" in report  # says which weights the backbone started from
    assert "seed" in report.lower() and "report_pareto.png" in report
    # the recipe's comparison (mobilenet, mobilenet_v2 at their default alpha) sits under its classic row, each
    # measured row saying its alpha and px: the run's own alpha-0.35 model is not what that table measures
    lines = [ln for ln in report.splitlines() if ln.startswith(("| **MobileNet (classic)**", "| mobilenet"))]
    assert [ln.split(" | ")[:3] for ln in lines] == [["| **MobileNet (classic)**", "1.0", "224"],
                                                 ["| mobilenet", "1.0", "48"], ["| mobilenet_v2", "1.0", "48"]]
    assert "## Op coverage" in report and "| model_int8.tflite | tflite |" in report  # the benchmark stage's coverage
    # every TFLite file of a fresh run keeps its per-image test results: "Ship this" can pair any two of them
    tflite = [r for r in rows if r["name"].endswith(".tflite") and not r["error"]]
    assert tflite and all(r["test_correct"] for r in tflite) and "not available" not in report
    with open(out / "report_training.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_evaluate_and_benchmark_score_the_quick_start_run_on_its_own_digits_test_split(default_run):
    """`edgetl evaluate runs/digits_mobilenet_v2 --data digits` (and without --data) scores the run's test split:
    the same images and the same accuracy as metrics.json; benchmark --data digits says which images it scored."""
    test = json.loads((default_run / "metrics.json").read_text())["test"]
    n_test = json.loads((default_run / "metrics.json").read_text())["data"]["test"]
    for args in (["--data", "digits"], []):
        r = run_cli("evaluate", default_run, *args, "--json")
        assert r.exit_code == 0, r.output
        m = json.loads(r.stdout)
        assert m["n"] == n_test and m["split"] == "test" and m["images_from"] == "the run's test split"
        assert abs(m["accuracy"] - test["accuracy"]) < 1e-6
    r = run_cli("benchmark", default_run / "model_int8.tflite", "--data", "digits", "--runs", "3", "--min-seconds",
                "0.01", "--rounds", "1")
    assert r.exit_code == 0, r.output
    assert f"accuracy on the run's test split ({n_test} images)" in r.stdout


def test_second_run_skips_every_stage_and_a_changed_value_reruns_from_its_stage(default_run):
    out = default_run
    r = run_cli("run", "--out", out, *SMALL)
    assert r.exit_code == 0, r.output
    st = statuses(out)
    assert all(s in ("skipped", "disabled") for s in st.values()), st
    r = run_cli("run", "--out", out, *SMALL, "--compare-input-size", "40")  # a comparison key changes
    assert r.exit_code == 0, r.output
    st = statuses(out)
    assert st["train"] == st["quantize"] == st["convert"] == st["benchmark"] == "skipped"
    assert st["compare"] == st["report"] == "ran"


@pytest.mark.slow
def test_injected_failure_keeps_earlier_stages_and_next_run_completes(tmp_path, monkeypatch):
    from edgetl.pipeline.recipes import validate

    out = tmp_path / "run"
    recipe = validate({"data": "digits", "limit_images": 5, "input_size": 40, "epochs": 1, "fine_tune_epochs": 0,
                       "weights": "none", "quantize": ["float32"], "alpha": 0.35})

    def boom(ctx):
        raise RuntimeError("injected failure in convert")

    stages = tuple(pipeline.Stage(s.name, s.keys, boom if s.name == "convert" else s.run, s.enabled)
                   for s in pipeline.STAGES)
    monkeypatch.setattr(pipeline, "STAGES", stages)
    with pytest.raises(RuntimeError, match="injected"):
        pipeline.run_pipeline(recipe, out, log=lambda m: None)
    state = json.loads((out / "stages.json").read_text())
    assert set(state["stages"]) == {"train", "quantize"}
    tflite = (out / "model_float32.tflite").read_bytes()
    assert not (out / "model.onnx").exists() and not list(out.glob(".*tmp*"))
    monkeypatch.undo()
    summary = pipeline.run_pipeline(recipe, out, log=lambda m: None, until="convert")
    assert summary["stages"]["train"]["status"] == summary["stages"]["quantize"]["status"] == "skipped"
    assert summary["stages"]["convert"]["status"] == "ran" and (out / "model.onnx").is_file()
    assert (out / "model_float32.tflite").read_bytes() == tflite
    again = pipeline.run_pipeline(recipe, out, log=lambda m: None, until="convert")  # --until holds when all skip
    assert list(again["stages"]) == ["train", "prune", "quantize", "convert"]
    assert {s["status"] for s in again["stages"].values()} == {"skipped", "disabled"}


@pytest.mark.slow
@pytest.mark.parametrize("recipe", sorted(p.name for p in recipes_dir().glob("*.yaml")))
def test_every_recipe_validates_and_runs_its_first_stage(recipe, tmp_path, flowers):
    cfg, _ = load_recipe(recipes_dir() / recipe)
    assert cfg["name"] == Path(recipe).stem
    if cfg.get("positive_class"):  # a binary recipe: two classes, the positive one named as the recipe says
        data = make_subset(tmp_path / "data", classes=["daisy", "roses"], per_class=4)
        (data / "daisy").rename(data / "NORMAL")
        (data / "roses").rename(data / cfg["positive_class"])
    else:
        data = make_subset(tmp_path / "data", per_class=4)
    extra = []
    if cfg.get("labels_csv"):  # a Kaggle-style recipe: the same photos as one flat folder and a labels.csv
        flat, rows = tmp_path / "flat", ["id,breed"]
        flat.mkdir()
        for cdir in sorted(data.iterdir()):
            for f in sorted(cdir.iterdir()):
                (flat / f"{cdir.name}_{f.name}").symlink_to(f.resolve())
                rows.append(f"{cdir.name}_{f.stem},{cdir.name}")
        (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
        data, extra = flat, ["--labels-csv", tmp_path / "labels.csv"]
    # --weights none: recipes that ask for ImageNet weights would need them offline; the stage itself is what runs here
    r = run_cli("run", recipe, "--data", data, *extra, "--limit-images", "4", "--input-size", "64", "--epochs", "1",
                "--fine-tune-epochs", "0", "--weights", "none", "--until", "train", "--out", tmp_path / "out")
    assert r.exit_code == 0, r.output
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["backbone"] == cfg["backbone"] and metrics["test"]["accuracy"] is not None


@pytest.mark.parametrize("recipe", sorted(p.name for p in recipes_dir().glob("*.yaml")))
def test_every_bundled_recipe_validates(recipe):
    validated, source = load_recipe(recipes_dir() / recipe)
    assert validated["name"] and source.endswith(recipe)


def test_recipe_validation_errors_name_the_key_and_choices():
    with pytest.raises(EdgetlError, match="unknown key 'epoch'.*did you mean 'epochs'"):
        validate({"epoch": 3})
    with pytest.raises(EdgetlError, match=r"recipe key 'quantize' \(--quantize\): unknown value 'int4'; choose one of: float32"):
        validate({"quantize": ["int4"]})
    with pytest.raises(EdgetlError, match=r"recipe key 'backbone' \(--backbone\): unknown value 'lenet'"):
        validate({"backbone": "lenet"})
    with pytest.raises(EdgetlError, match=r"'epochs' \(--epochs\) must be an integer"):
        validate({"epochs": "many"})


def test_run_bad_inputs_one_line_exit_2(tmp_path):
    def bad(*args):
        r = run_cli("run", *args)
        assert r.exit_code == 2, r.output
        assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1
        return r.output

    assert "not found" in bad(tmp_path / "nope.yaml")
    (tmp_path / "r.yaml").write_text("name: x\nepohcs: 3\n")
    assert "unknown key 'epohcs'" in bad(tmp_path / "r.yaml")
    msg = bad("dog_breeds_vgg16", "--out", tmp_path / "o")
    assert "kaggle.com/c/dog-breed-identification" in msg and "--labels-csv" in msg
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert "--force" in bad("--out", other)
    (tmp_path / "prev").mkdir()
    (tmp_path / "prev" / "stages.json").write_text(json.dumps({"identity": {"name": "x", "data": "d", "backbone": "b"},
                                                                "stages": {}}))
    assert "different run" in bad("--out", tmp_path / "prev")


@pytest.mark.slow
def test_a_mode_refused_by_the_gate_is_reported_and_the_others_still_land(tmp_path, monkeypatch):
    from edgetl.formats import registry as artifacts

    r = run_cli("run", "--out", tmp_path / "x", "--min-agreement", "dynamic=1.01")
    assert r.exit_code == 2 and "dynamic=1.01" in r.output  # a threshold above 1 is a bad value, caught up front

    real = artifacts.threshold
    monkeypatch.setattr(artifacts, "threshold",  # an int8 gate no file can pass: agreement is at most 1
                        lambda fmt, overrides=None: 1.01 if fmt.name == "tflite:int8" else real(fmt, overrides))
    # This one-epoch model's outputs are flat, so every image would be a tie (inconclusive, docs/quantize.md
    # "Ties"); with ties off every image is decided and the impossible threshold refuses.
    monkeypatch.setattr("edgetl.runtime.parity.TIE_CAP", 0.0)
    out = tmp_path / "run"
    recipe = validate({"data": "digits", "limit_images": 5, "input_size": 40, "epochs": 1, "fine_tune_epochs": 0,
                       "weights": "none", "quantize": ["float32", "int8"], "calibration_images": 10, "alpha": 0.35,
                       "convert": []})
    summary = pipeline.run_pipeline(recipe, out, log=lambda m: None, until="quantize")
    rows = {row["mode"]: row for row in summary["results"]["quantize"]["artifacts"]}
    assert "agreement" in rows["int8"]["error"] and rows["int8"]["artifact"] is None
    assert summary["refused"] and "model_int8.tflite" in summary["refused"][0]
    assert not (out / "model_int8.tflite").exists() and not (out / "model_int8.json").exists()
    assert (out / "model_float32.tflite").is_file() and rows["float32"].get("error") is None
    from edgetl.report.markdown import artifact_rows

    refused = [row for row in artifact_rows(summary["results"]) if row["name"] == "model_int8.tflite"]
    assert refused and refused[0]["error"].startswith("not written")


@pytest.mark.slow
def test_a_full_disk_mid_stage_is_one_line_and_keeps_earlier_stages(tmp_path, monkeypatch):
    import errno

    def full_disk(ctx):
        raise OSError(errno.ENOSPC, "No space left on device", str(ctx.out / "model_float32.tflite"))

    stages = tuple(pipeline.Stage(s.name, s.keys, full_disk if s.name == "quantize" else s.run, s.enabled)
                   for s in pipeline.STAGES)
    monkeypatch.setattr(pipeline, "STAGES", stages)
    out = tmp_path / "run"
    r = run_cli("run", "--out", out, "--limit-images", "4", "--input-size", "40", "--epochs", "1",
                "--fine-tune-epochs", "0", "--weights", "none")
    assert r.exit_code == 2, r.output
    assert r.output.strip().splitlines()[-1].startswith("error: disk full writing")
    assert "Traceback" not in r.output
    assert set(json.loads((out / "stages.json").read_text())["stages"]) == {"train"}
    assert (out / "model.keras").is_file()
