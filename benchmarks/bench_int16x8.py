"""TFLite int16x8 beside int8 and float32 on one trained run: size, test accuracy, agreement with Keras, p50.

int16x8 (int16 activations, int8 weights) is the mode to pick when int8 loses too much accuracy;
this script measures what it costs. Without --run it trains the small reference run first
(MobileNetV2 alpha 0.35 at 96 px on ../shared/data/flowers_small, ImageNet weights, the test
fixture's settings). Each mode goes through `edgetl quantize` (parity gate on the validation split,
test accuracy on the test split); all files are then measured in ONE `edgetl benchmark` run
(interleaved rounds, 1 thread). Prints one row per mode and the int16x8/int8 latency ratio.

    nice -n 5 python benchmarks/bench_int16x8.py [--run RUN_DIR] [--out runs/bench_int16x8]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
FLOWERS = SHARED / "data" / "flowers_small"
WEIGHTS = SHARED / "weights" / "imagenet"
MODES = ["float32", "int8", "int16x8"]


def train_reference(out: Path) -> Path:
    from edgetl.stages.train import TrainConfig, train

    if not FLOWERS.is_dir():
        sys.exit(f"{FLOWERS} is absent; pass --run RUN_DIR (a trained edgetl run)")
    train(TrainConfig(data=str(FLOWERS), backbone="mobilenet_v2", alpha=0.35, input_size=96, weights="imagenet",
                      weights_dir=str(WEIGHTS), epochs=8, fine_tune_epochs=1, unfreeze=10, out=str(out)),
          log=lambda m: None, force=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default=None, help="a trained run directory (default: train the reference run)")
    ap.add_argument("--out", default="runs/bench_int16x8", help="where the reference run is trained")
    ap.add_argument("--runs", type=int, default=50)
    a = ap.parse_args()

    from edgetl.config.stages import BenchmarkConfig
    from edgetl.measure.bench import benchmark
    from edgetl.config.stages import QuantizeConfig
    from edgetl.stages.quantize import quantize_run

    run = Path(a.run) if a.run else train_reference(Path(a.out))
    records = {r["mode"]: r for r in quantize_run(QuantizeConfig(run=str(run), modes=list(MODES), max_drop=None), keep_going=True)}
    files = [Path(r["artifact"]) for r in records.values() if r.get("artifact")]
    bench = {Path(r["artifact"]).name: r for r in benchmark(files, BenchmarkConfig(runs=a.runs, min_seconds=1.0, rounds=3))["results"]}
    print(f"run: {run}")
    print(f"{'mode':<9} {'size MB':>8} {'test acc':>9} {'agreement':>10} {'gate':>13} {'p50 ms':>8}")
    for mode in MODES:
        r = records[mode]
        if r.get("error"):
            print(f"{mode:<9} not written: {r['error']}")
            continue
        b = bench.get(Path(r["artifact"]).name, {})
        acc = "-" if r.get("accuracy") is None else f"{r['accuracy']:.3f}"
        p50 = "-" if b.get("p50_ms") is None else f"{b['p50_ms']:.2f}"
        print(f"{mode:<9} {r['size_mb']:>8.3f} {acc:>9} {r['agreement']:>10.3f} {str(r.get('gate')):>13} {p50:>8}"
              + (f"  ({b['error']})" if b.get("error") else ""))
    p = {m: bench.get(Path(records[m]["artifact"]).name, {}).get("p50_ms") for m in MODES if records[m].get("artifact")}
    if p.get("int8") and p.get("int16x8"):
        print(f"int16x8 / int8 p50 ratio: {p['int16x8'] / p['int8']:.1f}x (LiteRT runs 16x8 without XNNPACK)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
