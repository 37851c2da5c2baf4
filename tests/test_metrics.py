"""Intervals and paired tests of edgetl.metrics against published or hand-computed values (fast tier)."""
from __future__ import annotations

import numpy as np
import pytest

from edgetl.metrics import auc_interval, classification_metrics, mcnemar, pack_correct, unpack_correct


def _hanley_mcneil(a: float, n_pos: int, n_neg: int) -> float:
    """Hanley & McNeil's (1982) standard error of an AUC, a published formula to check the bootstrap against."""
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    return float(np.sqrt((a * (1 - a) + (n_pos - 1) * (q1 - a * a) + (n_neg - 1) * (q2 - a * a)) / (n_pos * n_neg)))


def test_auc_bootstrap_interval_agrees_with_hanley_mcneil_and_is_reproducible():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    is_pos = np.repeat([False, True], [234, 390])
    score = rng.normal(0, 1, len(is_pos)) + 1.3 * is_pos  # binormal, AUC about 0.82
    a = roc_auc_score(is_pos, score)
    low, high = auc_interval(is_pos, score)
    assert low < a < high
    # the bootstrap's width is within 15% of the normal approximation's +-1.96 SE on a sample this size
    assert (high - low) == pytest.approx(2 * 1.96 * _hanley_mcneil(a, 390, 234), rel=0.15)
    assert auc_interval(is_pos, score) == (low, high)  # seeded: the same scores, the same interval
    # ties count half, as roc_auc_score: integer scores from 3 levels
    coarse = np.round(score).clip(-1, 1)
    c_low, c_high = auc_interval(is_pos, coarse)
    assert c_low < roc_auc_score(is_pos, coarse) < c_high
    # ten times the images, a narrower interval; a perfect separation stays at 1
    big = np.repeat(is_pos, 10)
    b_low, b_high = auc_interval(big, rng.normal(0, 1, len(big)) + 1.3 * big)
    assert b_high - b_low < (high - low) / 2
    assert auc_interval(np.array([0, 0, 1, 1], bool), np.array([0.1, 0.2, 0.8, 0.9])) == (1.0, 1.0)


def test_binary_metrics_carry_the_auc_interval():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 40)
    p1 = np.clip(0.5 + 0.25 * (labels - 0.5) + rng.normal(0, 0.2, len(labels)), 0, 1)
    m = classification_metrics(np.stack([1 - p1, p1], axis=1), labels, ["a", "b"])
    assert m["auc_low"] < m["auc"] < m["auc_high"]
    assert (m["auc_low"], m["auc_high"]) == auc_interval(labels == 1, p1)
    one_class = classification_metrics(np.stack([1 - p1, p1], axis=1)[:40], labels[:40], ["a", "b"])
    assert one_class["auc"] is None and one_class["auc_low"] is None


def _pair(a_only, b_only, both=50, neither=10):
    a = np.array([True] * a_only + [False] * b_only + [True] * both + [False] * neither)
    b = np.array([False] * a_only + [True] * b_only + [True] * both + [False] * neither)
    return a, b


@pytest.mark.parametrize("a_only, b_only, p", [
    (3, 2, 1.0),  # the binomial is symmetric about 2.5: nothing to see
    (1, 9, 22 / 1024),  # 2 P(X <= 1), X ~ Bin(10, 1/2) = 2 (1 + 10) / 1024
    (10, 0, 2 / 1024),
    (5, 2, 58 / 128),  # 2 (C(7,5) + C(7,6) + C(7,7)) / 2^7
    (0, 0, 1.0),
])
def test_exact_mcnemar_counts_discordant_images_only(a_only, b_only, p):
    t = mcnemar(*_pair(a_only, b_only))
    assert (t["a_only"], t["b_only"]) == (a_only, b_only) and t["p"] == pytest.approx(p)
    assert mcnemar(*_pair(a_only, b_only, both=500, neither=300))["p"] == pytest.approx(p)  # concordant: no effect


def test_per_image_results_survive_packing():
    ok = np.random.default_rng(1).random(269) < 0.9
    assert unpack_correct(pack_correct(ok), 269).tolist() == ok.tolist()
    assert len(pack_correct(ok)) == 2 * 34  # 269 bits in 34 bytes


def test_accuracy_carries_its_wilson_interval_in_every_metrics_dict():
    from edgetl.metrics import classification_metrics, wilson_interval

    probs = np.array([[0.9, 0.1]] * 8 + [[0.2, 0.8]] * 2)
    labels = np.array([0] * 7 + [1] * 3)
    m = classification_metrics(probs, labels, ["a", "b"])
    assert m["accuracy"] == 0.9
    assert (m["accuracy_low"], m["accuracy_high"]) == wilson_interval(9, 10)
    assert 0.59 < m["accuracy_low"] < 0.6 and 0.98 < m["accuracy_high"] < 0.99  # Wilson 9/10: [0.596, 0.982]


@pytest.mark.parametrize("k,n", [(144, 144), (10, 10), (0, 5), (0, 144), (3, 7)])
def test_the_wilson_interval_always_holds_its_own_proportion(k, n):
    """At k = n the formula's upper end rounds to 0.9999999999999999 (144/144), and a plot's error bar below the
    point then has a negative length (matplotlib refuses it: `edgetl search` crashed on chest X-rays)."""
    from edgetl.metrics import wilson_interval

    lo, hi = wilson_interval(k, n)
    assert 0.0 <= lo <= k / n <= hi <= 1.0
    assert (k < n or hi == 1.0) and (k > 0 or lo == 0.0)


def test_per_class_precision_and_recall_carry_wilson_intervals_on_their_own_n():
    from edgetl.metrics import wilson_interval, with_interval

    labels = np.array([0] * 10 + [1] * 10)
    pred = np.array([0] * 8 + [1] * 2 + [1] * 9 + [0] * 1)  # class 0: 8 right of 9 predicted, of 10 true
    probs = np.eye(2)[pred]
    m = classification_metrics(probs, labels, ["a", "b"])
    a = m["per_class"]["a"]
    assert a["predicted"] == 9 and a["support"] == 10
    assert (a["precision_low"], a["precision_high"]) == wilson_interval(8, 9)
    assert (a["recall_low"], a["recall_high"]) == wilson_interval(8, 10)
    assert (m["precision_low"], m["recall_low"]) == (wilson_interval(9, 11)[0], wilson_interval(9, 10)[0])  # "b"
    assert with_interval(a["precision"], a["precision_low"], a["precision_high"]).startswith("0.889 [0.")
    assert with_interval(None, None, None) == "n/a" and with_interval(0.5, None, None) == "0.500"
