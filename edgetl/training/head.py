"""Phase 1's head solver: the dense layer on cached pooled features, fitted as an L2 logistic regression."""
from __future__ import annotations

import numpy as np

from edgetl.training.model import TransferModel


HEAD_C = (0.01, 0.1, 1.0, 10.0)  # inverse L2 strengths tried for the linear head; 1.0 is scikit-learn's default


def logistic_regression(ftr, ltr, C: float, class_weight=None):
    """The head's solver at one L2 strength: a fitted scikit-learn LogisticRegression (L-BFGS, 3000 iterations)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LogisticRegression(C=C, max_iter=3000, class_weight=class_weight).fit(ftr, ltr)


def fit_linear_head(tm: TransferModel, ftr, ltr, fva, lva, class_weight=None, progress=None) -> dict:
    """Phase 1's head on cached features: a linear classifier on frozen features is a convex problem, so it is
    solved to convergence (L2-regularised logistic regression, L-BFGS) rather than by a few epochs of Adam, which
    underfit small sets (224 photos: validation loss still falling after 50 epochs) and stop on noise on larger
    ones. The L2 strength with the lowest validation loss is kept (1.0 without a validation split).
    ``progress`` shows one step per L2 strength tried, with the elapsed time (a fit can take minutes)."""
    from edgetl.progress import steps
    from edgetl.metrics import classification_metrics as metrics_of

    def probs(clf, x):
        p = clf.predict_proba(x)
        return p if p.shape[1] == tm.n_classes else np.zeros((len(x), tm.n_classes))

    names = [str(i) for i in range(tm.n_classes)]
    tried = {}
    strengths = HEAD_C if len(lva) else (1.0,)
    step = steps(progress, "phase 1 head")
    for i, c in enumerate(strengths):
        if step:
            step(f"logistic regression on {len(ftr)} x {ftr.shape[1]} features, C={c:g}", i, len(strengths))
        clf = logistic_regression(ftr, ltr, c, class_weight)
        val = metrics_of(probs(clf, fva), lva, names) if len(lva) else {"loss": None, "accuracy": None}
        tried[c] = (val["loss"], clf, val["accuracy"])
    if step:
        step(f"logistic regression on {len(ftr)} x {ftr.shape[1]} features, C chosen on validation loss",
             len(strengths), len(strengths))
    best = min(tried, key=lambda c: tried[c][0] if tried[c][0] is not None else 0.0)
    val_l, clf, val_acc = tried[best]
    dense = tm.head_layers[-1]
    dense.set_weights([clf.coef_.T.astype(np.float32), clf.intercept_.astype(np.float32)])
    train = metrics_of(probs(clf, ftr), ltr, names)
    # every L-BFGS iteration needs the loss and gradient over all training features: one pass over the data,
    # which without the feature cache would be one pass of the frozen base (bench_data's phase-1 speed-up)
    passes = int(sum(int(np.max(tried[c][1].n_iter_)) for c in tried))
    return {"head_solver": "logistic regression (L-BFGS, L2)", "C": best, "head_passes": passes,
            "val_loss_by_C": {str(c): tried[c][0] for c in tried},
            "loss": [train["loss"]], "accuracy": [train["accuracy"]],
            **({"val_loss": [val_l], "val_accuracy": [val_acc]} if val_l is not None else {}), "epochs_run": 1}
