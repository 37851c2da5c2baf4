"""Cross-validated accuracy of the phase-1 head on frozen features (docs/search.md).

The pool is the train + validation images (the test split stays untouched for the final run). It is
cut into K stratified folds; for each, the head is fitted the way `edgetl train` fits it (its
training part split again into fit/validation, the L2 strength chosen on validation loss) and
predicts the held-out fold. Every pool image is thus predicted once by a head that never saw it:
the accuracy is the pooled out-of-fold correct count k/n, its 95% interval Wilson's on k of n.
The per-fold accuracies and a t-interval over them are kept beside it.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from edgetl.errors import EdgetlError
from edgetl.runtime.parity import wilson_interval


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


def cross_validate(features: np.ndarray, labels: np.ndarray, folds: np.ndarray, fit: Callable,
                   val_share: float, seed: int) -> dict:
    """Out-of-fold accuracy of ``fit(ftr, ltr, fva, lva) -> predict(x) -> probabilities``.

    ``folds`` from ``fold_ids``. Returns {accuracy, low, high, correct, n, fold_accuracy, t_low, t_high,
    interval}."""
    labels = np.asarray(labels, np.int64)
    correct = np.zeros(len(labels), bool)
    per_fold = []
    for k in range(int(folds.max()) + 1):
        held = folds == k
        train_idx = np.flatnonzero(~held)
        fi, vi = inner_split(labels[train_idx], val_share, seed + k)
        predict = fit(features[train_idx[fi]], labels[train_idx[fi]], features[train_idx[vi]], labels[train_idx[vi]])
        probs = np.asarray(predict(features[held]))
        pred = (probs[:, 0] >= 0.5).astype(np.int64) if probs.shape[1] == 1 else probs.argmax(axis=1)
        correct[held] = pred == labels[held]
        per_fold.append(float(correct[held].mean()))
    return summarize(correct, per_fold)


def summarize(correct: np.ndarray, per_fold: list) -> dict:
    k, n = int(np.sum(correct)), int(len(correct))
    low, high = wilson_interval(k, n, 0.95)
    t_low, t_high = t_interval(per_fold)
    return {"accuracy": k / n, "low": low, "high": high, "correct": k, "n": n,
            "interval": "Wilson 95% on the pooled out-of-fold correct count",
            "fold_accuracy": per_fold, "t_low": t_low, "t_high": t_high}


def t_interval(xs: list, confidence: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean of ``xs`` (the folds), for reference beside Wilson's."""
    from scipy.stats import t

    m = float(np.mean(xs))
    if len(xs) < 2:
        return m, m
    half = float(t.ppf(0.5 + confidence / 2, len(xs) - 1)) * float(np.std(xs, ddof=1)) / math.sqrt(len(xs))
    return max(0.0, m - half), min(1.0, m + half)
