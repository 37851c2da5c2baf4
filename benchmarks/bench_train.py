"""Training throughput and accuracy (issue 2). Prints figures; asserts nothing.

1. Throughput, MobileNetV2 1.0 at 224 px (random weights: speed does not depend on them), on the
   flowers_small photos: phase 1 recomputing the frozen base every epoch vs phase 1 on cached
   features (one feature pass, then head epochs), and phase 2 fine-tuning (top 30 layers).
2. Accuracy on flowers_small, MobileNetV2 alpha 0.35, ImageNet weights from ../shared, 224 px,
   `edgetl train` defaults (target >= 85%, Model Maker's 85.4% on the full flowers set).

    python benchmarks/bench_train.py [--skip-throughput] [--skip-accuracy] [--epochs 3]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FLOWERS = SHARED / "data" / "flowers_small"
WEIGHTS = SHARED / "weights" / "imagenet"


def throughput(epochs: int) -> None:
    from edgetl.backbones.registry import get_backbone
    from edgetl.formats.contract import Contract
    from edgetl.data.sources import DataOptions, load_splits
    from edgetl.data.access import make_dataset
    from edgetl.training.model import TransferModel
    from edgetl.backbones.weights import ResolvedWeights

    spec = get_backbone("mobilenet_v2")
    splits = load_splits(DataOptions(str(FLOWERS), val_ratio=0.0, test_ratio=0.05), 224)
    n = len(splits.train)
    c = Contract(labels=splits.class_names, height=224, width=224)
    tm = TransferModel(spec, 224, 1.0, ResolvedWeights(None, "random"), 5, 0.2)
    ds = make_dataset(splits.train.images, splits.train.labels, c, 32, shuffle=True)

    def timed_fit(model, data, ep, **kw):
        model.fit(data, epochs=1, verbose=0, **kw)  # warm-up: graph tracing
        t = time.perf_counter()
        model.fit(data, epochs=ep, verbose=0, **kw)
        return n * ep / (time.perf_counter() - t)

    tm.freeze_base(True)
    tm.compile(tm.model, 1e-3)
    recompute = timed_fit(tm.model, ds, epochs)

    from edgetl import _tf

    feat_model = _tf.keras().Model(tm.base.input, tm.base.output)
    feat_model.predict(ds.take(1), verbose=0)
    t = time.perf_counter()
    feats = feat_model.predict(make_dataset(splits.train.images, splits.train.labels, c, 32), verbose=0)
    feature_pass = n / (time.perf_counter() - t)
    tm.compile(tm.head, 1e-3)
    head_epochs = max(epochs, 20)
    tm.head.fit(feats, splits.train.labels, batch_size=32, epochs=1, verbose=0)
    t = time.perf_counter()
    tm.head.fit(feats, splits.train.labels, batch_size=32, epochs=head_epochs, verbose=0)
    cached = n * head_epochs / (time.perf_counter() - t)

    tm.unfreeze_top(30)
    tm.compile(tm.model, 1e-4)
    finetune = timed_fit(tm.model, ds, epochs)
    e = 10
    total_recompute = e * n / recompute
    total_cached = n / feature_pass + e * n / cached
    print(f"MobileNetV2 1.0 224 px, batch 32, {n} flower photos, {os.cpu_count()} cores")
    print(f"  phase 1 recomputing the frozen base : {recompute:8.1f} img/s")
    print(f"  phase 1 feature pass (once)         : {feature_pass:8.1f} img/s")
    print(f"  phase 1 head epochs on cached feats : {cached:8.1f} img/s   ({cached / recompute:.0f}x recomputing)")
    print(f"  phase 2 fine-tuning (top 30 layers) : {finetune:8.1f} img/s")
    print(f"  10 head epochs: {total_recompute:.1f} s recomputing vs {total_cached:.1f} s with the cache "
          f"({total_recompute / total_cached:.1f}x)")


def accuracy(seeds) -> None:
    """Test accuracy with `edgetl train` defaults; 30 test images make one split noisy, so several seeds."""
    from edgetl.stages.train import TrainConfig, train

    accs = []
    for seed in seeds:
        t = time.perf_counter()
        r = train(TrainConfig(data=str(FLOWERS), backbone="mobilenet_v2", alpha=0.35, input_size=224, seed=seed,
                              weights="imagenet", weights_dir=str(WEIGHTS), out=f"runs/bench_flowers_224_s{seed}"),
                  log=lambda m: None)
        accs.append(r["test"]["accuracy"])
        print(f"  seed {seed}: test accuracy {r['test']['accuracy']:.3f} on {r['test']['n']} held-out images "
              f"(val {r['val']['accuracy']:.3f}), {time.perf_counter() - t:.0f} s wall", flush=True)
    print(f"flowers_small, MobileNetV2 a=0.35 224 px, ImageNet weights, edgetl train defaults: "
          f"test accuracy mean {np.mean(accs):.3f} over {len(seeds)} split seeds (min {min(accs):.3f}, "
          f"max {max(accs):.3f})")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--skip-accuracy", action="store_true")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--seeds", default="42,1,2,3,4", help="split seeds for the accuracy figure")
    a = ap.parse_args()
    if not FLOWERS.is_dir():
        sys.exit(f"skipped: {FLOWERS} absent (see ../shared/README.md)")
    if not a.skip_accuracy:
        accuracy([int(s) for s in a.seeds.split(",")])
    if not a.skip_throughput:
        throughput(a.epochs)
