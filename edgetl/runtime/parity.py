"""The parity gate: an artifact must predict what the Keras model predicts on real images.

Both runners go through their own contracts (``runtime.Runner.predict``), so a wrong
normalisation, dtype, scale or zero point in an artifact's contract shows up here as disagreement.

The decision rule (docs/quantize.md, "The parity gate"): top-1 agreement with the Keras model
is counted on a stratified, seeded sample of the validation split (the whole split when it has at
most ``WHOLE_SPLIT_MAX`` images), and its two-sided ``GATE_CONFIDENCE`` Wilson interval decides:

* ``pass``         the lower bound is at or above the threshold: the evidence says the file is not worse;
* ``refuse``       the upper bound is below the threshold: the evidence says it is worse; not written;
* ``inconclusive`` the interval contains the threshold: too few images to tell either way. The file
  is written (nothing shows it is worse) but its record says "inconclusive" and a warning names
  the fix (more images); ``edgetl run`` reports it.

Every result is saved in RUN_DIR/``GATE_FILE`` keyed by artifact file name (with the file's sha256,
so a record never describes a different file): report, compare and inspect read it back.
"""
from __future__ import annotations


import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from edgetl.errors import EdgetlError
from edgetl.metrics import wilson_interval  # noqa: F401  (also edgetl.runtime.parity.wilson_interval)
from edgetl.fsutil import file_sha256

GATE_CONFIDENCE = 0.95
WHOLE_SPLIT_MAX = 2000  # validation splits up to this size are used whole by default
DEFAULT_SAMPLE = 1000  # stratified sample size from a larger split
GATE_FILE = "gate.json"
VERDICTS = ("pass", "inconclusive", "refuse")
# The largest reference margin that can count as a tie: two steps of an 8-bit probability output (scale 1/256),
# the resolution of the uint8 softmax an int8 file ends in. A derived tolerance, not one CPU's rounding.
TIE_CAP = 2 / 256

def decide(k: int, n: int, threshold: float, confidence: float = GATE_CONFIDENCE) -> tuple[str, tuple[float, float]]:
    """("pass" | "inconclusive" | "refuse", (low, high)): the gate's rule on k agreements out of n (module doc)."""
    lo, hi = wilson_interval(k, n, confidence)
    if lo >= threshold:
        return "pass", (lo, hi)
    if hi < threshold:
        return "refuse", (lo, hi)
    return "inconclusive", (lo, hi)


def mcnemar_worse_p(ref_correct: np.ndarray, got_correct: np.ndarray) -> Optional[float]:
    """One-sided exact McNemar p-value that the artifact is less accurate than the reference.

    Only the discordant images count: b = reference right and artifact wrong, c = the reverse;
    under "no accuracy loss" b ~ Binomial(b + c, 1/2). None without labelled images.
    """
    ref_correct, got_correct = np.asarray(ref_correct, bool), np.asarray(got_correct, bool)
    if ref_correct.size == 0:
        return None
    b = int(np.sum(ref_correct & ~got_correct))
    c = int(np.sum(~ref_correct & got_correct))
    m = b + c
    if m == 0:
        return 1.0
    return float(sum(math.comb(m, i) for i in range(b, m + 1)) / 2 ** m)


def stratified_sample(labels: np.ndarray, n: Optional[int], seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded sample of ``n`` items, each class in proportion to its share (every class at
    least once when n allows); all indices when ``n`` is None or not smaller than the population."""
    labels = np.asarray(labels)
    if n is None or n >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * n / len(labels)
    take = np.floor(exact).astype(int)
    if n >= len(classes):
        take = np.maximum(take, 1)
    while take.sum() > n:  # the "at least one" floor overshot: trim the largest shares
        take[np.argmax(take - exact)] -= 1
    for i in np.argsort(-(exact - take), kind="stable"):  # largest remainders first
        if take.sum() >= n:
            break
        if take[i] < counts[i]:
            take[i] += 1
    picked = [rng.choice(np.flatnonzero(labels == c), size=t, replace=False) for c, t in zip(classes, take) if t > 0]
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, int)


def gate_sample(labels: np.ndarray, parity_images: Optional[int], seed: int = 0) -> np.ndarray:
    """The gate's images: the whole split when ``parity_images`` is None and the split is small
    (<= WHOLE_SPLIT_MAX), else a stratified seeded sample of ``parity_images`` (default DEFAULT_SAMPLE)."""
    labels = np.asarray(labels)
    if parity_images is None:
        n = None if len(labels) <= WHOLE_SPLIT_MAX else DEFAULT_SAMPLE
    else:
        n = int(parity_images)
    return stratified_sample(labels, n, seed)


def fix_hint(fmt) -> str:
    """The refusal's suggested fix: the ``refusal_hint`` of the format (or of its name) in the registry."""
    from edgetl.formats.registry import FORMATS

    hint = getattr(fmt, "refusal_hint", None)
    known = FORMATS.get(getattr(fmt, "name", None))
    return hint or (known.refusal_hint if known else "use a float mode")


def check_parity(reference_runner, artifact_runner, pixels: np.ndarray, min_agreement: float,
                 *, reference_probs: Optional[np.ndarray] = None, remove_on_fail: bool = False, fmt=None,
                 raise_on_refuse: bool = True) -> dict:
    """Top-1 agreement of ``artifact_runner`` with ``reference_runner``, its Wilson interval and the verdict.

    The verdict follows the module's rule. A "refuse" raises EdgetlError (unless ``raise_on_refuse``
    is False) naming the interval, n and the fix for ``fmt``'s mode. Callers gate a temporary file
    (see ``tflite.converter.write_tflite``), so a refused artifact never reaches its final name; with
    ``remove_on_fail`` the artifact file (and its ``.json`` contract) is deleted as well.
    """
    pixels = np.asarray(pixels)
    if len(pixels) == 0:
        raise EdgetlError("the parity gate needs at least one image; pass --data DIR with the run's class folders")
    ref = reference_probs if reference_probs is not None else reference_runner.predict(pixels)
    got = artifact_runner.predict(pixels)
    name = display_name(artifact_runner)
    if ref.shape != got.shape:
        _discard(artifact_runner, remove_on_fail)
        raise EdgetlError(f"{name} outputs shape {got.shape[1:]} but the Keras model {ref.shape[1:]}; "
                          "its contract does not belong to this model, re-export it")
    n = int(len(pixels))
    contract = reference_runner.contract
    same = contract.decide(ref) == artifact_runner.contract.decide(got)  # binary: at the threshold
    ties = _ties(contract, ref, got)
    decided = int(np.sum(~ties))
    k = int(np.sum(same & ~ties))
    if decided:
        verdict, (lo, hi) = decide(k, decided, float(min_agreement))
    else:  # nothing but ties: no evidence either way
        verdict, (lo, hi) = "inconclusive", (0.0, 1.0)
    result = {
        "agreement": k / decided if decided else None,
        "agreement_low": lo,
        "agreement_high": hi,
        "confidence": GATE_CONFIDENCE,
        "max_abs_diff": float(np.max(np.abs(ref - got))),
        "parity_images": n,
        "decided_images": decided,
        "ties": n - decided,
        "tie_flips": int(np.sum(~same & ties)),
        "min_agreement": float(min_agreement),
        "gate": verdict,
    }
    if verdict == "refuse" and raise_on_refuse:
        _discard(artifact_runner, remove_on_fail)
        raise refusal(name, result, fmt)
    return result


def _ties(contract, ref: np.ndarray, got: np.ndarray) -> np.ndarray:
    """``metrics.tie_mask`` under ``contract``'s decision (its positive class and threshold, if any)."""
    from edgetl.metrics import tie_mask

    positive = contract.positive_index() if hasattr(contract, "positive_index") else None
    return tie_mask(ref, got, TIE_CAP, positive, getattr(contract, "threshold", None))


def display_name(runner) -> str:
    return getattr(runner, "display_name", None) or Path(runner.path).name


def summary(rec: dict) -> str:
    """"agreement 98.7% [96.2%, 99.6%] on 225 images, threshold 99%": the gate's evidence in one phrase."""
    n, decided = rec["parity_images"], rec.get("decided_images", rec["parity_images"])
    ties = f" ({n - decided} ties set apart, docs/quantize.md \"Ties\")" if decided != n else ""
    if rec["agreement"] is None:
        return f"all {n} images are ties: the reference's outputs are too flat to judge the file, threshold {rec['min_agreement']:.0%}"
    return (f"agreement {rec['agreement']:.1%} [{rec['agreement_low']:.1%}, {rec['agreement_high']:.1%}] "
            f"({rec.get('confidence', GATE_CONFIDENCE):.0%} Wilson) on {decided} images{ties}, "
            f"threshold {rec['min_agreement']:.0%}")


def refusal(name: str, rec: dict, fmt=None) -> EdgetlError:
    return EdgetlError(
        f"parity gate refused {name}: {summary(rec)}, max |dp| {rec['max_abs_diff']:.3f}: even the upper bound is "
        f"below the threshold; the file was not written. Fix: {fix_hint(fmt)}; or lower the threshold with --min-agreement")


def inconclusive_warning(name: str, rec: dict) -> str:
    if rec["agreement"] is None:
        return (f"parity gate inconclusive for {name}: {summary(rec)}; the file was written and its record says so. "
                "A model this unsure (e.g. barely trained) cannot vouch for a copy: train longer, then quantize again")
    return (f"parity gate inconclusive for {name}: {summary(rec)}: too few images to tell, the file was written and "
            "its record says so; for a decision gate on more images (--parity-images N, a larger validation split)")


def _discard(runner, remove: bool) -> None:
    if not remove:
        return
    from edgetl.runtime.registry import contract_files

    p = Path(runner.path)
    for f in (p, *contract_files(p)):  # the file and its contract beside it (runtime registry)
        if f.is_file():
            f.unlink()


def split_accuracy(runner, splits, name: str = "test") -> Optional[float]:
    """Accuracy through the artifact's contract (its binary decision if it has one, else top-1) on split ``name`` of
    a run's splits, in memory or streamed batch by batch (``data.access``); None without images."""
    from edgetl.data.access import predict_split

    probs, labels = predict_split(runner.predict, splits, name, runner.contract)
    return float(np.mean(runner.contract.decide(probs) == labels)) if len(labels) else None


@dataclass
class Gate:
    """What each new artifact is checked against: the Keras runner, parity images, eval data, thresholds.

    ``thresholds`` overrides the registry defaults, by format name ("tflite:int8", "onnx:float32")
    or, for TFLite, by mode ("int8"). ``pixels`` is the gate's sample (``gate_sample``). Every check
    is saved in the artifact's folder (``save_record``), refusals included.
    """

    reference: object  # a runtime.Runner (KerasRunner)
    pixels: np.ndarray  # uint8 NHWC, the gate's sample of the run's validation images
    thresholds: dict = field(default_factory=dict)
    eval_pixels: Optional[np.ndarray] = None  # the run's test split, for accuracy
    eval_labels: Optional[np.ndarray] = None
    pixels_source: str = "val"
    save: bool = True
    # or, for data that is not held in memory: runner -> (probabilities, labels) of the test split (streamed)
    eval_with: Optional[Callable] = None
    _ref_probs: Optional[np.ndarray] = None
    _ref_eval_probs: Optional[np.ndarray] = None

    def reference_probs(self) -> np.ndarray:
        if self._ref_probs is None:
            self._ref_probs = self.reference.predict(self.pixels)
        return self._ref_probs

    def _predict_eval(self, runner) -> tuple[np.ndarray, np.ndarray]:
        if self.eval_with is not None:
            return self.eval_with(runner)
        return runner.predict(self.eval_pixels), np.asarray(self.eval_labels)

    def _has_eval(self) -> bool:
        return self.eval_with is not None or (self.eval_pixels is not None and len(self.eval_pixels) > 0)

    def _reference_eval(self) -> Optional[np.ndarray]:
        if self._ref_eval_probs is None and self._has_eval():
            probs, labels = self._predict_eval(self.reference)
            if len(labels):
                self._ref_eval_probs, self.eval_labels = probs, labels
        return self._ref_eval_probs

    def reference_accuracy(self) -> Optional[float]:
        ref = self._reference_eval()
        return None if ref is None else float(np.mean(self.reference.contract.decide(ref) == np.asarray(self.eval_labels)))

    def check(self, fmt, runner) -> dict:
        """Parity, then test accuracy and McNemar of ``runner`` (an opened artifact of format ``fmt``); saved.

        Raises EdgetlError on "refuse"; an "inconclusive" record carries ``gate_warning``.
        """
        from edgetl.formats.registry import threshold
        from edgetl.metrics import pack_correct

        rec = check_parity(self.reference, runner, self.pixels, threshold(fmt, self.thresholds),
                           reference_probs=self.reference_probs(), fmt=fmt, raise_on_refuse=False)
        rec["parity_source"] = self.pixels_source
        rec["keras_accuracy"] = self.reference_accuracy()
        rec["accuracy"] = rec["accuracy_n"] = rec["mcnemar_p"] = rec["test_correct"] = None
        ref_eval = self._reference_eval()
        if ref_eval is not None:
            truth = np.asarray(self.eval_labels)
            got, got_labels = self._predict_eval(runner)
            if not np.array_equal(np.asarray(got_labels), truth):  # a file became unreadable between the two passes
                raise EdgetlError("the test images changed while the gate read them; run the command again")
            got_ok = runner.contract.decide(got) == truth  # its decision, as evaluate
            rec["accuracy"], rec["accuracy_n"] = float(np.mean(got_ok)), int(len(truth))
            rec["mcnemar_p"] = mcnemar_worse_p(self.reference.contract.decide(ref_eval) == truth, got_ok)
            rec["test_correct"] = pack_correct(got_ok)  # per test image, for paired tests between files (report)
        name = display_name(runner)
        if rec["gate"] == "inconclusive":
            rec["gate_warning"] = inconclusive_warning(name, rec)
        if self.save:
            save_record(runner, fmt, rec)
        if rec["gate"] == "refuse":
            raise refusal(name, rec, fmt)
        return rec


# ---- the saved gate records ----------------------------------------------------------------------

RECORD_KEYS = ("format", "gate", "agreement", "agreement_low", "agreement_high", "confidence", "parity_images",
               "decided_images", "ties", "tie_flips", "parity_source", "min_agreement", "max_abs_diff", "accuracy",
               "accuracy_n", "keras_accuracy", "mcnemar_p", "test_correct")


def save_record(runner, fmt, rec: dict) -> Path:
    """Add this check to ARTIFACT_DIR/gate.json under the artifact's final file name.

    ``runner.path`` may be the temporary file the artifact is gated under (same bytes as the final
    file), so the sha256 identifies the final file; a refused file gets ``sha256`` None.
    """
    from edgetl.fsutil import read_json, write_json

    name = display_name(runner)
    path = Path(runner.path).parent / GATE_FILE
    try:
        records = read_json(path) if path.is_file() else {}
    except (OSError, ValueError):
        records = {}
    if not isinstance(records, dict):
        records = {}
    entry = {k: rec.get(k) for k in RECORD_KEYS}
    entry["format"] = getattr(fmt, "name", None)
    entry["sha256"] = None if rec["gate"] == "refuse" else file_sha256(runner.path)
    records[name] = entry
    write_json(path, records)
    return path


def annotate_record(artifact, **fields) -> None:
    """Add ``fields`` (e.g. what `quantize --auto` kept in float, and why) to ``artifact``'s saved gate record."""
    from edgetl.fsutil import write_json

    artifact = Path(artifact)
    path = artifact.parent / GATE_FILE
    records = load_records(artifact.parent)
    if artifact.name in records and isinstance(records[artifact.name], dict):
        records[artifact.name].update(fields)
        write_json(path, records)


def load_records(folder) -> dict:
    """{file name: gate record} of a run folder (empty when none was saved)."""
    from edgetl.fsutil import mapping_of, read_checked_json

    path = Path(folder) / GATE_FILE
    if not path.exists():
        return {}
    return read_checked_json(path, lambda d: mapping_of(d, "object of file name -> gate record", object_values=True),
                             "delete it and re-run `edgetl quantize`/`convert` to re-gate")


def record_for(artifact) -> Optional[dict]:
    """The saved gate record of ``artifact`` when it still describes this very file (same sha256), else None."""
    artifact = Path(artifact)
    rec = load_records(artifact.parent).get(artifact.name)
    if not rec or not artifact.is_file() or rec.get("sha256") != file_sha256(artifact):
        return None
    return rec
