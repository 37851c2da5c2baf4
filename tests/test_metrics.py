"""Intervals and paired tests of edgetl.metrics against published or hand-computed values (fast tier)."""
from __future__ import annotations

import numpy as np
import pytest

from edgetl.metrics import auc_interval, classification_metrics, mcnemar, pack_correct, unpack_correct


def test_auc_interval_matches_hanley_mcneil_1982():
    # Hanley & McNeil (1982), Radiology 143:29-36, the CT example: A = 0.893 on 51 abnormal and 58 normal
    # images, SE 0.032 (their rounding): the 95% interval is A +- 1.96 SE.
    low, high = auc_interval(0.893, 51, 58)
    se = (high - low) / (2 * 1.96)
    assert se == pytest.approx(0.032, abs=0.0006)
    assert (low + high) / 2 == pytest.approx(0.893)
    # more images, narrower; a perfect AUC stays inside [0, 1]
    assert auc_interval(0.893, 510, 580)[0] > low
    assert auc_interval(1.0, 5, 5) == (1.0, 1.0)


def test_binary_metrics_carry_the_auc_interval():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 40)
    p1 = np.clip(0.5 + 0.25 * (labels - 0.5) + rng.normal(0, 0.2, len(labels)), 0, 1)
    m = classification_metrics(np.stack([1 - p1, p1], axis=1), labels, ["a", "b"])
    assert m["auc_low"] < m["auc"] < m["auc_high"]
    assert (m["auc_low"], m["auc_high"]) == auc_interval(m["auc"], 40, 40)
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
