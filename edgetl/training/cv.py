"""K-fold machinery on cached frozen features: stratified folds, the fast phase-1 head for K fits, out-of-fold scores.

Shared by ``edgetl search`` (``choose.cv``: the cross-validated score of each candidate) and ``edgetl train``
(``training.decision``: the decision threshold chosen on out-of-fold scores of train + validation).
"""
from __future__ import annotations

import warnings
from typing import Callable

import numpy as np

from edgetl.errors import EdgetlError

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


def out_of_fold(features: np.ndarray, labels: np.ndarray, folds: np.ndarray, fit: Callable, step=None) -> np.ndarray:
    """Each image's probabilities from ``fit(ftr, ltr) -> predict(x) -> probabilities`` fitted on the other folds;
    ``step(description, done, total)`` (``progress.steps``) is told of each fold."""
    labels = np.asarray(labels, np.int64)
    out = None
    n_folds = int(folds.max()) + 1
    for k in range(n_folds):
        if step:
            step(f"fold {k + 1} of {n_folds}", k, n_folds)
        held = folds == k
        probs = np.asarray(fit(features[~held], labels[~held])(features[held]), np.float64)
        if out is None:
            out = np.zeros((len(labels), probs.shape[1]))
        out[held] = probs
    if step:
        step(f"{n_folds} folds", n_folds, n_folds)
    return out
