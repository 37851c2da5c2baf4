"""Phase 2 (fine-tuning) is kept only when a paired test says it lowered the validation loss (issue 10)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from edgetl.training import phase_choice
from edgetl.training.phase_choice import choose_phase

RNG = np.random.default_rng(0)
PHASE1 = RNG.exponential(0.4, 200)


def test_phase2_kept_when_it_clearly_lowers_the_validation_losses():
    phase2 = PHASE1 * 0.7  # every image's loss down by 30%
    s = choose_phase(PHASE1, phase2)
    assert s["kept"] == "phase2" and s["p_value"] < 0.05 and "lowered" in s["reason"]
    assert s["val_loss"] == {"phase1": pytest.approx(PHASE1.mean()), "phase2": pytest.approx(phase2.mean())}


def test_a_lower_mean_that_a_few_images_carry_is_not_enough():
    """plantvillage_apple's case: 48 images, a 24% lower mean loss that rests on a few images; phase 1 stays."""
    phase1 = np.full(48, 0.05)
    phase1[:4] = 1.5  # four hard images carry phase 1's loss
    phase2 = phase1 + RNG.normal(0, 0.05, 48).clip(-0.04, None)  # the rest move up and down at random
    phase2[:4] = [0.2, 2.9, 0.1, 1.6]
    assert phase2.mean() < phase1.mean()
    s = choose_phase(phase1, phase2)
    assert s["kept"] == "phase1" and s["p_value"] >= 0.05 and "not clearly" in s["reason"]


@pytest.mark.parametrize("factor", [1.1, 1.0, float("nan"), float("inf")])
def test_phase1_kept_when_fine_tuning_is_worse_equal_or_diverged(factor):
    s = choose_phase(PHASE1, PHASE1 * factor)
    assert s["kept"] == "phase1" and "did not lower" in s["reason"]


def test_a_uniform_gain_has_no_spread_and_is_kept():
    s = choose_phase(np.full(10, 0.5), np.full(10, 0.4))
    assert s["kept"] == "phase2" and s["p_value"] == 0.0


def test_without_validation_split_phase2_is_kept_and_says_why():
    s = choose_phase(None, None)
    assert s["kept"] == "phase2" and "no validation" in s["reason"]


class _FakeModel:
    """Stands in for TransferModel: weights are one array; fine-tuning adds to them."""

    def __init__(self):
        self.w = [np.zeros(3)]
        self.frozen = None
        self.model = self

    def get_weights(self):
        return [a.copy() for a in self.w]

    def set_weights(self, ws):
        self.w = [a.copy() for a in ws]

    def freeze_base(self, frozen=True):
        self.frozen = frozen


@pytest.mark.parametrize("losses,kept", [((PHASE1, PHASE1 * 1.4), "phase1"), ((PHASE1, PHASE1 * 0.6), "phase2")])
def test_fine_tune_if_better_restores_phase1_weights_unless_phase2_is_better(monkeypatch, losses, kept):
    tm = _FakeModel()
    seen = iter(losses)
    monkeypatch.setattr(phase_choice, "val_losses", lambda tm, splits, contract: next(seen))

    def fake_fine_tune(tm, splits, contract, cfg, progress=None):
        tm.w = [tm.w[0] + 1.0]
        return {"phase": "fine_tuning"}

    monkeypatch.setattr(phase_choice, "fine_tune", fake_fine_tune)
    h2, sel = phase_choice.fine_tune_if_better(tm, None, None, None)
    assert h2 == {"phase": "fine_tuning"} and sel["kept"] == kept
    assert np.array_equal(tm.w[0], np.zeros(3) if kept == "phase1" else np.ones(3))
    assert tm.frozen is (True if kept == "phase1" else None)


@pytest.mark.slow
def test_harmful_fine_tuning_is_not_kept(tmp_path, flowers, weights_dir):
    """A fine-tuning learning rate far too high wrecks the base: the run keeps phase 1 and says so."""
    from conftest import make_subset
    from edgetl.rundir import MANIFEST_FILE
    from edgetl.stages.train import TrainConfig, train

    data = make_subset(tmp_path / "data", classes=["daisy", "roses", "tulips"], per_class=20)
    out = tmp_path / "run"
    result = train(TrainConfig(data=str(data), backbone="mobilenet_v2", alpha=0.35, input_size=64, weights="imagenet",
                               weights_dir=str(weights_dir), epochs=6, fine_tune_epochs=2, unfreeze=20,
                               fine_tune_lr=0.5, patience=5, val_ratio=0.25, test_ratio=0.25, out=str(out)),
                   log=lambda m: None)
    sel = result["selection"]
    assert sel["kept"] == "phase1", sel
    assert sel["val_loss"]["phase2"] > sel["val_loss"]["phase1"] or not np.isfinite(sel["val_loss"]["phase2"])
    # the saved model is phase 1's: its validation loss is the one measured after phase 1
    from edgetl.runtime.runners import open_artifact
    from edgetl.rundir import RunDir
    from edgetl.metrics import classification_metrics as evaluate

    val = RunDir(out).splits().val
    probs = open_artifact(out).predict(val.images)
    assert evaluate(probs, val.labels, result["data"]["classes"])["loss"] == pytest.approx(sel["val_loss"]["phase1"],
                                                                                       rel=1e-4)
    assert json.loads((out / "metrics.json").read_text())["kept_phase"] == "phase1"
    assert json.loads((out / MANIFEST_FILE).read_text())["kept_phase"] == "phase1"
    assert json.loads((out / "history.json").read_text())["selection"]["kept"] == "phase1"


@pytest.mark.slow
@pytest.mark.parametrize("n_classes", [2, 3])
def test_phase1_head_is_the_logistic_regression_with_the_best_validation_C(n_classes):
    """The cached-feature head is solved as an L2 logistic regression; Keras then predicts exactly its probabilities."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    from edgetl.backbones.registry import get_backbone
    from edgetl.backbones.weights import ResolvedWeights
    from edgetl.training.head import HEAD_C, fit_linear_head
    from edgetl.training.model import TransferModel

    tm = TransferModel(get_backbone("mobilenet_v2"), 32, 0.35, ResolvedWeights(None, "random"), n_classes, 0.2)
    rng = np.random.default_rng(0)
    y = rng.integers(0, n_classes, 120)
    x = (rng.normal(size=(120, tm.base.output.shape[-1])) + 0.3 * y[:, None]).astype(np.float32)
    seen = []

    class Progress:  # rich.progress.Progress's task methods: the head fit shows one step per C tried
        def add_task(self, description, total):
            return 0

        def update(self, task, description, completed, total):
            seen.append((description, completed, total))

    h = fit_linear_head(tm, x[:80], y[:80], x[80:], y[80:], progress=Progress())
    assert [(d, t) for _, d, t in seen] == [(i, len(HEAD_C)) for i in range(len(HEAD_C) + 1)]
    assert all(d.startswith("phase 1 head: logistic regression on 80 x ") for d, _, _ in seen)
    fits = {c: LogisticRegression(C=c, max_iter=3000).fit(x[:80], y[:80]) for c in HEAD_C}
    losses = {c: log_loss(y[80:], fits[c].predict_proba(x[80:]), labels=list(range(n_classes))) for c in HEAD_C}
    assert h["C"] == min(losses, key=losses.get)
    assert h["head_passes"] == sum(int(np.max(f.n_iter_)) for f in fits.values())  # bench_data's phase-1 ratio
    ref = LogisticRegression(C=h["C"], max_iter=3000).fit(x[:80], y[:80]).predict_proba(x[80:])
    p = tm.pooled_head.predict(x[80:], verbose=0)
    got = np.c_[1 - p, p] if n_classes == 2 else p
    assert np.abs(got - ref).max() < 1e-4
