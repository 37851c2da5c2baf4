"""`edgetl evaluate` and `edgetl predict` on a built-in dataset name, through one data path (fast tier: a stub
runner stands in for a trained model, so no TensorFlow model is built)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from edgetl.cli import main
from edgetl.formats.contract import Contract
from edgetl.runtime.runners import Runner


class CentroidRunner(Runner):
    """A nearest-class-mean classifier of sklearn's digits: right on most images, wrong on a few."""
    runtime = "stub"

    def __init__(self, path):
        from sklearn.datasets import load_digits

        d = load_digits()
        imgs = (d.images * (255.0 / 16.0)).round()
        self.centroids = np.stack([imgs[d.target == k].mean(axis=0) for k in range(10)])
        super().__init__(path, Contract(labels=[str(i) for i in range(10)], height=8, width=8, output_units=10,
                                        artifact="stub"))

    def predict(self, pixels, batch_size=32):
        x = np.asarray(pixels, np.float64)[..., 0]
        d = ((x[:, None] - self.centroids[None]) ** 2).sum(axis=(2, 3))
        e = np.exp(-(d - d.min(axis=1, keepdims=True)) / 1e4)
        return e / e.sum(axis=1, keepdims=True)


@pytest.fixture
def stub(monkeypatch, tmp_path):
    import edgetl.measure.evaluate as ev

    monkeypatch.setattr(ev, "open_artifact", lambda path, threads=None: CentroidRunner(path))
    return tmp_path / "model.tflite"


def cli(*args):
    r = CliRunner().invoke(main, [str(a) for a in args])
    return r


def test_predict_takes_data_digits_as_evaluate_does(stub):
    ev = cli("evaluate", stub, "--data", "digits", "--json")
    assert ev.exit_code == 0, ev.output
    ev = json.loads(ev.stdout)
    pred = cli("predict", stub, "--data", "digits", "--top-k", "2", "--json")
    assert pred.exit_code == 0, pred.output
    pred = json.loads(pred.stdout)
    rows = pred["predictions"]
    # the same images (digits' seeded test split), the same decisions
    assert len(rows) == ev["n"] and pred["images_from"] == ev["images_from"] and pred["split"] == "test"
    assert all(r["file"].startswith("digits:") and len(r["top"]) == 2 for r in rows)
    right = sum(r["label"] == r["true"] for r in rows)
    assert 0.5 < right / len(rows) < 1 and right / len(rows) == pytest.approx(ev["accuracy"])
    assert sorted({r["true"] for r in rows}) == [str(i) for i in range(10)]
    # --split all: every digit image
    assert len(json.loads(cli("predict", stub, "--data", "digits", "--split", "all", "--json").stdout)
               ["predictions"]) == 1797


def test_predict_wants_images_or_data_not_both(stub, tmp_path):
    r = cli("predict", stub)
    assert r.exit_code == 2 and "or --data" in r.output and "Traceback" not in r.output
    r = cli("predict", stub, tmp_path, "--data", "digits")
    assert r.exit_code == 2 and "not both" in r.output
    r = cli("predict", stub, "--data", tmp_path / "none")
    assert r.exit_code == 2 and "is not a folder" in r.output
    r = cli("predict", stub, "--data", "digits", "--threshold", "1.5")
    assert r.exit_code == 2 and "--threshold must be in [0, 1]" in r.output


def test_evaluate_prints_the_auc_interval_one_figure_per_line():
    import io

    from rich.console import Console

    from edgetl.cli.evaluate import _print_metrics
    from edgetl.metrics import auc_interval, classification_metrics

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], [234, 390])
    p = np.clip(0.3 + 0.45 * y + rng.normal(0, 0.2, len(y)), 0, 1)
    m = classification_metrics(np.stack([1 - p, p], axis=1), y, ["NORMAL", "PNEUMONIA"])
    m.update(artifact="runs/xray/model_int8.tflite", kind="tflite:int8", runtime="tflite", images_from="test/",
             skipped=0)
    out = io.StringIO()
    _print_metrics(m, Console(file=out, width=80, force_terminal=False))
    lines = out.getvalue().splitlines()
    low, high = auc_interval(y == 1, p)
    assert f"AUC {m['auc']:.4f} [{low:.4f}, {high:.4f}] (95% bootstrap)" in lines
    assert all(len(line) <= 80 for line in lines)
