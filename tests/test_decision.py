"""The decision threshold's rule: the recall's lower Wilson bound meets the target, or the record says it cannot."""
import numpy as np
import pytest

from edgetl.errors import EdgetlError
from edgetl.metrics import threshold_for_recall_bound, wilson_interval
from edgetl.training.cv import fold_ids, out_of_fold


def _scores(n_pos, n_neg, seed=0):
    rng = np.random.default_rng(seed)
    score = np.r_[rng.normal(2, 1, n_pos), rng.normal(0, 1, n_neg)]
    return score, np.r_[np.ones(n_pos, bool), np.zeros(n_neg, bool)]


def test_the_threshold_is_the_highest_whose_lower_bound_meets_the_target():
    score, is_pos = _scores(400, 400)
    d = threshold_for_recall_bound(score, is_pos, 0.95)
    tp = int(np.sum(score[is_pos] >= d["threshold"]))
    assert d["guaranteed"] and d["positives"] == 400 and d["negatives"] == 400 and d["images"] == 800
    assert d["recall"] == tp / 400 and d["recall_low"] == pytest.approx(wilson_interval(tp, 400)[0])
    assert d["recall_low"] >= 0.95 and wilson_interval(tp - 1, 400)[0] < 0.95  # one positive fewer would miss it
    assert d["recall"] > 0.96  # the point estimate alone (0.95) would leave the lower bound near 0.93
    tn = int(np.sum(score[~is_pos] < d["threshold"]))
    assert d["specificity"] == tn / 400
    assert (d["specificity_low"], d["specificity_high"]) == pytest.approx(wilson_interval(tn, 400))
    assert "lower bound" in d["note"] and ">= target 0.95" in d["note"]


def test_too_few_positives_fall_back_to_the_point_estimate_and_say_so():
    score, is_pos = _scores(44, 44)
    d = threshold_for_recall_bound(score, is_pos, 0.95)
    assert not d["guaranteed"]
    assert d["best_recall_low"] == pytest.approx(wilson_interval(44, 44)[0]) and 0.91 < d["best_recall_low"] < 0.93
    assert d["recall"] >= 0.95 and int(np.sum(score[is_pos] >= d["threshold"])) == 42  # ceil(0.95 * 44)
    assert d["note"].startswith("with 44 positives the best attainable 95% lower bound is 0.920")
    assert "point estimate" in d["note"]


def test_no_positive_is_a_user_error():
    with pytest.raises(EdgetlError, match="positive class"):
        threshold_for_recall_bound(np.zeros(4), np.zeros(4, bool), 0.9)


def test_out_of_fold_scores_come_from_heads_that_never_saw_the_image():
    labels = np.array([0, 1] * 10)
    folds = fold_ids(labels, 5, 0)
    seen = []

    def fit(ftr, ltr):
        seen.append(set(ftr[:, 0].tolist()))
        return lambda q: np.stack([1 - q[:, 0] / 100, q[:, 0] / 100], axis=1)

    x = np.arange(20, dtype=np.float64)[:, None]
    probs = out_of_fold(x, labels, folds, fit)
    assert len(seen) == 5 and np.allclose(probs[:, 1], x[:, 0] / 100)
    for k, fitted in enumerate(seen):
        assert not fitted & set(x[folds == k, 0].tolist()) and len(fitted) == 16


def _run(kept="phase1", C=1.0):
    from types import SimpleNamespace

    rng = np.random.default_rng(1)
    y = np.r_[np.ones(120, np.int64), np.zeros(120, np.int64)]
    x = rng.normal(size=(240, 8)) + y[:, None] * 1.5
    features = {"train": (x[::2], y[::2]), "val": (x[1::2], y[1::2])}
    history = {"selection": {"kept": kept}, "phase1": {"C": C}}
    cfg = SimpleNamespace(seed=0, target_recall=0.9, class_weights="auto")
    return SimpleNamespace(n_classes=2), features, history, cfg


def test_train_chooses_on_out_of_fold_scores_of_train_and_val():
    from edgetl.training.decision import choose_threshold, describe

    tm, features, history, cfg = _run()
    d = choose_threshold(tm, None, None, cfg, 1, history, features)
    assert d["scores"] == "out-of-fold" and d["folds"] == 5 and d["images"] == 240 and d["positives"] == 120
    assert d["guaranteed"] and d["recall_low"] >= 0.9 and "other 4 of 5 folds" in d["scored_on"]
    line = describe({**d, "positive_label": "sick"})
    assert "out-of-fold scores of 240 train + validation images (5 folds)" in line and "95% Wilson" in line


def test_phase_2_kept_means_validation_scores_and_the_record_says_why():
    from edgetl.training.decision import _no_oof_reason

    _, features, history, _ = _run(kept="phase2")
    assert "phase 2 (fine-tuning) was kept" in _no_oof_reason(history, features)
    assert "without cached features" in _no_oof_reason({**history, "selection": {"kept": "phase1"}}, {})
    assert "Adam" in _no_oof_reason({"selection": {"kept": "phase1"}, "phase1": {}}, features)
    assert _no_oof_reason({**history, "selection": {"kept": "phase1"}}, features) is None


def test_without_out_of_fold_scores_the_validation_split_is_used_by_the_same_rule(monkeypatch):
    from types import SimpleNamespace

    import edgetl.training.model as model
    from edgetl.training.decision import choose_threshold

    tm, features, history, cfg = _run(kept="phase2")
    score, is_pos = _scores(22, 22)
    probs = np.stack([1 - score / 10, score / 10], axis=1)
    monkeypatch.setattr(model, "predict_split", lambda m, s, name, c: (probs, is_pos.astype(np.int64)))
    d = choose_threshold(SimpleNamespace(n_classes=2, model=None), SimpleNamespace(val=[0] * 44), None, cfg, 1,
                         history, features)
    assert d["scores"] == "validation" and d["folds"] is None and d["images"] == 44
    assert "the validation split, 44 images, scored by the final model: phase 2" in d["scored_on"]
    assert not d["guaranteed"] and d["note"].startswith("with 22 positives the best attainable")
    with pytest.raises(EdgetlError, match="set --val-ratio above 0"):
        choose_threshold(tm, SimpleNamespace(val=[]), None, cfg, 1, history, features)
