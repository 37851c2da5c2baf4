"""Conversion speed and per-artifact accuracy of edgetl's quantize/convert stage. Prints its figures.

Part 1 (speed): wall time to produce float32 + dynamic + float16 + int8 TFLite + float ONNX for
MobileNetV2 1.0 at 224 px (random weights: timing does not depend on them), edgetl's way (one trace,
reused by every mode: ``tflite.converter.convert_tflite`` + ``onnx.export.export_onnx``) vs the naive way (a separate
``TFLiteConverter.from_keras_model`` per mode + the same ONNX export), in the same process. Target: >= 1.7x.

Part 2 (accuracy, needs ../shared): trains MobileNetV2 alpha 0.35 at 224 px on flowers_small, then every
TFLite mode (incl. QAT), float ONNX and both int8 ONNX routes; prints test accuracy, agreement with Keras
and ORT latency of the int8 ONNX routes. Target: int8 and QAT within 1 point of float32.

Part 3 (memory, ``--memory [BACKBONE ...]``, alone): float and int8 ONNX of vgg16, vgg19, resnet50 and
mobilenet_v2 classic classifiers at 224 px, each conversion in its own process (killed above --memory-cap-gb):
wall time and peak RSS. Target: peak <= 8 GB for every backbone.

    python benchmarks/bench_convert.py [--skip-accuracy] [--skip-speed] [--out runs/bench_convert]
    python benchmarks/bench_convert.py --memory [vgg16 vgg19 resnet50 mobilenet_v2]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
FLOWERS = SHARED / "data" / "flowers_small"
WEIGHTS = SHARED / "weights" / "imagenet" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"
PTQ = ["float32", "dynamic", "float16", "int8"]


def speed(out: Path) -> None:
    from edgetl import _tf, backbones
    from edgetl.formats.contract import Contract
    from edgetl.onnx.export import export_onnx
    from edgetl.tflite.converter import convert_tflite

    tf, keras = _tf.tf(), _tf.keras()
    _tf.set_seed(0)
    base = backbones.build_base(backbones.get_backbone("mobilenet_v2"), 224, 1.0, None)
    head = keras.layers.Dense(5, activation="softmax")(keras.layers.GlobalAveragePooling2D()(base.output))
    model = keras.Model(base.input, head)
    c = Contract(labels=list("abcde"), height=224, width=224, output_units=5)
    cal = np.random.default_rng(0).integers(0, 256, (32, 224, 224, 3), dtype=np.uint8)

    ours_dir, naive_dir = out / "ours", out / "naive"
    t0 = time.perf_counter()
    recs = convert_tflite(model, c, PTQ, ours_dir, calibration=cal)
    t_tfl = time.perf_counter() - t0
    export_onnx(model, c, ours_dir / "model.onnx")
    ours = time.perf_counter() - t0

    naive_steps = {}
    t0 = time.perf_counter()
    for mode in PTQ:
        t = time.perf_counter()
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        if mode != "float32":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
        if mode == "float16":
            conv.target_spec.supported_types = [tf.float16]
        if mode == "int8":
            x = c.normalize(cal).astype(np.float32)
            conv.representative_dataset = lambda: ([x[i:i + 1]] for i in range(len(x)))
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = tf.uint8
            conv.inference_output_type = tf.uint8
        naive_dir.mkdir(parents=True, exist_ok=True)
        (naive_dir / f"model_{mode}.tflite").write_bytes(conv.convert())
        naive_steps[mode] = time.perf_counter() - t
    t_naive_tfl = time.perf_counter() - t0
    export_onnx(model, c, naive_dir / "model.onnx")
    naive = time.perf_counter() - t0

    print("\n== Part 1: conversion wall time, MobileNetV2 1.0 224 px (random weights), same process ==")
    print(f"{'mode':10s} {'edgetl s':>9s} {'naive s':>9s} {'edgetl MB':>10s} {'naive MB':>9s}")
    for m in PTQ:
        print(f"{m:10s} {recs[m]['seconds']:9.2f} {naive_steps[m]:9.2f} {recs[m]['size_mb']:10.3f} "
              f"{(naive_dir / f'model_{m}.tflite').stat().st_size / 1e6:9.3f}")
    print(f"4 TFLite modes:          edgetl {t_tfl:6.1f} s   naive {t_naive_tfl:6.1f} s   ratio {t_naive_tfl / t_tfl:4.1f}x")
    print(f"4 TFLite modes + ONNX:   edgetl {ours:6.1f} s   naive {naive:6.1f} s   ratio {naive / ours:4.1f}x  (target >= 1.7x)")
    print("(edgetl's first mode includes the one-off trace; edgetl ran first, so the naive way had warm caches)")

    from edgetl.onnx.export import export_onnx_int8, export_onnx_int8_ort

    a = export_onnx_int8_ort(ours_dir / "model.onnx", c, ours_dir / "model_int8_ort.onnx", cal)
    b = export_onnx_int8(ours_dir / "model_int8.tflite", Contract.load(ours_dir / "model_int8.json"),
                         ours_dir / "model_int8_tfl.onnx")
    print("int8 ONNX routes, same model, onnxruntime 1 thread, batch 1 median: "
          f"ORT static QDQ {_latency_ms(ours_dir / 'model_int8_ort.onnx', cal):.2f} ms ({a['seconds']:.1f} s to make), "
          f"tf2onnx from int8 TFLite {_latency_ms(ours_dir / 'model_int8_tfl.onnx', cal):.2f} ms ({b['seconds']:.1f} s); "
          f"float ONNX {_latency_ms(ours_dir / 'model.onnx', cal):.2f} ms, "
          f"int8 TFLite {_latency_ms(ours_dir / 'model_int8.tflite', cal):.2f} ms, "
          f"float32 TFLite {_latency_ms(ours_dir / 'model_float32.tflite', cal):.2f} ms")


def _latency_ms(path, pixels, runs=30) -> float:
    from edgetl.runtime.registry import open_artifact

    r = open_artifact(path, threads=1)
    x = r.prepare(pixels[:1])
    for _ in range(5):
        r.invoke(x)
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        r.invoke(x)
        ts.append(time.perf_counter() - t)
    return statistics.median(ts) * 1e3


def accuracy(out: Path) -> None:
    if not FLOWERS.is_dir() or not WEIGHTS.is_file():
        print(f"\n== Part 2 skipped: {FLOWERS} or {WEIGHTS} absent (see ../shared/README.md) ==")
        return
    from edgetl.formats.contract import Contract
    from edgetl.config.stages import ConvertConfig, QuantizeConfig
    from edgetl.onnx.export import export_onnx_int8
    from edgetl.stages.convert import convert_run
    from edgetl.stages.quantize import quantize_run
    from edgetl.rundir import RunDir
    from edgetl.runtime.registry import open_artifact
    from edgetl.stages.train import TrainConfig, train

    run_dir = out / "run224"
    t = time.perf_counter()
    res = train(TrainConfig(data=str(FLOWERS), backbone="mobilenet_v2", alpha=0.35, input_size=224, weights="imagenet",
                            weights_dir=str(WEIGHTS.parent), out=str(run_dir)), log=lambda m: None)  # train's defaults
    print(f"\n== Part 2: flowers_small, MobileNetV2 alpha 0.35, 224 px (trained in {time.perf_counter() - t:.0f} s, "
          f"Keras test accuracy {res['test']['accuracy']:.3f}) ==")
    no_gate = [f"{k}=0.0" for k in PTQ + ["qat", "onnx:float32", "onnx:int8"]]  # measure, do not refuse
    recs = quantize_run(QuantizeConfig(run=str(run_dir), modes=PTQ + ["qat"], min_agreement=no_gate, max_drop=None))
    recs += convert_run(ConvertConfig(run=str(run_dir), to=["onnx"], min_agreement=no_gate, int8_method="ort"))
    splits = RunDir(run_dir).splits()
    alt = export_onnx_int8(run_dir / "model_int8.tflite", Contract.load(run_dir / "model_int8.json"),
                           run_dir / "model_int8_from_tflite.onnx")
    alt_runner = open_artifact(run_dir / "model_int8_from_tflite.onnx")
    alt["accuracy"] = float(np.mean(alt_runner.predict(splits.test.images).argmax(1) == splits.test.labels))
    alt["file"], alt["int8_method"] = "model_int8_from_tflite.onnx", "tflite"
    ref = next(r for r in recs if r["format"] == "tflite:float32")["accuracy"]
    n_test = len(splits.test)
    print(f"test split: {n_test} images (1 image = {100 / n_test:.1f} points); parity on {recs[0]['parity_images']} val images")
    print(f"{'artifact':30s} {'size MB':>8s} {'test acc':>9s} {'vs f32 pts':>10s} {'agree':>7s} {'max|dp|':>8s} {'conv s':>7s}")
    for r in recs + [alt]:
        print(f"{r['file']:30s} {r['size_mb']:8.3f} {r['accuracy']:9.3f} {100 * (r['accuracy'] - ref):+10.1f} "
              f"{r.get('agreement', float('nan')):7.1%} {r.get('max_abs_diff', float('nan')):8.3f} {r['seconds']:7.1f}")
    px = splits.test.images
    print("int8 ONNX routes, onnxruntime 1 thread, batch 1 median: "
          f"ORT static QDQ {_latency_ms(run_dir / 'model_int8.onnx', px):.2f} ms, "
          f"tf2onnx from int8 TFLite {_latency_ms(run_dir / 'model_int8_from_tflite.onnx', px):.2f} ms, "
          f"float ONNX {_latency_ms(run_dir / 'model.onnx', px):.2f} ms, "
          f"int8 TFLite {_latency_ms(run_dir / 'model_int8.tflite', px):.2f} ms")


MEMORY_BACKBONES = ("vgg16", "vgg19", "resnet50", "mobilenet_v2")


def memory_child(backbone: str, kind: str, out: Path) -> None:
    """One conversion in this (child) process; prints a JSON line with its wall time and ru_maxrss (RUSAGE_SELF)."""
    import json
    import resource

    from edgetl.backbones.registry import build_imagenet_classifier, get_backbone
    from edgetl.compare.jobs import imagenet_contract, random_pixels
    from edgetl.onnx.export import export_onnx, export_onnx_int8_ort

    spec = get_backbone(backbone)
    c = imagenet_contract(spec, 224, None, 1000)
    out.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    if kind == "float":
        model = build_imagenet_classifier(spec, 224, None, 1000)
        t = time.perf_counter()  # the conversion only, not building the model
        rec = export_onnx(model, c, out / f"{backbone}.onnx")
    else:
        rec = export_onnx_int8_ort(out / f"{backbone}.onnx", c, out / f"{backbone}_int8.onnx", random_pixels(16, 224))
    print("MEMORY " + json.dumps({"seconds": time.perf_counter() - t, "peak_gb": resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss / 1e6, "size_mb": rec["size_mb"]}), flush=True)


def _watched(cmd: list, cap_gb: float) -> dict:
    """Run ``cmd``, killing it when its RSS passes ``cap_gb`` (a shared machine); its MEMORY line or the reason."""
    import json
    import subprocess

    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    killed = False
    import threading

    def watch():
        nonlocal killed
        while p.poll() is None:
            try:
                rss = int(Path(f"/proc/{p.pid}/statm").read_text().split()[1]) * 4096
            except (OSError, ValueError, IndexError):
                rss = 0
            if rss > cap_gb * 1e9:
                killed = True
                p.kill()
            time.sleep(0.1)

    threading.Thread(target=watch, daemon=True).start()
    lines = p.stdout.read().splitlines()
    p.wait()
    for line in lines:
        if line.startswith("MEMORY "):
            return json.loads(line[7:])
    return {"error": f"killed above {cap_gb:g} GB after {time.perf_counter() - t:.0f} s" if killed
            else f"exit {p.returncode}"}


def _memory_cells(r: dict, w: int) -> str:
    """One conversion's seconds, peak GB and file MB (or its error), ``w`` wide."""
    if "error" in r:
        return f"{r['error']:>{3 * w + 4}s}"
    return f"{r['seconds']:{w}.1f} {r['peak_gb']:{w + 1}.2f} {r['size_mb']:{w + 1}.1f}"


def memory(out: Path, backbones, cap_gb: float) -> None:
    """Float and int8 ONNX of each backbone's classic classifier at 224 px (random weights), each conversion
    in its own process: wall time and peak RSS (ru_maxrss of that process, the model build included)."""
    print(f"\n== Part 3: ONNX conversion wall time and peak RSS, 224 px classic classifiers (random weights), "
          f"one process per conversion, killed above {cap_gb:g} GB; target peak <= 8 GB ==")
    print(f"{'backbone':14s} {'float s':>8s} {'float GB':>9s} {'float MB':>9s} {'int8 s':>8s} {'int8 GB':>8s} {'int8 MB':>8s}")
    for bb in backbones:
        cells = []
        for kind in ("float", "int8"):
            r = _watched([sys.executable, __file__, "--memory-child", bb, kind, str(out)], cap_gb)
            cells.append(r)
        f, q = cells
        print(f"{bb:14s} {_memory_cells(f, 8)} {_memory_cells(q, 7)}", flush=True)


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--memory-child":
        return memory_child(sys.argv[2], sys.argv[3], Path(sys.argv[4]))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="Where to write the artifacts [default: a temporary folder].")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-accuracy", action="store_true")
    ap.add_argument("--memory", nargs="*", metavar="BACKBONE", default=None,
                    help=f"Part 3 only: ONNX conversion time and peak RSS per backbone [default: {' '.join(MEMORY_BACKBONES)}].")
    ap.add_argument("--memory-cap-gb", type=float, default=12.0, help="Kill a conversion above this RSS [12].")
    a = ap.parse_args()
    if a.memory is not None:
        return memory(Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix="bench_convert-")),
                      a.memory or MEMORY_BACKBONES, a.memory_cap_gb)
    out = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix="bench_convert-"))
    if not a.skip_speed:
        speed(out / "speed")
    if not a.skip_accuracy:
        accuracy(out)


if __name__ == "__main__":
    main()
