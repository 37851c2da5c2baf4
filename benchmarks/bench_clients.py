"""MediaPipe Tasks vs edgetl: top-1 agreement and score differences per artifact kind, before and after aligning
edgetl's resize with MediaPipe's (docs/clients.md).

Trains MobileNetV2 (a=0.35, 96 px by default; ImageNet weights from ../shared) on flowers_small, writes every
TFLite kind of the formats registry (uint8 I/O for the integer ones) plus int8 with float I/O, then classifies
all 200 flowers_small photos with MediaPipe's ImageClassifier (labels and normalisation from the embedded
metadata only) and with edgetl's runtime layer. "before" feeds edgetl's runtime the previous resize
(bilinear, half-pixel centres, 11-bit weights); "after" the current one. Google's Coral uint8 MobileNetV2 is
measured the same way (1001 ImageNet classes).

    nice -n 5 python benchmarks/bench_clients.py [--run RUN_DIR] [--alpha 0.35 --size 96] [--out /tmp/bench_clients]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
FLOWERS = SHARED / "data" / "flowers_small"
WEIGHTS = SHARED / "weights" / "imagenet"
CORAL = SHARED / "models" / "coral" / "mobilenet_v2_1.0_224_quant.tflite"


def legacy_resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """edgetl's resize before this change: bilinear, half-pixel centres, 11-bit weights (for the 'before' column)."""
    one, bits = 1 << 11, 11

    def axis(n_in, n_out):
        i = np.arange(n_out, dtype=np.int64)
        pos = (np.maximum((2 * i + 1) * n_in - n_out, 0) * one) // (2 * n_out)
        i0, frac = pos >> bits, pos & (one - 1)
        last = i0 >= n_in - 1
        i0 = np.where(last, n_in - 1, i0)
        return i0, np.where(last, n_in - 1, i0 + 1), np.where(last, 0, frac)

    if image.shape[:2] == (height, width):
        return image
    y0, y1, fy = axis(image.shape[0], height)
    x0, x1, fx = axis(image.shape[1], width)
    img = image.astype(np.int64)
    fx_, fy_ = fx[None, :, None], fy[:, None, None]
    top = img[y0][:, x0] * (one - fx_) + img[y0][:, x1] * fx_
    bot = img[y1][:, x0] * (one - fx_) + img[y1][:, x1] * fx_
    return np.clip(((top * (one - fy_) + bot * fy_) + (1 << 21)) >> 22, 0, 255).astype(np.uint8)


def build(out: Path, alpha: float, size: int, run: Path | None) -> dict:
    """{kind: .tflite path} of a trained run."""
    from edgetl.formats.registry import FORMATS
    from edgetl.config.stages import QuantizeConfig
    from edgetl.stages.quantize import quantize_run

    if run is None:
        from edgetl.stages.train import TrainConfig, train

        run = out / "run"
        if not (run / "manifest.json").is_file():
            train(TrainConfig(data=str(FLOWERS), backbone="mobilenet_v2", alpha=alpha, input_size=size,
                              weights="imagenet", weights_dir=str(WEIGHTS), epochs=8, fine_tune_epochs=1, unfreeze=10,
                              lr=5e-3, out=str(run)), log=lambda m: None)
    modes = [f.mode for f in FORMATS.values() if f.runtime == "tflite" and not getattr(f, "training", f.mode == "qat")]
    quantize_run(QuantizeConfig(run=str(run), modes=list(modes), calibration_images=100,
                                min_agreement=[f"{m}=0.0" for m in modes], max_drop=None))
    kinds = {m if m not in ("int8",) else "int8 (uint8 I/O)": run / f"model_{m}.tflite" for m in modes}
    float_io = out / "run_float_io"  # the same model, int8 with float32 input/output
    if float_io.exists():
        shutil.rmtree(float_io)
    shutil.copytree(run, float_io, ignore=shutil.ignore_patterns("*.tflite", "*.onnx", "model_*.json"))
    quantize_run(QuantizeConfig(run=str(float_io), modes=["int8"], io="float32", calibration_images=100,
                                min_agreement=["int8=0.0"], max_drop=None))
    kinds["int8 (float I/O)"] = float_io / "model_int8.tflite"
    return kinds


def measure(kind: str, path: Path, files: list) -> dict:
    from edgetl.data.images import decode_rgb
    from edgetl.measure.clients import compare, mediapipe_classify
    from edgetl.runtime.registry import open_artifact

    runner = open_artifact(path)
    c = runner.contract
    t = time.perf_counter()
    mp_scores, mp_labels = mediapipe_classify(path, files)
    mp_s = time.perf_counter() - t
    after = compare(mp_scores, mp_labels, runner.predict_files(files), c.labels)
    before = compare(mp_scores, mp_labels,
                     runner.predict(np.stack([legacy_resize(decode_rgb(f), c.height, c.width) for f in files])),
                     c.labels)
    return {"kind": kind, "n": after.n, "before": before, "after": after, "mediapipe_s": mp_s}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=None, help="an existing run directory (default: train one)")
    ap.add_argument("--alpha", type=float, default=0.35)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_clients"))
    args = ap.parse_args()
    from edgetl.measure.clients import mediapipe_available

    for need in (FLOWERS, WEIGHTS):
        if not need.exists():
            print(f"skipped: {need} is absent (see ../shared/README.md)")
            return 0
    if mediapipe_available():
        print(f"skipped: {mediapipe_available()}")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in FLOWERS.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    kinds = build(args.out, args.alpha, args.size, args.run)
    rows = [measure(k, p, files) for k, p in kinds.items()]
    if CORAL.is_file():
        rows.append(measure("Google Coral uint8 MobileNetV2 1.0 224", CORAL, files))
    print(f"MediaPipe {__import__('mediapipe').__version__} ImageClassifier vs edgetl runtime, {len(files)} "
          f"flowers_small photos, MobileNetV2 a={args.alpha:g} {args.size} px (labels from metadata only)")
    print(f"{'artifact kind':40s} {'top-1 before':>14s} {'top-1 after':>14s} {'max |dscore| before':>20s} "
          f"{'after':>8s} {'labels':>7s}")
    for r in rows:
        b, a = r["before"], r["after"]
        print(f"{r['kind']:40s} {b.top1_same:>6d}/{b.n:<3d} {b.fraction:5.1%} {a.top1_same:>6d}/{a.n:<3d} "
              f"{a.fraction:5.1%} {b.max_score_delta:20.4f} {a.max_score_delta:8.4f} "
              f"{'same' if a.labels_same else 'DIFFER':>7s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
