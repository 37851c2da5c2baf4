"""The data types every input path shares: options, one split's images, the three splits.

Kept apart from the sources (sources.py) and the streaming path (stream.py) so that both import them
without importing each other.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from edgetl.errors import EdgetlError

SPLIT_NAMES = ("train", "val", "test")
DIGITS = "digits"


@dataclass
class ImageSet:
    images: np.ndarray  # uint8 (N, H, W, 3)
    labels: np.ndarray  # int64 (N,)
    files: list = field(default_factory=list)  # source of each image (path or "digits:#i")

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, idx) -> "ImageSet":
        idx = np.asarray(idx, dtype=np.int64)
        return ImageSet(self.images[idx], self.labels[idx], [self.files[i] for i in idx] if self.files else [])


@dataclass
class Splits:
    train: ImageSet
    val: ImageSet
    test: ImageSet
    class_names: list
    source: str
    data_hash: str
    skipped: list = field(default_factory=list)  # [(file, reason)]
    split_from: str = "random"  # "random" (stratified, seeded) or "folders" (train/val/test sub-folders)
    layout: Optional[object] = None  # edgetl.data.layouts.Layout for folder sources: where each split came from

    @property
    def warnings(self) -> list:
        return list(getattr(self.layout, "warnings", []) or [])

    def summary(self) -> dict:
        from edgetl.data.layouts import class_counts, skip_reasons

        return {
            "source": self.source,
            "classes": self.class_names,
            "train": len(self.train), "val": len(self.val), "test": len(self.test),
            **(self.layout.summary() if self.layout is not None else
               {"layout": "builtin" if self.source == DIGITS else "tfds",
                "test_from": f"random share of {self.source}", "val_from": f"random share of {self.source}"}),
            "class_counts": class_counts({k: getattr(self, k).labels for k in SPLIT_NAMES}, self.class_names),
            "skipped": len(self.skipped),
            "skipped_reasons": skip_reasons(self.skipped),
            "skipped_files": [f"{f}: {r}" for f, r in self.skipped[:20]],
            "split_from": self.split_from,
            "data_hash": self.data_hash,
        }


@dataclass
class DataOptions:
    source: str = DIGITS
    val_ratio: float = 0.15
    test_ratio: float = 0.15
    seed: int = 42
    limit_per_class: Optional[int] = None
    labels_csv: Optional[str] = None  # Kaggle-style id,label CSV; the images in the flat folder ``source``

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    def check(self) -> "DataOptions":
        """Check the split ratios and the per-class limit before anything is created or loaded."""
        for name in ("val_ratio", "test_ratio"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise EdgetlError(f"--{name.replace('_', '-')} must be a number, got {v!r}")
        if not 0 <= self.val_ratio < 1 or not 0 < self.test_ratio < 1 or self.val_ratio + self.test_ratio >= 0.9:
            raise EdgetlError("split ratios must satisfy 0 <= --val-ratio, 0 < --test-ratio and their sum < 0.9")
        lim = self.limit_per_class
        if lim is not None and (isinstance(lim, bool) or not isinstance(lim, int) or lim < 1):
            raise EdgetlError(f"--limit-images must be a positive number of images per class, got {lim}; "
                              "leave it out to use every image")
        return self
