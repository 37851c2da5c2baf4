"""Cross-validated scores of the phase-1 head on frozen features (docs/search.md).

The pool is the train + validation images (the test split stays untouched for the final run). It is
cut into K stratified folds; for each, a head is fitted on the fold's training part minus a validation
share (as `edgetl train` fits on train minus val) and predicts the held-out fold. Every pool image is
thus predicted once by a head that never saw it: the accuracy is the pooled out-of-fold correct count
k/n, its 95% interval Wilson's on k of n. Two classes also get the pooled out-of-fold AUC (Hanley and
McNeil's 95% interval) and, with a target recall, the precision at a threshold each fold chooses on its
own validation share (Wilson on the true positives of the predicted positives).

The head is train's (L2 logistic regression, L-BFGS, strength from ``training.head.HEAD_C`` by validation
loss), made fast for K folds: the strength is chosen once per feature set (on fold 0's validation share)
and reused by every fold, the features are standardised on each fit part, and each fold warm-starts
from the previous fold's solution. ``edgetl train`` itself is unchanged.
"""
from __future__ import annotations

import math
import warnings
from typing import Callable, Optional

import numpy as np

from edgetl.errors import EdgetlError
from edgetl.metrics import auc_interval
from edgetl.metrics import wilson_interval

MAX_ITER = 3000  # as train's fit_linear_head; standardised features converge in far fewer
TOL = 1e-3  # on the projected gradient, standardised features: about half the L-BFGS iterations of 1e-4


def check_folds(labels: np.ndarray, folds: int, class_names=None) -> None:
    counts = np.bincount(np.asarray(labels, np.int64))
    present = np.flatnonzero(counts)
    if len(present) < 2:
        raise EdgetlError("the data has one class; a classifier needs at least two class folders")
    low = int(present[np.argmin(counts[present])])
    if counts[low] < folds:
        name = class_names[low] if class_names is not None else str(low)
        raise EdgetlError(f"class '{name}' has {counts[low]} train+validation images, fewer than --folds {folds}; "
                          f"pass --folds {max(2, int(counts[low]))} or add images")


def fold_ids(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Each pool image's fold (0..K-1), stratified by class, fixed by ``seed``."""
    from sklearn.model_selection import StratifiedKFold

    out = np.zeros(len(labels), np.int64)
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for k, (_, test) in enumerate(skf.split(np.zeros(len(labels)), labels)):
        out[test] = k
    return out


def inner_split(labels: np.ndarray, val_share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit, validation) indices of a fold's training part, stratified; no validation when ``val_share`` is 0."""
    idx = np.arange(len(labels))
    if val_share <= 0:
        return idx, idx[:0]
    rng = np.random.default_rng(seed)
    fit, val = [], []
    for c in np.unique(labels):
        members = rng.permutation(idx[labels == c])
        n_val = int(round(len(members) * val_share))
        n_val = min(max(n_val, 1), len(members) - 1) if len(members) > 1 else 0
        val.append(members[:n_val])
        fit.append(members[n_val:])
    return np.sort(np.concatenate(fit)), np.sort(np.concatenate(val))


# ---- the head ------------------------------------------------------------------------------------------

def _standardizer(x: np.ndarray):
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std[std < 1e-6] = 1.0
    def scale(q):
        return (np.asarray(q, np.float32) - mean) / std

    scale.mean, scale.std = mean, std
    return scale


def _all_classes(probs: np.ndarray, classes: np.ndarray, n_classes: int) -> np.ndarray:
    if probs.shape[1] == n_classes:
        return probs
    full = np.zeros((len(probs), n_classes), probs.dtype)
    full[:, classes] = probs
    return full


def linear_head(n_classes: int, C: float) -> Callable:
    """fit(ftr, ltr, fva, lva) -> predict(x) -> probabilities: L2 logistic regression (L-BFGS) at strength ``C`` on
    features standardised on ``ftr``; each call warm-starts from the previous call's solution (the next fold)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=C, max_iter=MAX_ITER, tol=TOL, warm_start=True)

    def fit(ftr, ltr, fva=None, lva=None):
        clf.set_params(C=fit.C)
        scale = _standardizer(np.asarray(ftr, np.float32))
        if getattr(clf, "coef_", None) is not None and len(np.unique(ltr)) != len(clf.classes_):
            clf.set_params(warm_start=False)  # a fold missing a class: a fresh start
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(scale(ftr), ltr)
        clf.set_params(warm_start=True)
        classes = clf.classes_.copy()
        coef, intercept = clf.coef_.copy(), clf.intercept_.copy()

        def predict(x):
            z = scale(x) @ coef.T + intercept
            if z.shape[1] == 1:  # two classes: sklearn's one logit
                p1 = 1.0 / (1.0 + np.exp(-z[:, 0]))
                return _all_classes(np.stack([1 - p1, p1], axis=1), classes, n_classes)
            z = z - z.max(axis=1, keepdims=True)
            e = np.exp(z)
            return _all_classes(e / e.sum(axis=1, keepdims=True), classes, n_classes)

        w = coef / scale.std
        predict.raw_weights = (w, intercept - w @ scale.mean)  # the same head on unstandardised features
        return predict

    fit.C = C  # settable: choose_c walks the strengths on one warm-started model
    return fit


def choose_c(features: np.ndarray, labels: np.ndarray, folds: np.ndarray, val_share: float, seed: int,
             n_classes: int) -> tuple[float, dict]:
    """(C, {C: validation loss}): train's rule (the HEAD_C strength with the lowest validation loss), applied once on
    fold 0's training part split into fit/validation; strengths are tried weakest-penalty last, warm-started."""
    from edgetl.metrics import per_image_loss
    from edgetl.training.head import HEAD_C

    if val_share <= 0:
        return 1.0, {}
    labels = np.asarray(labels, np.int64)
    train_idx = np.flatnonzero(folds != 0)
    fi, vi = inner_split(labels[train_idx], val_share, seed)
    fi, vi = train_idx[fi], train_idx[vi]
    losses = {}
    fit = linear_head(n_classes, min(HEAD_C))
    for c in sorted(HEAD_C):  # strongest penalty first: each solution is a good start for the next, weaker one
        fit.C = c
        predict = fit(features[fi], labels[fi])
        losses[c] = float(np.mean(per_image_loss(predict(features[vi]), labels[vi])))
    return min(losses, key=losses.get), losses


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
    """Pooled out-of-fold AUC and Hanley & McNeil's (1982) 95% interval for it (``metrics.auc_interval``)."""
    from sklearn.metrics import roc_auc_score

    a = float(roc_auc_score(is_pos, score))
    low, high = auc_interval(a, int(np.sum(is_pos)), int(np.sum(~is_pos)))
    return {"auc": a, "auc_low": low, "auc_high": high}


def t_interval(xs: list, confidence: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean of ``xs`` (the folds), for reference beside Wilson's."""
    from scipy.stats import t

    m = float(np.mean(xs))
    if len(xs) < 2:
        return m, m
    half = float(t.ppf(0.5 + confidence / 2, len(xs) - 1)) * float(np.std(xs, ddof=1)) / math.sqrt(len(xs))
    return max(0.0, m - half), min(1.0, m + half)
