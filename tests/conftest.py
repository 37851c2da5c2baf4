"""Shared fixtures. Real data comes from ../shared (see its README); tests skip, never fake, without it."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The phase-1 feature cache of test runs goes to the temp folder, not the user's ~/.cache.
os.environ.setdefault("EDGETL_CACHE_DIR", os.path.join(tempfile.gettempdir(), f"edgetl-test-cache-{os.getpid()}"))

from shared_data import CORAL, FLOWERS, MNV2_035, PROJECT, SHARED, WEIGHTS_DIR, need  # noqa: F401 (re-exported)

# Session fixtures defined in their own modules are loaded once, as plugins: a fixture *imported* into two test
# modules would be a separate fixture in each, set up twice (the quantize fixtures ran PTQ, QAT and pruning twice).
pytest_plugins = ["fixtures_quantize", "fixtures_bench"]


@pytest.fixture(scope="session")
def flowers() -> Path:
    return need(FLOWERS)


@pytest.fixture(scope="session")
def weights_dir() -> Path:
    need(MNV2_035)
    return WEIGHTS_DIR


def make_subset(dest: Path, classes=None, per_class=None, root: Path = FLOWERS) -> Path:
    """A class-per-folder copy (symlinks) of flowers_small with some classes / images per class."""
    need(root)
    for cdir in sorted(p for p in root.iterdir() if p.is_dir()):
        if classes and cdir.name not in classes:
            continue
        files = sorted(cdir.iterdir())[: per_class or None]
        (dest / cdir.name).mkdir(parents=True, exist_ok=True)
        for f in files:
            (dest / cdir.name / f.name).symlink_to(f)
    return dest


@pytest.fixture(scope="session")
def small_run(tmp_path_factory, flowers, weights_dir):
    """One small trained run (MobileNetV2 a=0.35, 96 px, ImageNet weights, 5 flower classes) shared by tests."""
    from edgetl.stages.train import TrainConfig, train

    out = tmp_path_factory.mktemp("small_run")
    result = train(TrainConfig(data=str(flowers), backbone="mobilenet_v2", alpha=0.35, input_size=96,
                               weights="imagenet", weights_dir=str(weights_dir), epochs=8, fine_tune_epochs=1,
                               unfreeze=10, lr=5e-3, out=str(out)), log=lambda m: None)
    return out, result


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


# Fixtures that train, convert or compile something real: a test that asks for one belongs to the slow tier
# (`pytest -m "not slow"` is the fast tier, <= 60 s on 2 cores), whether or not it carries the mark itself.
HEAVY_FIXTURES = {"small_run", "tiny_run", "exported", "java_core", "qrun", "ptq_records", "qat_record",
                  "convert_records", "prune_record", "tiny_artifacts", "default_run"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HEAVY_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def need_tool(reason):
    """Skip when an optional tool (MediaPipe, JUnit, kotlinc...) is missing; under CI (CI=true) fail instead,
    so that a check can never pass in CI by skipping: .ci/run must install what the tests need."""
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must install this (see .ci/run): {reason}")
        pytest.skip(reason)
