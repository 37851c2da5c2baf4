"""Data layouts end to end on real photos (slow): ants/bees-style split folders, a Kaggle labels.csv,
and evaluate/predict agreeing with the run's own figures on the Keras model and the float32/int8 TFLite."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import MNV2_035, SHARED, make_subset, need

from edgetl.cli import main
from edgetl.metrics import wilson_interval

pytestmark = pytest.mark.slow
FLOWER_PHOTOS = SHARED / "data" / "flower_photos"


def cli(*args) -> dict:
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.startswith(("{", "["))), None)
    return json.loads("\n".join(lines[start:])) if start is not None else {}


def cli_error(*args) -> str:
    r = CliRunner().invoke(main, [str(a) for a in args])
    lines = [ln for ln in r.output.strip().splitlines() if ln.startswith("error:")]
    assert r.exit_code == 2 and len(lines) == 1 and "Traceback" not in r.output, r.output
    return lines[0]


@pytest.fixture(scope="module")
def antsbees(tmp_path_factory, flowers, weights_dir):
    """train/{ants,bees} + val/{ants,bees} (daisy and roses photos), trained with a target recall, quantized."""
    root = tmp_path_factory.mktemp("hymenoptera")
    for split, lo, hi in (("train", 0, 14), ("val", 14, 22)):
        for cls, flower in (("ants", "daisy"), ("bees", "roses")):
            src = sorted((flowers / flower).iterdir())[lo:hi]
            (root / split / cls).mkdir(parents=True)
            for f in src:
                (root / split / cls / f.name).symlink_to(f)
    out = tmp_path_factory.mktemp("run") / "antsbees"
    metrics = cli("train", "--data", root, "--backbone", "mobilenet_v2", "--alpha", "0.35", "--input-size", "96",
                  "--weights", MNV2_035, "--epochs", "6", "--fine-tune-epochs", "0", "--target-recall", "0.9",
                  "--val-ratio", "0.25", "--out", out, "--json")
    records = cli("quantize", out, "--mode", "float32", "--mode", "int8", "--calibration-images", "20",
                  "--min-agreement", "0.5", "--json")
    records += cli("convert", out, "--to", "onnx", "--calibration-images", "20", "--min-agreement", "0.5", "--json")
    return root, out, metrics, records


def test_ants_bees_trains_on_the_classes_and_reports_on_val(antsbees):
    root, out, m, _ = antsbees
    assert m["data"]["classes"] == ["ants", "bees"] and (out / "labels.txt").read_text().split() == ["ants", "bees"]
    assert m["data"]["test_from"] == "val/ folder" and m["test"]["n"] == 16
    assert m["data"]["class_counts"]["test"] == {"ants": 8, "bees": 8}
    assert m["data"]["train"] + m["data"]["val"] == 28  # the early-stopping split was carved from train/
    assert m["test"]["positive_class"] == "bees" and m["decision"]["recall"] >= 0.9
    d = m["decision"]  # chosen on out-of-fold phase-1 scores of all 28 train + val images (no phase 2 here)
    assert d["scores"] == "out-of-fold" and d["folds"] == 5 and d["images"] == 28 and d["positives"] == 14
    tp, tn = round(d["recall"] * 14), round(d["specificity"] * 14)
    assert (d["recall_low"], d["recall_high"]) == pytest.approx(wilson_interval(tp, 14))
    assert (d["specificity_low"], d["specificity_high"]) == pytest.approx(wilson_interval(tn, 14))
    # 14 of 14 has a 95% lower bound of 0.785 < 0.9: no guarantee possible, and the record says so
    assert not d["guaranteed"] and "point estimate" in d["note"] and "14 positives" in d["note"]
    contract = json.loads((out / "contract.json").read_text())
    assert contract["decision"]["threshold"] == pytest.approx(m["decision"]["threshold"])


def _artifact_records(records) -> dict:
    rows = records if isinstance(records, list) else records.get("artifacts", records.get("results", []))
    return {Path(r.get("artifact") or r["file"]).name: r for r in rows}


@pytest.mark.parametrize("artifact", [".", "model_float32.tflite", "model_int8.tflite", "model.onnx", "model_int8.onnx"])
def test_evaluate_and_predict_agree_with_the_run(antsbees, artifact):
    root, out, m, records = antsbees
    path = out / artifact
    if artifact != ".":  # the decision travels in every artifact's contract (TFLite sidecar, ONNX metadata)
        from edgetl.runtime.registry import open_artifact

        run_contract = json.loads((out / "contract.json").read_text())["decision"]
        assert open_artifact(path).contract.to_dict()["decision"] == run_contract
    ev = cli("evaluate", path, "--data", root, "--json")
    assert ev["split"] == "test" and ev["images_from"] == "val/ folder" and ev["n"] == 16
    assert ev["threshold"] == pytest.approx(m["decision"]["threshold"])
    expected = m["test"]["accuracy"] if artifact == "." else _artifact_records(records)[artifact]["accuracy"]
    assert ev["accuracy"] == pytest.approx(expected)
    if artifact == ".":
        assert ev["confusion_matrix"] == m["test"]["confusion_matrix"] and ev["auc"] == pytest.approx(m["test"]["auc"])
    pred = cli("predict", path, root / "val", "--top-k", "2", "--json")
    right = sum(p["label"] == Path(p["file"]).parent.name for p in pred["predictions"])
    assert len(pred["predictions"]) == 16 and right / 16 == pytest.approx(ev["accuracy"])
    # an explicit threshold of 0 calls every image positive
    assert cli("evaluate", path, "--data", root, "--threshold", "0", "--json")["recall"] == 1.0


def test_evaluate_and_predict_refuse_bad_input(antsbees, tmp_path):
    root, out, _, _ = antsbees
    other = make_subset(tmp_path / "other", classes=["daisy", "tulips"], per_class=3)
    assert "does not know" in cli_error("evaluate", out, "--data", other)
    (tmp_path / "notes.jpg").write_text("not an image")
    assert "not an image" in cli_error("predict", out / "model_int8.tflite", tmp_path / "notes.jpg")
    assert "in [0, 1]" in cli_error("predict", out, root / "val", "--threshold", "1.5")


def test_dog_breeds_recipe_on_a_labels_csv(tmp_path, weights_dir):
    """The dog-breeds recipe's layout: one flat folder of <id>.jpg and labels.csv (id,breed), ids without extension."""
    src = need(FLOWER_PHOTOS)
    images = tmp_path / "train"
    images.mkdir()
    rows = ["id,breed"]
    for breed in ("daisy", "sunflowers", "tulips"):
        for k, f in enumerate(sorted((src / breed).glob("*.jpg"))[:10]):
            ident = f"{breed[:3]}{k:04d}"
            (images / f"{ident}.jpg").symlink_to(f)
            rows.append(f"{ident},{breed}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "run"
    r = CliRunner().invoke(main, ["run", "dog_breeds_mobilenet_v2", "--data", str(images), "--labels-csv",
                                  str(tmp_path / "labels.csv"), "--weights-dir", str(weights_dir), "--alpha", "0.35",
                                  "--input-size", "96", "--epochs", "3", "--fine-tune-epochs", "0",
                                  "--out", str(out), "--until", "train"])
    assert r.exit_code == 0, r.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["data"]["layout"] == "labels-csv" and m["data"]["classes"] == ["daisy", "sunflowers", "tulips"]
    assert m["data"]["train"] + m["data"]["val"] + m["data"]["test"] == 30 and m["test"]["n"] == m["data"]["test"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["data"]["options"]["labels_csv"] == str(tmp_path / "labels.csv")
    # the run's own data and CSV: evaluate picks the run's test split
    ev = cli("evaluate", out, "--data", images, "--labels-csv", tmp_path / "labels.csv", "--json")
    assert ev["same_split_as_run"] and ev["accuracy"] == pytest.approx(m["test"]["accuracy"])


def test_report_shows_roc_operating_point_and_class_counts(antsbees, tmp_path):
    from edgetl.report.markdown import data_markdown, decision_markdown, plot_roc

    _, _, m, _ = antsbees
    line = decision_markdown(m["decision"])[0]
    assert "out-of-fold scores of 28 train + validation images (5 folds" in line and "(95% Wilson)" in line
    assert f"[{m['decision']['specificity_low']:.3f}-{m['decision']['specificity_high']:.3f}]" in line
    assert plot_roc(m["test"], tmp_path / "roc.png").stat().st_size > 1000
    md = "\n".join(data_markdown(m["data"]))
    assert "**val/ folder**" in md and "| ants | " in md and "imbalance" in md
