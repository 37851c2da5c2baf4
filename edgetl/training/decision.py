"""The two-class decision threshold of ``edgetl train --target-recall R`` (docs/data.md, "Binary decisions").

The threshold is chosen where the recall's lower 95% Wilson bound meets R (``metrics.threshold_for_recall_bound``),
on as many scored images as the run has: when the kept model is the phase-1 head fitted on cached features, K
phase-1 heads (the same solver, L2 strength and class weights as the final head) are fitted on K-1 folds of train
+ validation and score the held-out fold, so every one of those images gets a score from a head that never saw
it. When phase 2 (fine-tuning) is kept, or the head was not fitted on cached features, those scores would not be
the final model's: the threshold is then chosen on the final model's validation scores, by the same rule, and the
record says so. The two kinds of scores are never mixed.
"""
from __future__ import annotations

import time
from typing import Optional

import numpy as np

from edgetl.errors import EdgetlError
from edgetl.metrics import threshold_for_recall_bound
from edgetl.training.cv import fold_ids, out_of_fold
from edgetl.training.head import logistic_regression

DECISION_FOLDS = 5


def choose_threshold(tm, splits, contract, cfg, positive: int, history: dict, features: Optional[dict],
                     progress=None) -> dict:
    """The decision record: threshold, target, the scores it was chosen on, recall and specificity with 95% Wilson
    intervals there, whether the lower bound meets the target, and a one-line note."""
    from edgetl.progress import steps
    from edgetl.training.model import predict_split

    why = _no_oof_reason(history, features)
    if why is None:
        x = np.concatenate([np.asarray(features["train"][0]), np.asarray(features["val"][0])])
        y = np.concatenate([features["train"][1], features["val"][1]]).astype(np.int64)
        k = min(DECISION_FOLDS, int(np.bincount(y, minlength=tm.n_classes).min()))
        if k < 2:
            why = "a class has fewer than 2 train + validation images: no folds"
    if why is None:
        t0 = time.perf_counter()
        probs = out_of_fold(x, y, fold_ids(y, k, cfg.seed), _head_fit(history["phase1"]["C"], cfg, tm.n_classes),
                            steps(progress, "decision threshold: out-of-fold phase-1 heads"))
        rec = threshold_for_recall_bound(probs[:, positive], y == positive, cfg.target_recall)
        weights = ", balanced class weights" if cfg.class_weights == "auto" else ""
        return {**rec, "scores": "out-of-fold", "folds": k, "seconds": round(time.perf_counter() - t0, 2),
                "scored_on": f"train + validation, {len(y)} images, each scored by a phase-1 head (logistic regression, "
                             f"C={history['phase1']['C']:g}{weights}) fitted on the other {k - 1} of {k} folds"}
    if not len(splits.val):
        raise EdgetlError(f"--target-recall chooses the threshold on the validation split here ({why}), and there is "
                          "none; set --val-ratio above 0")
    probs, labels = predict_split(tm.model, splits, "val", contract)
    rec = threshold_for_recall_bound(np.asarray(probs)[:, positive], np.asarray(labels) == positive, cfg.target_recall)
    return {**rec, "scores": "validation", "folds": None,
            "scored_on": f"the validation split, {len(labels)} images, scored by the final model: {why}"}


def _no_oof_reason(history: dict, features: Optional[dict]) -> Optional[str]:
    if history["selection"]["kept"] != "phase1":
        return "phase 2 (fine-tuning) was kept, so the phase-1 heads' out-of-fold scores are not the final model's"
    if not features:
        return "phase 1 ran without cached features (--augment, or no pretrained weights), so there are no folds to refit"
    if "C" not in history["phase1"]:
        return ("the phase-1 head was trained by Adam (label smoothing, or a class missing from train), not the "
                "logistic regression the folds refit")
    return None


def _head_fit(C: float, cfg, n_classes: int):
    """fit(ftr, ltr) -> predict(x) -> probabilities: the final head's solver at its L2 strength and class weights."""
    from edgetl.data.sources import class_weights

    def fit(ftr, ltr):
        cw = class_weights(ltr, n_classes) if cfg.class_weights == "auto" else None
        clf = logistic_regression(ftr, ltr, C, cw)
        return lambda q: clf.predict_proba(q)

    return fit


def describe(decision: dict) -> str:
    """Two lines for the log: the threshold, where it was measured, recall and specificity with intervals; the note."""
    pct = f"{100 * decision['confidence']:g}%"
    where = (f"out-of-fold scores of {decision['images']} train + validation images ({decision['folds']} folds)"
             if decision["scores"] == "out-of-fold" else f"the validation split ({decision['images']} images)")
    return (f"decision threshold {decision['threshold']:.4f} for {decision['positive_label']}, chosen on {where}: "
            f"recall {decision['recall']:.3f} [{decision['recall_low']:.3f}-{decision['recall_high']:.3f}] of "
            f"{decision['positives']}, specificity {decision['specificity']:.3f} "
            f"[{decision['specificity_low']:.3f}-{decision['specificity_high']:.3f}] of {decision['negatives']} "
            f"({pct} Wilson)\n  {decision['note']}")
