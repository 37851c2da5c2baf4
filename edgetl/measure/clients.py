"""Classify with a client edgetl did not write (MediaPipe Tasks' ImageClassifier), and compare it with edgetl's
runtime layer: the conformance check of tests/test_clients.py and benchmarks/bench_clients.py.

MediaPipe is an optional extra (``pip install mediapipe==1.2.2`` after edgetl; see docs/clients.md).
It gets nothing but the model file: labels and normalisation come from the TFLite metadata.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from edgetl.errors import EdgetlError

MEDIAPIPE_VERSION = "1.2.2"


def mediapipe_available() -> Optional[str]:
    """None when MediaPipe Tasks imports, else why not."""
    try:
        from mediapipe.tasks.python import vision  # noqa: F401
    except Exception as e:  # ImportError, or a broken native library
        return f"mediapipe is not installed ({type(e).__name__}); pip install mediapipe=={MEDIAPIPE_VERSION}"
    return None


def mediapipe_classify(model: str | Path, images: Sequence[str | Path], decoder: str = "mediapipe") -> tuple:
    """MediaPipe Tasks' ImageClassifier on image files, as a client app would call it (no label map, every
    class): returns (scores (N, classes) float32, labels from the model's metadata). ``decoder``: "mediapipe"
    (its own image decoder, as an app would) or "edgetl" (edgetl's decoded RGB pixels: isolates preprocessing
    from JPEG decoder differences)."""
    why = mediapipe_available()
    if why:
        raise EdgetlError(why)
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_path=str(model)), max_results=-1)
    try:
        classifier = vision.ImageClassifier.create_from_options(options)
    except Exception as e:  # MediaPipe raises ValueError/RuntimeError with its status message
        raise EdgetlError(f"MediaPipe refuses {Path(model).name}: {str(e).splitlines()[0][:200]}") from None
    rows, names = [], {}
    with classifier:
        for path in images:
            if decoder == "edgetl":
                from edgetl.data.images import decode_rgb

                image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(decode_rgb(path)))
            else:
                image = mp.Image.create_from_file(str(path))
            result = classifier.classify(image)
            cats = result.classifications[0].categories
            row = np.zeros(max(c.index for c in cats) + 1, np.float32)
            for c in cats:
                row[c.index] = c.score
                names[c.index] = c.category_name
            rows.append(row)
    width = max(len(r) for r in rows) if rows else 0
    scores = np.stack([np.pad(r, (0, width - len(r))) for r in rows]) if rows else np.zeros((0, 0), np.float32)
    return scores, [names.get(i, "") for i in range(width)]


@dataclass
class Agreement:
    n: int
    top1_same: int
    max_score_delta: float  # max over images and classes of |MediaPipe score - edgetl probability|
    labels_same: bool  # MediaPipe's labels (from the metadata) == the contract's

    @property
    def fraction(self) -> float:
        return self.top1_same / self.n if self.n else 0.0


def compare(mp_scores: np.ndarray, mp_labels: Sequence[str], probs: np.ndarray, labels: Sequence[str]) -> Agreement:
    """MediaPipe's scores against edgetl's probabilities (N, classes), same images in the same order."""
    if probs.shape[1] == 2 and mp_scores.shape[1] == 1:  # one sigmoid unit: MediaPipe sees labels[1] only
        probs = probs[:, 1:]
        labels = list(labels)[1:]
    if mp_scores.shape != probs.shape:
        raise EdgetlError(f"MediaPipe gives {mp_scores.shape[1]} scores per image, edgetl {probs.shape[1]}: "
                          "the model's metadata does not match its contract")
    same = int(np.sum(np.argmax(mp_scores, 1) == np.argmax(probs, 1)))
    delta = float(np.max(np.abs(mp_scores - probs))) if len(probs) else 0.0
    return Agreement(len(probs), same, delta, list(mp_labels) == list(labels))
