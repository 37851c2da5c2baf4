"""Cross-validated scores of the phase-1 head on frozen features (docs/search.md).

The pool is the train + validation images (the test split stays untouched for the final run). It is
cut into K stratified folds; for each, a head is fitted on the fold's training part minus a validation
share (as `edgetl train` fits on train minus val) and predicts the held-out fold. Every pool image is
thus predicted once by a head that never saw it: the accuracy is the pooled out-of-fold correct count
k/n, its 95% interval Wilson's on k of n. Two classes also get the pooled out-of-fold AUC (95% stratified
bootstrap interval) and, with a target recall, the precision at a threshold each fold chooses on its
own validation share (Wilson on the true positives of the predicted positives).

The head is train's (L2 logistic regression, L-BFGS, strength from ``training.head.HEAD_C`` by validation
loss), made fast for K folds (``training.cv.linear_head``): the strength is chosen once per feature set (on
fold 0's validation share) and reused by every fold, the features are standardised on each fit part, and
each fold warm-starts from the previous fold's solution. The folds and the head live in ``training.cv``,
shared with ``edgetl train``'s decision threshold.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np

from edgetl.errors import EdgetlError
from edgetl.metrics import auc_interval
from edgetl.metrics import wilson_interval
from edgetl.training.cv import check_folds, choose_c, fold_ids, inner_split, linear_head  # noqa: F401 - the search's API

# ---- cross-validation ----------------------------------------------------------------------------------

def cross_validate(features: np.ndarray, labels: np.ndarray, folds: np.ndarray, fit: Callable,
                   val_share: float, seed: int, target_recall: Optional[float] = None, positive: int = 1) -> dict:
    """Out-of-fold scores of ``fit(ftr, ltr, fva, lva) -> predict(x) -> probabilities`` (``folds`` from ``fold_ids``).

    With ``target_recall`` (two classes), each fold's threshold on the positive class's probability is chosen on
    its validation share by ``measure.metrics.threshold_for_recall`` and applied to the held-out fold."""
    from edgetl.metrics import threshold_for_recall

    labels = np.asarray(labels, np.int64)
    probs_oof = None
    decided = np.zeros(len(labels), np.int64)
    per_fold, thresholds = [], []
    for k in range(int(folds.max()) + 1):
        held = folds == k
        train_idx = np.flatnonzero(~held)
        fi, vi = inner_split(labels[train_idx], val_share, seed + k)
        fi, vi = train_idx[fi], train_idx[vi]
        predict = fit(features[fi], labels[fi], features[vi], labels[vi])
        probs = np.asarray(predict(features[held]), np.float64)
        if probs_oof is None:
            probs_oof = np.zeros((len(labels), probs.shape[1]))
        probs_oof[held] = probs
        if target_recall is not None:
            if not len(vi):
                raise EdgetlError("--target-recall chooses each fold's threshold on a validation share; "
                                  "set --val-ratio above 0")
            t = threshold_for_recall(predict(features[vi]), labels[vi], positive, target_recall)["threshold"]
            thresholds.append(t)
            decided[held] = np.where(probs[:, positive] >= t, positive, 1 - positive)
        else:
            decided[held] = probs.argmax(axis=1)
        per_fold.append(float(np.mean(decided[held] == labels[held])))
    return summarize(decided, labels, per_fold, probs_oof, target_recall, positive, thresholds)


def summarize(decided: np.ndarray, labels: np.ndarray, per_fold: list, probs=None, target_recall=None,
              positive: int = 1, thresholds=()) -> dict:
    correct = decided == labels
    k, n = int(np.sum(correct)), int(len(correct))
    low, high = wilson_interval(k, n, 0.95)
    t_low, t_high = t_interval(per_fold)
    out = {"accuracy": k / n, "low": low, "high": high, "correct": k, "n": n,
           "interval": "Wilson 95% on the pooled out-of-fold correct count",
           "fold_accuracy": per_fold, "t_low": t_low, "t_high": t_high}
    if probs is not None and probs.shape[1] == 2 and len(np.unique(labels)) == 2:
        out.update(binary_scores(probs[:, positive], labels == positive))
        if target_recall is not None:
            pred = decided == positive
            tp, pp, pos = int(np.sum(pred & (labels == positive))), int(np.sum(pred)), int(np.sum(labels == positive))
            p_low, p_high = wilson_interval(tp, pp, 0.95) if pp else (0.0, 1.0)
            out.update(target_recall=float(target_recall), precision_at_recall=tp / pp if pp else 0.0,
                       precision_at_recall_low=p_low, precision_at_recall_high=p_high, recall_reached=tp / pos,
                       fold_thresholds=[float(t) for t in thresholds])
    return out


def binary_scores(score: np.ndarray, is_pos: np.ndarray) -> dict:
    """Pooled out-of-fold AUC and its 95% bootstrap interval (``metrics.auc_interval``)."""
    from sklearn.metrics import roc_auc_score

    a = float(roc_auc_score(is_pos, score))
    low, high = auc_interval(is_pos, score)
    return {"auc": a, "auc_low": low, "auc_high": high}


def t_interval(xs: list, confidence: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean of ``xs`` (the folds), for reference beside Wilson's."""
    from scipy.stats import t

    m = float(np.mean(xs))
    if len(xs) < 2:
        return m, m
    half = float(t.ppf(0.5 + confidence / 2, len(xs) - 1)) * float(np.std(xs, ddof=1)) / math.sqrt(len(xs))
    return max(0.0, m - half), min(1.0, m + half)
