"""Classification metrics: one definition for metrics.json (train), `edgetl evaluate` and the report.

A binary decision is a positive class and a threshold on its probability (``Contract.decision``);
without one, the top-scoring class wins (argmax), as for any number of classes.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from edgetl.errors import EdgetlError


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Two-sided Wilson score interval for a binomial proportion k/n (Wilson 1927; Agresti & Coull 1998)."""
    if n <= 0:
        return 0.0, 1.0
    z = _z(confidence)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))  # holds k/n despite rounding (k=n: 1.0)


def _z(confidence: float) -> float:
    """The standard normal quantile for a two-sided ``confidence`` (no scipy needed)."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + confidence / 2)


def decide(probs: np.ndarray, positive: Optional[int] = None, threshold: Optional[float] = None) -> np.ndarray:
    """Predicted class per row: ``positive`` when its probability >= ``threshold`` (two classes), else argmax."""
    probs = np.asarray(probs)
    if threshold is None or probs.shape[1] != 2:
        return probs.argmax(axis=1)
    pos = 1 if positive is None else int(positive)
    return np.where(probs[:, pos] >= threshold, pos, 1 - pos)


def decision_margin(probs: np.ndarray, positive: Optional[int] = None, threshold: Optional[float] = None) -> np.ndarray:
    """How far each row's decision is from changing: p(top-1) - p(runner-up), or |p(positive) - threshold| for a
    two-class decision at a threshold."""
    probs = np.asarray(probs, np.float64)
    if threshold is not None and probs.shape[1] == 2:
        pos = 1 if positive is None else int(positive)
        return np.abs(probs[:, pos] - threshold)
    top2 = np.sort(probs, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def tie_mask(ref: np.ndarray, got: np.ndarray, cap: float, positive: Optional[int] = None,
             threshold: Optional[float] = None) -> np.ndarray:
    """Images whose reference decision is a tie at the artifact's precision (docs/quantize.md, "Ties").

    A decision can only change when the output moves by about its margin: by half of it per class for
    top-1 (one class up, the other down), by all of it for a two-class threshold. So an image is a tie
    when the reference's margin (to the runner-up, or to the threshold) is within what the artifact's
    measured error on that image could move (2 max|dp| for top-1, |dp(positive)| at a threshold), and
    never above ``cap``: a badly wrong file cannot excuse its flips with its own large error.
    """
    ref, got = np.asarray(ref, np.float64), np.asarray(got, np.float64)
    margin = decision_margin(ref, positive, threshold)
    if threshold is not None and ref.shape[1] == 2:
        pos = 1 if positive is None else int(positive)
        reach = np.abs(ref[:, pos] - got[:, pos])
    else:
        reach = 2 * np.max(np.abs(ref - got), axis=1)
    return margin <= np.minimum(reach, cap)


def per_image_loss(probs: np.ndarray, labels: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    """Each image's cross-entropy, -log p(true class); their mean is the split's loss."""
    probs, labels = np.asarray(probs), np.asarray(labels, np.int64)
    return -np.log(np.clip(probs[np.arange(len(labels)), labels], eps, 1.0))


def classification_metrics(probs: np.ndarray, labels: np.ndarray, class_names: list,
                           positive: Optional[int] = None, threshold: Optional[float] = None) -> dict:
    """Accuracy, cross-entropy, per-class precision/recall/F1, confusion matrix; for two classes AUC, the ROC
    curve and precision/recall/F1 of the positive class (default the second) at ``threshold`` (default argmax)."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support, roc_auc_score, roc_curve

    probs, labels = np.asarray(probs), np.asarray(labels, np.int64)
    n = len(class_names)
    pred = decide(probs, positive, threshold)
    loss = float(np.mean(per_image_loss(probs, labels))) if len(labels) else None
    p, r, f, s = precision_recall_fscore_support(labels, pred, labels=list(range(n)), zero_division=0)
    out = {
        "accuracy": float(np.mean(pred == labels)) if len(labels) else None,
        "accuracy_low": None, "accuracy_high": None,  # 95% Wilson
        "loss": loss,
        "n": int(len(labels)),
        "per_class": {class_names[i]: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                                       "support": int(s[i]), **_pr_intervals(labels, pred, i)} for i in range(n)},
        "confusion_matrix": confusion_matrix(labels, pred, labels=list(range(n))).tolist(),
    }
    if len(labels):
        out["accuracy_low"], out["accuracy_high"] = wilson_interval(int(np.sum(pred == labels)), len(labels))
    if n == 2:
        pos = 1 if positive is None else int(positive)
        both = len(set(labels.tolist())) == 2
        out["positive_class"] = class_names[pos]
        out["threshold"] = None if threshold is None else float(threshold)
        out["auc"] = float(roc_auc_score(labels == pos, probs[:, pos])) if both else None
        out["auc_low"], out["auc_high"] = auc_interval(labels == pos, probs[:, pos]) if both else (None, None)
        out["precision"], out["recall"], out["f1"] = float(p[pos]), float(r[pos]), float(f[pos])
        out.update(_pr_intervals(labels, pred, pos))
        if both:
            fpr, tpr, thr = roc_curve(labels == pos, probs[:, pos])
            out["roc"] = {"fpr": [round(float(x), 5) for x in fpr], "tpr": [round(float(x), 5) for x in tpr],
                          "thresholds": [round(float(min(x, 1.0)), 6) for x in thr]}
    return out


def _pr_intervals(labels: np.ndarray, pred: np.ndarray, i: int) -> dict:
    """95% Wilson intervals of class ``i``'s precision (on the images predicted as i, ``predicted``) and recall
    (on its true images, the support)."""
    tp, predicted, support = int(np.sum((pred == i) & (labels == i))), int(np.sum(pred == i)), int(np.sum(labels == i))
    p_low, p_high = wilson_interval(tp, predicted) if predicted else (None, None)
    r_low, r_high = wilson_interval(tp, support) if support else (None, None)
    return {"predicted": predicted, "precision_low": p_low, "precision_high": p_high, "recall_low": r_low,
            "recall_high": r_high}


def with_interval(value: Optional[float], low: Optional[float], high: Optional[float], digits: int = 3) -> str:
    """"0.931 [0.78-0.98]": a proportion and its interval (bounds at one digit less), "n/a" without a value."""
    if value is None:
        return "n/a"
    if low is None:
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{low:.{digits - 1}f}-{high:.{digits - 1}f}]"


def auc_interval(is_pos: np.ndarray, score: np.ndarray, *, n_boot: int = 2000, confidence: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the ROC AUC of ``score`` for ``is_pos`` (Efron & Tibshirani 1993).

    Positives and negatives are resampled separately (stratified), so every replicate keeps the class
    counts and has an AUC. A replicate is drawn as resampling counts, and its AUC is the Mann-Whitney
    statistic (ties count half, as sklearn's ``roc_auc_score``) from each positive's place among the sorted
    negatives, found once: O(n) a replicate, about 1 s for 2,000 replicates of 50,000 images. ``seed`` fixes
    the replicates, so the same scores always give the same interval. A perfectly separated sample gives
    (1.0, 1.0): no replicate can do worse.
    """
    is_pos, score = np.asarray(is_pos, bool), np.asarray(score, np.float64)
    neg = np.sort(score[~is_pos])
    pos = score[is_pos]
    n_pos, n_neg = len(pos), len(neg)
    if not n_pos or not n_neg:
        raise EdgetlError("an AUC needs both classes among the images")
    below, upto = np.searchsorted(neg, pos, "left"), np.searchsorted(neg, pos, "right")  # negatives < and <= each
    rng = np.random.default_rng(seed)
    aucs = []
    chunk = max(1, 2_000_000 // (n_pos + n_neg))  # replicates per block, to bound memory on large sets
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        neg_w = np.concatenate([np.zeros((b, 1)), np.cumsum(_resample_counts(rng, b, n_neg), axis=1)], axis=1)
        pos_w = _resample_counts(rng, b, n_pos)
        wins = (neg_w[:, below] + neg_w[:, upto]) / 2  # resampled negatives below each positive, ties half
        aucs.append(np.sum(pos_w * wins, axis=1) / (n_pos * n_neg))
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(np.concatenate(aucs), [tail, 100 - tail])
    return float(low), float(high)


def _resample_counts(rng, b: int, n: int) -> np.ndarray:
    """How often each of ``n`` items is drawn in each of ``b`` resamples of size n with replacement."""
    draws = rng.integers(0, n, (b, n)) + np.arange(b)[:, None] * n
    return np.bincount(draws.ravel(), minlength=b * n).reshape(b, n)


def pack_correct(correct: np.ndarray) -> str:
    """Per-image right (1) / wrong (0) as bit-packed hex: how gate.json keeps each file's test-split results, so
    that two files scored on the same images can be compared image by image (``mcnemar``)."""
    return np.packbits(np.asarray(correct, bool)).tobytes().hex()


def unpack_correct(packed: str, n: int) -> np.ndarray:
    """The ``n`` booleans ``pack_correct`` packed."""
    return np.unpackbits(np.frombuffer(bytes.fromhex(packed), np.uint8))[:n].astype(bool)


def mcnemar(a_correct: np.ndarray, b_correct: np.ndarray) -> dict:
    """Exact two-sided McNemar test of two classifiers on the same images: only the discordant images count,
    ``a_only`` (a right, b wrong) and ``b_only``; with no difference a_only ~ Binomial(a_only + b_only, 1/2)."""
    from scipy.stats import binomtest

    a, b = np.asarray(a_correct, bool), np.asarray(b_correct, bool)
    if a.shape != b.shape:
        raise ValueError(f"McNemar needs the same images: {a.shape} vs {b.shape}")
    a_only, b_only = int(np.sum(a & ~b)), int(np.sum(~a & b))
    p = 1.0 if a_only + b_only == 0 else float(binomtest(a_only, a_only + b_only, 0.5).pvalue)
    return {"a_only": a_only, "b_only": b_only, "n": int(a.size), "p": min(1.0, p)}


def threshold_for_recall(probs: np.ndarray, labels: np.ndarray, positive: int, target_recall: float) -> dict:
    """The highest threshold on the positive class's probability whose recall on (probs, labels) is >= target.

    Highest, so that precision is as good as the recall target allows. Returns the threshold and the
    recall and precision it reaches on this split.
    """
    if not 0 < target_recall <= 1:
        raise EdgetlError(f"--target-recall must be in (0, 1], got {target_recall}")
    probs, labels = np.asarray(probs), np.asarray(labels, np.int64)
    score = probs[:, positive]
    is_pos = labels == positive
    n_pos = int(is_pos.sum())
    if n_pos == 0:
        raise EdgetlError("the validation split has no image of the positive class; --target-recall needs some "
                          "(raise --val-ratio or add a val/ folder with that class)")
    ranked = np.sort(score[is_pos])[::-1]
    k = int(np.ceil(target_recall * n_pos - 1e-9))
    t = float(ranked[max(k, 1) - 1])
    pred = score >= t
    tp = int((pred & is_pos).sum())
    return {"threshold": t, "target_recall": float(target_recall), "val_recall": tp / n_pos,
            "val_precision": tp / max(int(pred.sum()), 1), "val_positives": n_pos}


def operating_point(score: np.ndarray, is_pos: np.ndarray, threshold: float, confidence: float = 0.95) -> dict:
    """Recall and specificity of "positive when score >= threshold", each with its Wilson interval, and the counts."""
    score, is_pos = np.asarray(score, np.float64), np.asarray(is_pos, bool)
    pred = score >= threshold
    tp, tn = int(np.sum(pred & is_pos)), int(np.sum(~pred & ~is_pos))
    n_pos, n_neg = int(np.sum(is_pos)), int(np.sum(~is_pos))
    r_low, r_high = wilson_interval(tp, n_pos, confidence)
    s_low, s_high = wilson_interval(tn, n_neg, confidence)
    return {"images": n_pos + n_neg, "positives": n_pos, "negatives": n_neg,
            "recall": tp / n_pos if n_pos else None, "recall_low": r_low, "recall_high": r_high,
            "specificity": tn / n_neg if n_neg else None, "specificity_low": s_low, "specificity_high": s_high,
            "precision": tp / max(int(pred.sum()), 1)}


def threshold_for_recall_bound(score: np.ndarray, is_pos: np.ndarray, target_recall: float,
                               confidence: float = 0.95) -> dict:
    """The highest threshold on ``score`` whose recall's lower Wilson bound (at ``confidence``) is >= the target.

    A recall measured on n positives is uncertain: 21 of 22 (0.955) has a 95% interval of 0.78-0.99. So the
    threshold is lowered until the interval's lower end, not the point estimate, reaches the target. When even
    recall 1.0 on these positives cannot get the lower bound there (n too small: 1.0 of 44 gives 0.92), the
    threshold is set for the target as a point estimate (``threshold_for_recall``'s rule) and ``guaranteed`` is
    False; ``note`` says which, in one line, with the best attainable lower bound."""
    if not 0 < target_recall <= 1:
        raise EdgetlError(f"--target-recall must be in (0, 1], got {target_recall}")
    score, is_pos = np.asarray(score, np.float64), np.asarray(is_pos, bool)
    n_pos = int(is_pos.sum())
    if n_pos == 0:
        raise EdgetlError("no image of the positive class to choose the threshold on; --target-recall needs some "
                          "(raise --val-ratio or add images of that class)")
    ranked = np.sort(score[is_pos])[::-1]
    point = max(int(np.ceil(target_recall * n_pos - 1e-9)), 1)  # positives above the threshold for recall >= R
    best = wilson_interval(n_pos, n_pos, confidence)[0]
    k = next((k for k in range(point, n_pos + 1) if wilson_interval(k, n_pos, confidence)[0] >= target_recall), None)
    guaranteed = k is not None
    t = float(ranked[(k if guaranteed else point) - 1])
    out = {"threshold": t, "target_recall": float(target_recall), "guaranteed": guaranteed,
           "confidence": confidence, "best_recall_low": best, **operating_point(score, is_pos, t, confidence)}
    pct = f"{100 * confidence:g}%"
    if guaranteed:
        out["note"] = (f"recall {out['recall']:.3f} on {n_pos} positives, {pct} lower bound "
                       f"{out['recall_low']:.3f} >= target {target_recall:g}")
    else:
        out["note"] = (f"with {n_pos} positives the best attainable {pct} lower bound is {best:.3f} (at recall 1.0), "
                       f"below {target_recall:g}: threshold set for recall >= {target_recall:g} as a point estimate")
    return out
