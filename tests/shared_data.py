"""Where the tests' real data lives (../shared beside the checkout, see its README), written once.

``need(path)`` skips with the reason when ``path`` is absent. Under CI (``CI`` set) a file missing from a
../shared that IS there fails instead: a renamed or partial data folder must not turn the slow tier into
skips. A checkout with no ../shared at all skips everywhere (the developers' brief: never fake data).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
SHARED = PROJECT.parent / "shared"
FLOWERS = SHARED / "data" / "flowers_small"
WEIGHTS_DIR = SHARED / "weights" / "imagenet"
CORAL = SHARED / "models" / "coral"
CORAL_MNV2 = CORAL / "mobilenet_v2_1.0_224_quant.tflite"
MNV2_035 = WEIGHTS_DIR / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"


def need(path: Path, what: str = "real data") -> Path:
    """``path``, or a skip naming it (a failure under CI when ../shared exists but lacks it)."""
    path = Path(path)
    if not path.exists():
        reason = f"{path} is absent: {what} lives in ../shared beside the project (see shared/README.md)"
        if os.environ.get("CI") and SHARED.is_dir():
            pytest.fail(f"CI: ../shared is here but incomplete: {reason}")
        pytest.skip(reason)
    return path
