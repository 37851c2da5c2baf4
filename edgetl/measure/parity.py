"""The parity gate: an artifact must predict what the Keras model predicts on real images.

Both runners go through their own contracts (``runtime.Runner.predict``), so a wrong
normalisation, dtype, scale or zero point in an artifact's contract shows up here as disagreement.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from edgetl.errors import EdgetlError


def check_parity(reference_runner, artifact_runner, pixels: np.ndarray, min_agreement: float,
                 *, reference_probs: Optional[np.ndarray] = None, remove_on_fail: bool = False) -> dict:
    """Top-1 agreement and max |probability difference| of ``artifact_runner`` vs ``reference_runner``.

    Raises EdgetlError when agreement < ``min_agreement``. Callers gate a temporary file (see
    ``quantize.convert_tflite``), so a refused artifact never reaches its final name; with
    ``remove_on_fail`` the artifact file (and its ``.json`` contract) is deleted as well.
    """
    pixels = np.asarray(pixels)
    if len(pixels) == 0:
        raise EdgetlError("the parity gate needs at least one image; pass --data DIR with the run's class folders")
    ref = reference_probs if reference_probs is not None else reference_runner.predict(pixels)
    got = artifact_runner.predict(pixels)
    name = getattr(artifact_runner, "display_name", None) or Path(artifact_runner.path).name
    if ref.shape != got.shape:
        _discard(artifact_runner, remove_on_fail)
        raise EdgetlError(f"{name} outputs shape {got.shape[1:]} but the Keras model {ref.shape[1:]}; "
                          "its contract does not belong to this model, re-export it")
    agree = float(np.mean(ref.argmax(1) == got.argmax(1)))
    result = {
        "agreement": agree,
        "max_abs_diff": float(np.max(np.abs(ref - got))),
        "parity_images": int(len(pixels)),
        "min_agreement": float(min_agreement),
    }
    if agree < min_agreement:
        _discard(artifact_runner, remove_on_fail)
        raise EdgetlError(
            f"parity gate refused {name}: top-1 agreement with Keras {agree:.1%} < "
            f"{min_agreement:.0%} on {len(pixels)} images (max |dp| {result['max_abs_diff']:.3f}); the file was not written. "
            "Use more --calibration-images or a float mode, or lower the threshold with --min-agreement"
        )
    return result


def _discard(runner, remove: bool) -> None:
    if not remove:
        return
    p = Path(runner.path)
    for f in (p, p.with_suffix(".json")):
        if f.is_file():
            f.unlink()


def accuracy(runner, pixels: np.ndarray, labels: np.ndarray) -> Optional[float]:
    """Top-1 accuracy through the artifact's contract; None without labelled images."""
    if pixels is None or len(pixels) == 0:
        return None
    return float(np.mean(runner.predict(pixels).argmax(1) == np.asarray(labels)))


@dataclass
class Gate:
    """What each new artifact is checked against: the Keras runner, parity images, eval data, thresholds.

    ``thresholds`` overrides the registry defaults, by format name ("tflite:int8", "onnx:float32")
    or, for TFLite, by mode ("int8").
    """

    reference: object  # a runtime.Runner (KerasRunner)
    pixels: np.ndarray  # uint8 NHWC, the run's validation images
    thresholds: dict = field(default_factory=dict)
    eval_pixels: Optional[np.ndarray] = None  # the run's test split, for accuracy
    eval_labels: Optional[np.ndarray] = None
    pixels_source: str = "val"
    _ref_probs: Optional[np.ndarray] = None
    _ref_accuracy: Optional[float] = None

    def reference_probs(self) -> np.ndarray:
        if self._ref_probs is None:
            self._ref_probs = self.reference.predict(self.pixels)
        return self._ref_probs

    def reference_accuracy(self) -> Optional[float]:
        if self._ref_accuracy is None:
            self._ref_accuracy = accuracy(self.reference, self.eval_pixels, self.eval_labels)
        return self._ref_accuracy

    def check(self, fmt, runner) -> dict:
        """Parity (raises on failure) then accuracy of ``runner``, an opened artifact of format ``fmt``."""
        from edgetl.formats.registry import threshold

        rec = check_parity(self.reference, runner, self.pixels, threshold(fmt, self.thresholds),
                           reference_probs=self.reference_probs())
        rec["parity_source"] = self.pixels_source
        rec["accuracy"] = accuracy(runner, self.eval_pixels, self.eval_labels)
        rec["keras_accuracy"] = self.reference_accuracy()
        return rec
