"""The parity gate's statistics and records (issue 12, item 4): fast, no TensorFlow."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from edgetl.errors import EdgetlError
from edgetl.runtime import parity


@pytest.mark.parametrize("k, n, low, high", [
    (81, 263, 0.2553, 0.3662),  # Newcombe (1998), Stat. Med. 17:857, example (a)
    (15, 148, 0.0624, 0.1605),  # example (b)
    (0, 20, 0.0, 0.1611),  # example (c)
    (1, 29, 0.0061, 0.1718),  # example (d)
    (10, 10, 0.7225, 1.0),
])
def test_wilson_interval_matches_published_values(k, n, low, high):
    lo, hi = parity.wilson_interval(k, n, 0.95)
    assert lo == pytest.approx(low, abs=1e-4) and hi == pytest.approx(high, abs=1e-4)


def test_decision_rule_both_ways_and_the_middle():
    assert parity.decide(1000, 1000, 0.99)[0] == "pass"  # lower bound 0.9962 >= 0.99
    assert parity.decide(225, 225, 0.99)[0] == "inconclusive"  # 225 images cannot show 99% (lower bound 0.983)
    assert parity.decide(222, 225, 0.99)[0] == "inconclusive"  # the 98.7%: not evidence of worse either
    assert parity.decide(29, 30, 0.99)[0] == "inconclusive"  # one flip in 30 is a coin toss, not a refusal
    assert parity.decide(200, 225, 0.99)[0] == "refuse"  # upper bound 0.922 < 0.99
    assert parity.decide(440, 450, 0.95)[0] == "pass"
    verdict, (lo, hi) = parity.decide(80, 100, 0.95)
    assert verdict == "refuse" and hi < 0.95 and lo < 0.8 < hi


def test_mcnemar_counts_only_discordant_images():
    ref = np.array([1, 1, 1, 1, 0, 0], bool)
    assert parity.mcnemar_worse_p(ref, ref) == 1.0
    # b = 4 (ref right, artifact wrong), c = 0: P(X >= 4 | Bin(4, 1/2)) = 1/16
    assert parity.mcnemar_worse_p(ref, np.zeros(6, bool)) == pytest.approx(1 / 16)
    # one each way: no evidence of loss
    assert parity.mcnemar_worse_p(np.array([1, 0], bool), np.array([0, 1], bool)) == pytest.approx(0.75)


def test_stratified_sample_covers_every_class_in_proportion_and_is_seeded():
    labels = np.repeat(np.arange(5), [45, 45, 60, 30, 45])  # sorted by class, as the splits are
    idx = parity.stratified_sample(labels, 100, seed=0)
    assert len(idx) == 100 and len(set(idx)) == 100 and np.all(np.diff(idx) > 0)
    counts = np.bincount(labels[idx], minlength=5)
    assert counts.tolist() == [20, 20, 27, 13, 20]  # 100 * share: 20, 20, 26.7, 13.3, 20 (largest remainder)
    assert np.array_equal(idx, parity.stratified_sample(labels, 100, seed=0))
    assert not np.array_equal(idx, parity.stratified_sample(labels, 100, seed=1))
    # the first 100 would have missed classes 3 and 4 entirely
    assert set(labels[:100]) == {0, 1, 2} and set(labels[idx]) == {0, 1, 2, 3, 4}


def test_stratified_sample_keeps_a_rare_class_and_the_whole_split_when_asked():
    labels = np.array([0] * 98 + [1] * 2)
    idx = parity.stratified_sample(labels, 10, seed=3)
    assert len(idx) == 10 and 1 in labels[idx]
    assert np.array_equal(parity.stratified_sample(labels, None), np.arange(100))
    assert np.array_equal(parity.stratified_sample(labels, 500), np.arange(100))


def test_gate_sample_defaults_to_the_whole_small_split():
    small = np.arange(225) % 5
    assert len(parity.gate_sample(small, None)) == 225
    big = np.arange(parity.WHOLE_SPLIT_MAX + 1) % 5
    assert len(parity.gate_sample(big, None)) == parity.DEFAULT_SAMPLE
    assert len(parity.gate_sample(small, 50)) == 50


class FakeRunner:
    """A runner that predicts fixed probabilities per image index (pixels carry the index)."""

    def __init__(self, path, probs, name=None):
        self.path = Path(path)
        self.probs = probs
        self.display_name = name
        self.contract = SimpleNamespace(decide=lambda p: np.asarray(p).argmax(1))  # multi-class: top-1

    def predict(self, pixels):
        return self.probs[np.asarray(pixels)[:, 0, 0, 0].astype(int)]


def _probs(pred, classes=3):
    out = np.full((len(pred), classes), 0.1, np.float32)
    out[np.arange(len(pred)), pred] = 0.8
    return out


def _gate(tmp_path, ref_pred, got_pred, truth, **kw):
    n = len(ref_pred)
    pixels = np.zeros((n, 1, 1, 3), np.uint8)
    pixels[:, 0, 0, 0] = np.arange(n)
    art = tmp_path / ".tmp-model_int8.tflite"
    art.write_bytes(b"artifact bytes")
    ref = FakeRunner(tmp_path / "model.keras", _probs(ref_pred))
    got = FakeRunner(art, _probs(got_pred), name="model_int8.tflite")
    gate = parity.Gate(ref, pixels, kw.pop("thresholds", {}), pixels, np.asarray(truth), "val")
    return gate, got


FMT = SimpleNamespace(name="tflite:int8", mode="int8", runtime="tflite", min_agreement=0.95)


def test_gate_saves_a_pass_with_interval_n_accuracy_and_sha(tmp_path, monkeypatch):
    monkeypatch.setattr("edgetl.formats.registry.threshold", lambda fmt, over=None: 0.95)
    truth = np.arange(250) % 3
    gate, got = _gate(tmp_path, truth, truth, truth)
    rec = gate.check(FMT, got)
    assert rec["gate"] == "pass" and rec["agreement"] == 1.0 and rec["parity_images"] == 250
    saved = json.loads((tmp_path / parity.GATE_FILE).read_text())["model_int8.tflite"]
    assert saved["gate"] == "pass" and saved["agreement_low"] == pytest.approx(rec["agreement_low"])
    assert saved["accuracy"] == 1.0 and saved["max_abs_diff"] == 0.0 and saved["format"] == "tflite:int8"
    # record_for reads it back for the final file with the same bytes, and drops it once the file changes
    final = tmp_path / "model_int8.tflite"
    final.write_bytes(b"artifact bytes")
    assert parity.record_for(final)["gate"] == "pass"
    final.write_bytes(b"another model")
    assert parity.record_for(final) is None


def test_gate_refuses_only_on_evidence_saves_the_refusal_and_names_the_modes_fix(tmp_path, monkeypatch):
    monkeypatch.setattr("edgetl.formats.registry.threshold", lambda fmt, over=None: 0.95)
    truth = np.arange(200) % 3
    worse = truth.copy()
    worse[:40] = (worse[:40] + 1) % 3  # 80% agreement
    gate, got = _gate(tmp_path, truth, worse, truth)
    dynamic = SimpleNamespace(name="tflite:dynamic", mode="dynamic", runtime="tflite", min_agreement=0.95)
    with pytest.raises(EdgetlError) as err:
        gate.check(dynamic, got)
    msg = str(err.value)
    assert "refused model_int8.tflite" in msg and "on 200 images" in msg and "[" in msg
    assert "--calibration-images" not in msg and "calibration cannot help" in msg
    saved = json.loads((tmp_path / parity.GATE_FILE).read_text())["model_int8.tflite"]
    assert saved["gate"] == "refuse" and saved["sha256"] is None and saved["mcnemar_p"] < 1e-6
    from edgetl.metrics import unpack_correct

    assert unpack_correct(saved["test_correct"], 200).tolist() == (worse == truth).tolist()  # per test image
    with pytest.raises(EdgetlError, match="--calibration-images"):
        gate.check(FMT, got)


def test_gate_inconclusive_writes_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setattr("edgetl.formats.registry.threshold", lambda fmt, over=None: 0.99)
    truth = np.arange(30) % 3
    one_flip = truth.copy()
    one_flip[0] = (one_flip[0] + 1) % 3
    gate, got = _gate(tmp_path, truth, one_flip, truth)
    rec = gate.check(FMT, got)
    assert rec["gate"] == "inconclusive" and "--parity-images" in rec["gate_warning"] and "on 30 images" in rec["gate_warning"]


def test_a_corrupt_gate_file_is_one_line(tmp_path):
    (tmp_path / parity.GATE_FILE).write_text("{not json")
    with pytest.raises(EdgetlError, match="damaged: .*gate.json .not valid JSON"):
        parity.load_records(tmp_path)


def test_report_reads_the_saved_gate_record(tmp_path, monkeypatch):
    from edgetl.report.markdown import gate_cell

    monkeypatch.setattr("edgetl.formats.registry.threshold", lambda fmt, over=None: 0.95)
    truth = np.arange(250) % 3
    gate, got = _gate(tmp_path, truth, truth, truth)
    gate.check(FMT, got)
    final = tmp_path / "model_int8.tflite"
    final.write_bytes(b"artifact bytes")
    assert gate_cell(final) == "pass 100.0% [98.5-100.0%] n=250"
    from edgetl.metrics import unpack_correct
    from edgetl.report.markdown import artifact_rows

    (row,) = artifact_rows({"benchmark": {"results": [{"artifact": str(final), "p50_ms": 1.0}]}})
    assert row["gate"] == gate_cell(final) and unpack_correct(row["test_correct"], 250).all()  # for McNemar
    final.write_bytes(b"retrained")  # a stale record is not shown
    assert gate_cell(final) is None


def _flat_case(n=10, classes=10, seed=0):
    """Issue 22's case: a barely trained model (outputs ~1/classes), the file moves each probability by at most
    0.002 and every top-1 flips. Built from numbers, so it reproduces on any host whatever its int8 rounding."""
    rng = np.random.default_rng(seed)
    ref = np.full((n, classes), 1 / classes) + rng.uniform(-0.001, 0.001, (n, classes))
    top, second = np.argsort(-ref, axis=1)[:, 0], np.argsort(-ref, axis=1)[:, 1]
    got = ref.copy()
    rows = np.arange(n)
    gap = ref[rows, top] - ref[rows, second]
    got[rows, top] -= gap / 2 + 0.0005  # swap the two leaders by moving each half the gap and a bit more
    got[rows, second] += gap / 2 + 0.0005
    return ref.astype(np.float32), got.astype(np.float32)


def test_flat_outputs_with_flipped_ties_are_inconclusive_not_refused(tmp_path, monkeypatch):
    monkeypatch.setattr("edgetl.formats.registry.threshold", lambda fmt, over=None: 0.95)
    ref_p, got_p = _flat_case()
    assert np.max(np.abs(ref_p - got_p)) <= 0.002 and np.all(ref_p.argmax(1) != got_p.argmax(1))
    pixels = np.zeros((len(ref_p), 1, 1, 3), np.uint8)
    pixels[:, 0, 0, 0] = np.arange(len(ref_p))
    art = tmp_path / ".tmp-model_int8.tflite"
    art.write_bytes(b"bytes")
    gate = parity.Gate(FakeRunner(tmp_path / "model.keras", ref_p), pixels, {})
    rec = gate.check(FMT, FakeRunner(art, got_p, name="model_int8.tflite"))
    # before: "agreement 0.0% [0.0%, 27.8%] on 10 images" -> refused; now every image is a tie
    assert rec["gate"] == "inconclusive" and rec["ties"] == 10 and rec["tie_flips"] == 10
    assert rec["decided_images"] == 0 and rec["agreement"] is None
    assert "ties" in rec["gate_warning"] and "train longer" in rec["gate_warning"]
    saved = json.loads((tmp_path / parity.GATE_FILE).read_text())["model_int8.tflite"]
    assert saved["ties"] == 10 and saved["gate"] == "inconclusive" and saved["sha256"]


def test_ties_are_set_apart_and_confident_flips_still_refuse(tmp_path, monkeypatch):
    monkeypatch.setattr("edgetl.formats.registry.threshold", lambda fmt, over=None: 0.95)
    flat_ref, flat_got = _flat_case(n=20, classes=3, seed=1)
    truth = np.arange(200) % 3
    conf_ref = _probs(truth)  # margin 0.7
    worse = truth.copy()
    worse[:40] = (worse[:40] + 1) % 3
    conf_got = _probs(worse)
    ref_p = np.concatenate([conf_ref, flat_ref]).astype(np.float32)
    got_p = np.concatenate([conf_got, flat_got]).astype(np.float32)
    n = len(ref_p)
    pixels = np.zeros((n, 1, 1, 3), np.uint8)
    runner_pixels = np.arange(n)  # uint8 pixels cannot carry 220 indices: the fakes answer for the whole batch
    ref = FakeRunner(tmp_path / "model.keras", ref_p)
    got = FakeRunner(tmp_path / "m.tflite", got_p, name="m.tflite")
    ref.predict = lambda px: ref_p[runner_pixels]
    got.predict = lambda px: got_p[runner_pixels]
    rec = parity.check_parity(ref, got, pixels, 0.95, raise_on_refuse=False)
    assert rec["ties"] == 20 and rec["decided_images"] == 200
    assert rec["agreement"] == pytest.approx(0.8) and rec["gate"] == "refuse"  # as strict as before on confident ones
    assert "20 ties set apart" in parity.summary(rec)


def test_a_badly_wrong_file_cannot_excuse_flips_with_its_own_error():
    """The tie tolerance is capped at two 8-bit output steps: a margin of 0.05 flipped by a large error counts."""
    from edgetl.metrics import tie_mask

    ref = np.array([[0.525, 0.475], [0.9, 0.1], [0.501, 0.499]])
    got = np.array([[0.2, 0.8], [0.1, 0.9], [0.501, 0.499]])
    assert tie_mask(ref, got, parity.TIE_CAP).tolist() == [False, False, False]  # an exact copy decides every image
    got[2] = [0.499, 0.501]
    assert tie_mask(ref, got, parity.TIE_CAP).tolist() == [False, False, True]


def test_binary_threshold_ties_count_the_distance_to_the_threshold():
    from edgetl.metrics import tie_mask

    ref = np.array([[0.699, 0.301], [0.2, 0.8]])  # positive class 1, threshold 0.3
    got = np.array([[0.701, 0.299], [0.19, 0.81]])
    assert tie_mask(ref, got, parity.TIE_CAP, positive=1, threshold=0.3).tolist() == [True, False]
