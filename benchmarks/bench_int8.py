"""int8 vs float32 TFLite for every MobileNet, op coverage, GMAC/s and % of peak; and Google's file on real weights.

Part 1: MobileNet v1 1.0, v2 1.0, v3 small and v3 large at 224 px, each with a 5-class head (random
weights: latency and coverage do not depend on them), converted by edgetl's quantize stage to float32
and int8 (calibrated on 32 random images) twice: the DEFAULT int8 (`quantize --mode int8`: ops with no
int8 kernel in XNNPACK that cut the graph stay float, e.g. MobileNetV3's HARD_SWISH) and the plain int8
(`--keep-float none`). All files are measured in ONE `edgetl benchmark` run (interleaved rounds, 1 thread)
with --ops; wall and CPU-time p50 (CPU time leaves out the time a worker waits for a core on a shared
machine). Prints the host line (CPU, int8 instruction sets, load average during the run), then per
backbone: float32 p50, default int8 p50 and the ratio float/default int8 in CPU time (goal: >= 1.5 on a
VNNI host, never below 1), op coverage (nodes XNNPACK took / fell back, partitions, fallback ops), MACs,
GMAC/s, % of peak; and a markdown table of the same figures for README.

Part 1b (``--skip-shapes`` to leave out): why int8 is or is not faster on this CPU. Every 1x1
convolution of each MobileNet at 224 px is a GEMM [H*W, C_in] x [C_in, C_out]; each distinct shape
is timed alone as a TFLite FULLY_CONNECTED in float32 and int8 (``measure.peak.time_gemm``, XNNPACK,
1 thread). Prints GMAC/s per shape and, per MobileNet, the 1x1 convolutions' summed time in both
precisions (MACs / GMAC/s): what the kernels alone allow, before depthwise layers and overheads.

Part 2 (needs ../shared): trains MobileNetV2 1.0 224 on flower_photos from the dequantized ImageNet
weights (../shared/weights/imagenet-dequantized, edgetl's train defaults), quantizes it to float32
and int8 (`edgetl quantize`, parity gate on the whole validation split), benchmarks our int8 beside
Google's mobilenet_v2_1.0_224_quant.tflite in one run and prints the latency ratio and the accuracy
drop from float on the test split (225 images).

Part 3 (``--skip-onnx`` to leave out; needs ../shared): int8 ONNX against float ONNX. MobileNetV2 1.0 and
MobileNet v1 1.0 with the dequantized ImageNet weights (real activation ranges: with random weights many
ReLU6 outputs calibrate to a near-empty range around 0, tf2onnx's Clip then stays before QuantizeLinear
and onnxruntime leaves those convolutions in float) and a 5-class head, at 224 and 96 px, calibrated on
32 flowers_small photos: float ONNX, the default int8 ONNX (``edgetl convert``: tf2onnx from the int8
TFLite, weight type by ``edgetl.measure.onnx_weights``), the same graph with uint8 weights (the default
before issue 19), and ``--int8-method ort``; one benchmark run (1 thread, interleaved rounds, CPU-time
p50), onnxruntime's per-op-type profile of each int8 file and the ratio float/int8 (goal: >= 1.5x on a
VNNI host, never below 1).

Part 4 (with part 3): the distance to the int8 GEMM peak of the MobileNetV2 1.0 int8 TFLite at 224 px
(ImageNet weights): per op type (1x1 pointwise and the stem are CONV_2D, DEPTHWISE_CONV_2D, ADD, MEAN,
QUANTIZE, ...) its nodes, time (each XNNPACK node cut out and timed alone, scaled to the partition's
measured time; ``edgetl.measure.ops``), share, MACs, GMAC/s and % of the measured int8 peak.

    nice -n 5 python benchmarks/bench_int8.py [--out runs/bench_int8] [--skip-mobilenets] [--skip-coral]
    nice -n 5 python benchmarks/bench_int8.py --skip-mobilenets --skip-shapes --skip-coral   # parts 3 and 4
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
FLOWERS = SHARED / "data" / "flower_photos"
DEQ = SHARED / "weights" / "imagenet-dequantized"
CORAL = SHARED / "models" / "coral" / "mobilenet_v2_1.0_224_quant.tflite"
MOBILENETS = [("mobilenet", 1.0), ("mobilenet_v2", 1.0), ("mobilenet_v3_small", None), ("mobilenet_v3_large", None)]


def build_files(out: Path) -> dict:
    """{backbone: {variant: path}}: float32 and int8 TFLite of each MobileNet through edgetl's quantize stage."""
    from edgetl import _tf
    from edgetl.backbones.registry import build_base, get_backbone
    from edgetl.formats.contract import Contract
    from edgetl.tflite.converter import convert_tflite

    keras = _tf.keras()
    files = {}
    cal = np.random.default_rng(0).integers(0, 256, (32, 224, 224, 3), dtype=np.uint8)

    def convert(name: str, alpha: float, modes: list, folder: Path, **options) -> None:
        """The backbone + a 5-class head, random weights seeded alike, converted to ``modes`` in ``folder``."""
        _tf.set_seed(0)
        spec = get_backbone(name)
        base = build_base(spec, 224, alpha, None)
        head = keras.layers.Dense(5, activation="softmax")(keras.layers.GlobalAveragePooling2D()(base.output))
        c = Contract(labels=list("abcde"), height=224, width=224, output_units=5, mean=list(spec.mean),
                     std=list(spec.std))
        convert_tflite(keras.Model(base.input, head), c, modes, folder, calibration=cal, **options)
        print(f"converted {name} {' '.join(modes)} {options or ''}", file=sys.stderr, flush=True)

    for name, alpha in MOBILENETS:
        d = out / name
        if not (d / "model_int8.tflite").is_file():
            convert(name, alpha, ["float32", "int8"], d)  # int8 as `quantize --mode int8` writes it by default
        plain = d / "plain"
        if not (plain / "model_int8.tflite").is_file():
            convert(name, alpha, ["int8"], plain, keep_float=["none"])
        files[name] = {"float32": d / "model_float32.tflite", "int8": d / "model_int8.tflite",
                       "int8 plain": plain / "model_int8.tflite"}
    return files


LABELS = {"mobilenet": "MobileNet v1 1.0", "mobilenet_v2": "MobileNetV2 1.0", "mobilenet_v3_small": "MobileNetV3-Small",
          "mobilenet_v3_large": "MobileNetV3-Large"}


def host_line(system: dict) -> str:
    """The benchmark's host line (CPU, int8 instruction sets, load average during the run)."""
    from edgetl.measure.sysinfo import one_line

    return one_line(system)


def kept_float(path: Path) -> str:
    """What an int8 file keeps in float, from its contract (``kept_float``)."""
    c = json.loads(path.with_suffix(".json").read_text())
    return ", ".join((c.get("kept_float") or {}).get("keep_float") or []) or "nothing"


def _ratio(a, b) -> float:
    return a / b if a and b else float("nan")


def _speed(ratio: float) -> str:
    return f"{ratio:.2f}x faster" if ratio >= 1 else f"**{1 / ratio:.2f}x slower**"


def coverage_line(prof: dict) -> str:
    if not prof or prof.get("error"):
        return f"op profile failed: {prof.get('error') if prof else 'missing'}"
    fb = ", ".join(f"{k} x{v}" for k, v in prof["fallback_ops"].items()) or "none"
    share = prof.get("delegated_share")
    return (f"{prof['delegated']}/{prof['nodes']} nodes in XNNPACK, {prof['partitions']} partition(s), "
            f"{'' if share is None else f'{100 * share:.0f}% of step time in XNNPACK, '}fallback: {fb}")


def part1(out: Path, rounds: int) -> None:
    from edgetl.config.stages import BenchmarkConfig
    from edgetl.measure.bench import benchmark

    files = build_files(out)
    paths = [p for v in files.values() for p in v.values()]
    res = benchmark(paths, BenchmarkConfig(threads=[1], runs=60, min_seconds=2.0, rounds=rounds), ops=True)
    rows = {r["artifact"]: r for r in res["results"]}
    profs = {p["artifact"]: p for p in res["ops"]}
    pk = res.get("peak") or {}
    print(f"\n== Part 1: float32 vs int8 TFLite, 1 thread, XNNPACK, one benchmark run ({rounds} rounds) ==")
    print(host_line(res["system"]))
    print(f"machine GEMM peak (one core, TFLite FULLY_CONNECTED): float32 {pk.get('float32', float('nan')):.1f} GMAC/s, "
          f"int8 {pk.get('int8', float('nan')):.1f} GMAC/s")
    table = []
    for name, variants in files.items():
        f32, dflt, plain = (rows[str(variants[k])] for k in ("float32", "int8", "int8 plain"))
        kept = kept_float(variants["int8"])
        ratio = _ratio(f32.get("cpu_p50_ms"), dflt.get("cpu_p50_ms"))
        print(f"\n{name} @224: MACs {f32['macs'] / 1e6:.0f} M; default int8 keeps in float: {kept}; CPU-time p50 "
              f"float32 {f32.get('cpu_p50_ms') or 0:.2f} ms, default int8 {dflt.get('cpu_p50_ms') or 0:.2f} ms: "
              f"{ratio:.2f}x ({'meets' if ratio >= 1.5 else 'MISSES'} 1.5x; {'never slower' if ratio >= 1 else 'SLOWER'})")
        for k, r in (("float32", f32), ("int8", dflt), ("int8 plain", plain)):
            print(f"  {k:10s} p50 {r['p50_ms']:7.2f} ms (CPU {r.get('cpu_p50_ms') or 0:6.2f} ms)  {r['gmacs'] or 0:6.1f} "
                  f"GMAC/s  {(r['pct_peak'] or 0):5.1f}% of {r['precision']} peak  | "
                  f"{coverage_line(profs.get(str(variants[k])))}")
        table.append((name, f32, dflt, plain, kept, ratio))
    print(f"\nREADME table (CPU-time p50, 1 thread, 224 px; {host_line(res['system'])}):\n")
    print("| model | float32 | default `--mode int8` (kept in float) | plain int8 (`--keep-float none`) | "
          "default int8 vs float32 |")
    print("| --- | --- | --- | --- | --- |")
    for name, f32, dflt, plain, kept, ratio in table:
        print(f"| {LABELS.get(name, name)} | {f32.get('cpu_p50_ms') or 0:.2f} ms | {dflt.get('cpu_p50_ms') or 0:.2f} ms "
              f"({kept}) | {plain.get('cpu_p50_ms') or 0:.2f} ms | {_speed(ratio)} |")
    (out / "part1.json").write_text(json.dumps(res, indent=1, default=str))


def edgetl(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgetl", *map(str, args)], cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def part2(out: Path, rounds: int) -> None:
    from edgetl.config.stages import BenchmarkConfig
    from edgetl.measure.bench import benchmark
    from edgetl.runtime.parity import load_records

    for need in (FLOWERS, DEQ, CORAL):
        if not need.exists():
            print(f"\n== Part 2 skipped: {need} is absent (../shared) ==")
            return
    run = out / "coral_v2"
    if not (run / "model.keras").is_file():
        r = edgetl("train", "--data", FLOWERS, "--backbone", "mobilenet_v2", "--alpha", "1.0", "--input-size", 224,
                   "--weights-dir", DEQ, "--out", run, "--json")
        if r.returncode:
            raise SystemExit(f"train failed: {r.stderr.strip().splitlines()[-1:]}")
    if not (run / "model_int8.tflite").is_file() or not (run / "model_float32.tflite").is_file():
        r = edgetl("quantize", run, "--mode", "float32", "--mode", "int8", "--json")
        if r.returncode:
            raise SystemExit(f"quantize failed: {r.stderr.strip().splitlines()[-1:]}")
    metrics = json.loads((run / "metrics.json").read_text())
    gates = load_records(run)
    ours, f32 = run / "model_int8.tflite", run / "model_float32.tflite"
    res = benchmark([ours, CORAL, f32], BenchmarkConfig(threads=[1], runs=100, min_seconds=3.0, rounds=rounds))
    rows = {Path(r["artifact"]).name if r["artifact"] != str(CORAL) else "google": r for r in res["results"]}
    o, g, f = rows["model_int8.tflite"], rows["google"], rows["model_float32.tflite"]
    print(f"\n== Part 2: MobileNetV2 1.0 224 on flower_photos, dequantized ImageNet weights, one benchmark run "
          f"({rounds} rounds, 1 thread) ==")
    print(f"our int8 p50 {o['p50_ms']:.2f} ms ({o['size_mb']:.2f} MB); Google's uint8 p50 {g['p50_ms']:.2f} ms "
          f"({g['size_mb']:.2f} MB): ratio ours/Google = {o['p50_ms'] / g['p50_ms']:.3f} wall, "
          f"{o['cpu_p50_ms'] / g['cpu_p50_ms']:.3f} CPU time; our float32 p50 {f['p50_ms']:.2f} ms (CPU {f['cpu_p50_ms']:.2f})")
    keras_acc = metrics.get("test", {}).get("accuracy")
    gi, gf = gates.get("model_int8.tflite", {}), gates.get("model_float32.tflite", {})
    n = gi.get("accuracy_n")
    if gi.get("accuracy") is not None and gf.get("accuracy") is not None:
        drop = 100 * (gf["accuracy"] - gi["accuracy"])
        print(f"test accuracy on {n} images: Keras {100 * keras_acc:.1f}%, float32 TFLite {100 * gf['accuracy']:.1f}%, "
              f"int8 {100 * gi['accuracy']:.1f}%: drop {drop:+.1f} points ({'within' if drop <= 1.0 else 'MISSES'} 1 point); "
              f"McNemar p (int8 worse) {gi.get('mcnemar_p'):.3f}")
        print(f"parity gate int8: {gi['gate']}, agreement {100 * gi['agreement']:.1f}% "
              f"[{100 * gi['agreement_low']:.1f}%, {100 * gi['agreement_high']:.1f}%] on {gi['parity_images']} images")
    print(f"GMAC/s: ours {o['gmacs']:.1f} ({o['pct_peak'] or 0:.0f}% of int8 peak), Google {g['gmacs']:.1f} "
          f"({g['pct_peak'] or 0:.0f}%), float32 {f['gmacs']:.1f} ({f['pct_peak'] or 0:.0f}% of float32 peak)")
    (out / "part2.json").write_text(json.dumps(res, indent=1, default=str))


def pointwise_shapes(name: str, alpha) -> list:
    """(M, K, N) of every 1x1 convolution of ``name`` at 224 px: M = output pixels, K = in, N = out channels."""
    from edgetl import _tf
    from edgetl.backbones.registry import build_base, get_backbone

    keras = _tf.keras()
    base = build_base(get_backbone(name), 224, alpha, None)
    shapes = []
    for layer in base.layers:
        if isinstance(layer, keras.layers.Conv2D) and not isinstance(layer, keras.layers.DepthwiseConv2D) \
                and tuple(layer.kernel_size) == (1, 1):
            _, h, w, n = layer.output.shape
            shapes.append((int(h * w), int(layer.input.shape[-1]), int(n)))
    return shapes


def part1b(out: Path) -> None:
    from edgetl.measure.peak import time_gemm

    per_model = {name: pointwise_shapes(name, alpha) for name, alpha in MOBILENETS}
    speed = {}
    print("\n== Part 1b: every 1x1 convolution as a GEMM [M, K] x [K, N], float32 vs int8 (XNNPACK, 1 thread) ==")
    print(f"{'M':>6s} {'K':>5s} {'N':>5s} {'f32 GMAC/s':>11s} {'int8 GMAC/s':>12s} {'int8/f32':>9s}")
    for shape in sorted({sh for shapes in per_model.values() for sh in shapes}, key=lambda t: (t[1], t[0])):
        speed[shape] = {p: time_gemm(*shape, p, min_seconds=0.2) for p in ("float32", "int8")}
        f, i = speed[shape]["float32"], speed[shape]["int8"]
        print(f"{shape[0]:6d} {shape[1]:5d} {shape[2]:5d} {f:11.1f} {i:12.1f} {i / f:8.2f}x")
    print(f"{'model':20s} {'1x1 convs':>9s} {'MMAC':>7s} {'f32 ms':>7s} {'int8 ms':>8s} {'int8 speed-up':>14s}")
    rows = {}
    for name, shapes in per_model.items():
        macs = sum(m * k * n for m, k, n in shapes)
        ms = {p: sum(m * k * n / speed[(m, k, n)][p] for m, k, n in shapes) / 1e6 for p in ("float32", "int8")}
        rows[name] = {"convs": len(shapes), "mmac": macs / 1e6, **ms}
        print(f"{name:20s} {len(shapes):9d} {macs / 1e6:7.0f} {ms['float32']:7.2f} {ms['int8']:8.2f} "
              f"{ms['float32'] / ms['int8']:13.2f}x")
    (out / "part1b.json").write_text(json.dumps({"shapes": {str(k): v for k, v in speed.items()}, "models": rows},
                                                indent=1))


ONNX_MODELS = [("mobilenet_v2", "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"),
               ("mobilenet", "mobilenet_1_0_224_tf_no_top.h5")]
SMALL = SHARED / "data" / "flowers_small"


def photos(size: int, n: int = 32) -> np.ndarray:
    """``n`` flowers_small photos (every 7th file), resized to ``size`` px, uint8: real calibration images."""
    from PIL import Image

    files = sorted(SMALL.rglob("*.jpg"))[::7][:n]
    return np.stack([np.asarray(Image.open(f).convert("RGB").resize((size, size))) for f in files]).astype(np.uint8)


def build_onnx(folder: Path, name: str, weights: str, size: int) -> dict:
    """{variant: path}: float/int8 TFLite and the ONNX files of part 3, built once in ``folder``."""
    import tf2onnx

    from edgetl import _tf
    from edgetl.backbones.registry import build_base, get_backbone
    from edgetl.formats.contract import Contract
    from edgetl.formats.registry import get_format
    from edgetl.onnx import export as cv
    from edgetl.tflite.converter import convert_tflite

    files = {"float ONNX": folder / "model.onnx", "int8 ONNX (default)": folder / "model_int8.onnx",
             "int8 ONNX, uint8 weights (before)": folder / "model_int8_u8w.onnx",
             "int8 ONNX --int8-method ort": folder / "model_int8_ort.onnx", "int8 TFLite": folder / "model_int8.tflite"}
    if all(p.is_file() for p in files.values()):
        return files
    keras = _tf.keras()
    _tf.set_seed(0)
    spec = get_backbone(name)
    base = build_base(spec, size, 1.0, str(DEQ / weights))
    model = keras.Model(base.input, keras.layers.Dense(5, activation="softmax")(
        keras.layers.GlobalAveragePooling2D()(base.output)))
    c = Contract(labels=list("abcde"), height=size, width=size, output_units=5, mean=list(spec.mean), std=list(spec.std))
    cal = photos(size)
    convert_tflite(model, c, ["float32", "int8"], folder, calibration=cal)
    cv.export_onnx(model, c, files["float ONNX"])
    c8 = Contract.load(folder / "model_int8.json")
    cv.export_onnx_int8(files["int8 TFLite"], c8, files["int8 ONNX (default)"])
    proto, _ = tf2onnx.convert.from_tflite(str(files["int8 TFLite"]), opset=17)
    cv.write_onnx(cv.int8_tensors_to_uint8(proto, weights=True), get_format("onnx:int8"),
                  c8.replace(artifact="onnx:int8"), files["int8 ONNX, uint8 weights (before)"])
    cv.export_onnx_int8_ort(files["float ONNX"], c, files["int8 ONNX --int8-method ort"], cal)
    print(f"converted {name} {size} px", file=sys.stderr, flush=True)
    return files


def _top_ops(prof: dict, n: int = 4) -> str:
    return ", ".join(f"{o['op']} x{o['count']} {100 * (o['share'] or 0):.0f}%" for o in (prof.get("by_op") or [])[:n])


def part3(out: Path, rounds: int) -> None:
    from edgetl.config.stages import BenchmarkConfig
    from edgetl.measure.onnx_weights import uint8_weights
    from edgetl.measure.bench import benchmark

    for need in (DEQ, SMALL):
        if not need.exists():
            print(f"\n== Part 3 skipped: {need} is absent (../shared) ==")
            return
    sets = {(name, size): build_onnx(out / "onnx" / f"{name}_{size}", name, w, size)
            for name, w in ONNX_MODELS for size in (224, 96)}
    paths = [p for files in sets.values() for k, p in files.items() if k != "int8 TFLite"]
    res = benchmark(paths, BenchmarkConfig(threads=[1], runs=60, min_seconds=2.0, rounds=rounds), ops=True)
    rows = {r["artifact"]: r for r in res["results"]}
    profs = {p["artifact"]: p for p in res["ops"]}
    print(f"\n== Part 3: int8 ONNX vs float ONNX, onnxruntime 1 thread, one benchmark run ({rounds} rounds) ==")
    print(host_line(res["system"]))
    print(f"default int8 ONNX weights on this host: {uint8_weights()[1]}")
    table = []
    for (name, size), files in sets.items():
        f = rows[str(files["float ONNX"])]
        print(f"\n{LABELS.get(name, name)} @{size} (ImageNet weights): float ONNX CPU p50 {f.get('cpu_p50_ms') or 0:.2f} ms "
              f"(wall {f['p50_ms']:.2f})  | {_top_ops(profs.get(str(files['float ONNX']), {}))}")
        cells = [f"{f.get('cpu_p50_ms') or 0:.2f} ms"]
        for k in ("int8 ONNX (default)", "int8 ONNX, uint8 weights (before)", "int8 ONNX --int8-method ort"):
            r = rows[str(files[k])]
            ratio = _ratio(f.get("cpu_p50_ms"), r.get("cpu_p50_ms"))
            print(f"  {k:34s} CPU p50 {r.get('cpu_p50_ms') or 0:6.2f} ms (wall {r['p50_ms']:6.2f})  {_speed(ratio):>18s}"
                  f"{'' if ratio >= 1.5 else ' (MISSES 1.5x)'}  | {_top_ops(profs.get(str(files[k]), {}))}")
            cells.append(f"{r.get('cpu_p50_ms') or 0:.2f} ms ({_speed(ratio)})")
        table.append(f"| {LABELS.get(name, name)} | {size} px | " + " | ".join(cells) + " |")
    print(f"\nTable (CPU-time p50, 1 thread; {host_line(res['system'])}):\n")
    print("| model | input | float ONNX | default int8 ONNX | uint8 weights (before) | `--int8-method ort` |")
    print("| --- | --- | --- | --- | --- | --- |")
    print("\n".join(table))
    (out / "part3.json").write_text(json.dumps(res, indent=1, default=str))
    options(sets[("mobilenet_v2", 96)], out / "onnx" / "options_96")
    part4(sets[("mobilenet_v2", 224)]["int8 TFLite"], res["system"])


def ort_cpu_p50(path: Path, level=None, runs: int = 200, min_seconds: float = 2.0) -> tuple[float, int, int]:
    """(CPU-time p50 ms of one onnxruntime run, 1 thread, at graph optimization ``level``; integer QLinearConv and
    float Conv/FusedConv nodes left after the optimizations): an in-process timer for the options sweep."""
    import time

    import onnx
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = 1, 1
    if level is not None:
        opts.graph_optimization_level = level
    opts.optimized_model_filepath = str(path.with_suffix(f".opt{int(level) if level is not None else ''}.onnx"))
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    ops = [n.op_type for n in onnx.load(opts.optimized_model_filepath).graph.node]
    inp = sess.get_inputs()[0]
    x = photos(inp.shape[1], 1) if "uint8" in inp.type else np.random.default_rng(1).random(
        [1, *inp.shape[1:]], dtype=np.float32)
    for _ in range(10):
        sess.run(None, {inp.name: x})
    cpu, t0 = [], time.perf_counter()
    while len(cpu) < runs and (time.perf_counter() - t0 < min_seconds or len(cpu) < 30):
        c = time.thread_time()
        sess.run(None, {inp.name: x})
        cpu.append(time.thread_time() - c)
    return 1000 * float(np.median(cpu)), ops.count("QLinearConv"), ops.count("Conv") + ops.count("FusedConv")


def options(files: dict, folder: Path) -> None:
    """The onnxruntime options that could matter, on MobileNetV2 96 px: graph optimization level, and the ORT
    quantizer's format (QDQ / QOperator), per-channel, reduce_range, weight type; each timed in-process."""
    import onnxruntime as ort
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    from edgetl.formats.contract import Contract
    from edgetl.onnx.calibration import calibration_reader  # the reader edgetl's own ORT route calibrates with

    folder.mkdir(parents=True, exist_ok=True)
    float_path = files["float ONNX"]
    c = Contract.load(files["int8 TFLite"].parent / "model_float32.json")
    x = c.normalize(photos(c.height)).astype(np.float32)
    variants = {}
    for fmt, per_channel, rr, wt in ((QuantFormat.QDQ, True, False, QuantType.QInt8),
                                     (QuantFormat.QOperator, True, False, QuantType.QInt8),
                                     (QuantFormat.QDQ, False, False, QuantType.QInt8),
                                     (QuantFormat.QDQ, True, True, QuantType.QInt8),
                                     (QuantFormat.QDQ, True, False, QuantType.QUInt8)):
        tag = (f"ORT quantizer {'QDQ' if fmt == QuantFormat.QDQ else 'QOperator'}, "
               f"{'per-channel' if per_channel else 'per-tensor'}, {'u8' if wt == QuantType.QUInt8 else 's8'} "
               f"weights{', reduce_range' if rr else ''} (no shift)")
        path = folder / f"{len(variants)}.onnx"
        if not path.is_file():
            quantize_static(str(float_path), str(path), calibration_reader(float_path, x), quant_format=fmt, per_channel=per_channel,
                            reduce_range=rr, activation_type=QuantType.QUInt8, weight_type=wt)
        variants[tag] = path
    levels = {"all (default)": None, "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
              "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC}
    print("\n-- onnxruntime options, MobileNetV2 1.0 @96, in-process, 1 thread, CPU-time p50 --")
    print(f"{'file':70s} {'graph opt':>14s} {'ms':>6s} {'QLinearConv':>11s} {'float Conv':>10s}")
    rows = [(k, files[k], lv) for k in ("float ONNX", "int8 ONNX (default)", "int8 ONNX, uint8 weights (before)")
            for lv in levels] + [(k, p, "all (default)") for k, p in variants.items()]
    for label, path, lv in rows:
        ms, q, f = ort_cpu_p50(path, levels[lv])
        print(f"{label:70s} {lv:>14s} {ms:6.2f} {q:11d} {f:10d}")


def part4(path: Path, system: dict) -> None:
    """Per op type of the MobileNetV2 int8 TFLite: time, share, MACs, GMAC/s and % of the int8 GEMM peak."""
    from edgetl.measure import peak
    from edgetl.measure.macs import tflite_op_macs
    from edgetl.measure.ops import profile

    prof = profile(path, threads=1, per_op=True)
    macs = tflite_op_macs(path)
    pk = (peak.peak() or {}).get("int8")
    total = sum(o["ms"] for o in prof["by_op"])
    print("\n== Part 4: MobileNetV2 1.0 int8 TFLite @224 (ImageNet weights), time per op type, 1 thread, XNNPACK ==")
    print(host_line(system))
    print(f"{prof['delegated']}/{prof['nodes']} nodes in XNNPACK, {prof['partitions']} partition(s); steps sum "
          f"{prof['steps_ms_sum']:.2f} ms wall (each node timed alone, scaled to its partition); int8 GEMM peak "
          f"{pk or float('nan'):.1f} GMAC/s")
    print(f"{'op type':20s} {'nodes':>5s} {'ms':>7s} {'share':>6s} {'MMAC':>7s} {'GMAC/s':>7s} {'% peak':>7s}")
    for o in prof["by_op"]:
        m = macs.get(o["op"], 0)
        g = m / (o["ms"] * 1e6) if m and o["ms"] else None
        print(f"{o['op']:20s} {o['count']:5d} {o['ms']:7.3f} {100 * o['ms'] / total:5.1f}% {m / 1e6:7.1f} "
              f"{'' if g is None else f'{g:7.1f}'} {'' if g is None or not pk else f'{100 * g / pk:6.0f}%'}")
    m_all = sum(macs.values())
    print(f"{'all':20s} {sum(o['count'] for o in prof['by_op']):5d} {total:7.3f} {100.0:5.1f}% {m_all / 1e6:7.1f} "
          f"{m_all / (total * 1e6):7.1f} {'' if not pk else f'{100 * m_all / (total * 1e6) / pk:6.0f}%'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "runs" / "bench_int8"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--skip-mobilenets", action="store_true")
    ap.add_argument("--skip-coral", action="store_true")
    ap.add_argument("--skip-shapes", action="store_true", help="leave out part 1b (1x1 convolutions as GEMMs)")
    ap.add_argument("--skip-onnx", action="store_true", help="leave out parts 3 and 4 (int8 ONNX, per-op distance to peak)")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    from edgetl.measure import peak

    peak.peak(refresh=True)  # re-measure once per run; the cache keeps the highest figure
    if not a.skip_mobilenets:
        part1(out, a.rounds)
    if not a.skip_shapes:
        part1b(out)
    if not a.skip_coral:
        part2(out, a.rounds)
    if not a.skip_onnx:
        part3(out, a.rounds)


if __name__ == "__main__":
    main()
