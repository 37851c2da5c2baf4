"""The machine's measured GEMM peak on one core, float32 and int8, through the runtime the artifacts use.

A single FULLY_CONNECTED layer ([M, K] x [K, N], no activation) is written as a TFLite flatbuffer
directly (``ai_edge_litert.schema_py_generated``; no TensorFlow, no converter) and timed with
ai-edge-litert + XNNPACK on 1 thread: the best per-invoke time over a few shapes gives the GMAC/s
the same kernels reach on a dense, cache-friendly GEMM. ``benchmark`` divides each artifact's
effective GMAC/s by it ("% of peak"). The figure is cached per CPU model and runtime version
(``cache_path``), since measuring takes ~3 s.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np

from edgetl.measure.worker_env import worker_env

# (M, K, N): a 14x14 feature map times a wide 1x1 conv, and a square one; the best of them is the peak
SHAPES = ((196, 1024, 1024), (256, 512, 512))
MIN_SECONDS = 0.4
PRECISIONS = ("float32", "int8")


def fc_model(m: int, k: int, n: int, precision: str = "float32", seed: int = 0) -> bytes:
    """A TFLite model computing one FULLY_CONNECTED [m, k] x [k, n] (+ bias) in float32 or int8."""
    from ai_edge_litert import schema_py_generated as s
    import flatbuffers

    rng = np.random.default_rng(seed)
    TT = s.TensorType
    buffers = [s.BufferT()]  # buffer 0: empty, by convention

    def buffer(arr: np.ndarray) -> int:
        b = s.BufferT()
        b.data = np.frombuffer(arr.tobytes(), np.uint8).tolist()
        buffers.append(b)
        return len(buffers) - 1

    def tensor(name, shape, ttype, buf=0, scale=None, zero=0):
        t = s.TensorT()
        t.name, t.shape, t.type, t.buffer = name, list(shape), ttype, buf
        if scale is not None:
            q = s.QuantizationParametersT()
            q.scale, q.zeroPoint = [float(scale)], [int(zero)]
            t.quantization = q
        return t

    if precision == "float32":
        w = rng.standard_normal((n, k)).astype(np.float32) * 0.05
        tensors = [tensor("input", (m, k), TT.FLOAT32), tensor("weights", (n, k), TT.FLOAT32, buffer(w)),
                   tensor("bias", (n,), TT.FLOAT32, buffer(np.zeros(n, np.float32))),
                   tensor("output", (m, n), TT.FLOAT32)]
    elif precision == "int8":
        w = rng.integers(-127, 128, (n, k), dtype=np.int8)
        s_in, s_w = 0.05, 0.01
        tensors = [tensor("input", (m, k), TT.INT8, scale=s_in, zero=0),
                   tensor("weights", (n, k), TT.INT8, buffer(w), scale=s_w, zero=0),
                   tensor("bias", (n,), TT.INT32, buffer(np.zeros(n, np.int32)), scale=s_in * s_w, zero=0),
                   tensor("output", (m, n), TT.INT8, scale=0.5, zero=0)]
    else:
        raise ValueError(precision)
    opcode = s.OperatorCodeT()
    opcode.builtinCode = s.BuiltinOperator.FULLY_CONNECTED
    opcode.deprecatedBuiltinCode = s.BuiltinOperator.FULLY_CONNECTED
    opcode.version = 1
    op = s.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 1, 2], [3]
    op.builtinOptionsType = s.BuiltinOptions.FullyConnectedOptions
    op.builtinOptions = s.FullyConnectedOptionsT()
    sub = s.SubGraphT()
    sub.tensors, sub.inputs, sub.outputs, sub.operators, sub.name = tensors, [0], [3], [op], "main"
    model = s.ModelT()
    model.version, model.operatorCodes, model.subgraphs, model.buffers = 3, [opcode], [sub], buffers
    model.description = "edgetl GEMM peak"
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def time_gemm(m: int, k: int, n: int, precision: str, threads: int = 1, min_seconds: float = MIN_SECONDS) -> float:
    """GMAC/s of one FULLY_CONNECTED through ai-edge-litert (XNNPACK, ``threads``): best of 5 medians."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=fc_model(m, k, n, precision), num_threads=threads)
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    x = np.random.default_rng(1).integers(-100, 100, (m, k)).astype(inp["dtype"])
    it.set_tensor(inp["index"], x)
    for _ in range(3):
        it.invoke()
    best = float("inf")
    for _ in range(5):
        samples = []
        deadline = time.perf_counter() + min_seconds / 5
        while len(samples) < 3 or time.perf_counter() < deadline:
            t0 = time.perf_counter_ns()
            it.invoke()
            samples.append(time.perf_counter_ns() - t0)
        best = min(best, float(np.median(samples)))
    return m * k * n / best  # MAC per ns == GMAC/s


def measure(threads: int = 1) -> dict:
    """{"float32": GMAC/s, "int8": GMAC/s, "shapes": ...}: the best over ``SHAPES`` per precision."""
    out = {"threads": threads, "shapes": [list(sh) for sh in SHAPES], "method": "TFLite FULLY_CONNECTED, XNNPACK"}
    for precision in PRECISIONS:
        out[precision] = max(time_gemm(*sh, precision, threads) for sh in SHAPES)
    return out


def machine_key() -> str:
    from importlib.metadata import PackageNotFoundError, version

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        rt = version("ai-edge-litert")
    except PackageNotFoundError:
        rt = "?"
    return f"{cpu} | ai-edge-litert {rt} | {platform.system()} {platform.machine()}"


def cache_path() -> Path:
    root = os.environ.get("EDGETL_CACHE_DIR") or os.path.join(os.environ.get("XDG_CACHE_HOME") or
                                                              os.path.expanduser("~/.cache"), "edgetl")
    return Path(root) / "gemm_peak.json"


def peak(refresh: bool = False) -> Optional[dict]:
    """The one-core peak of this machine (cached; measured in a subprocess so no other thread pool interferes).

    ``refresh`` measures again and keeps the higher figure per precision.

    None when it cannot be measured (the benchmark then leaves "% of peak" empty rather than guess).
    """
    from edgetl.fsutil import write_json

    key = machine_key()
    path = cache_path()
    cache = {}
    if path.is_file():
        try:
            cache = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            cache = {}
    if not refresh and isinstance(cache.get(key), dict):
        return cache[key]
    try:
        proc = subprocess.run([sys.executable, "-m", "edgetl.measure.peak"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=300, env=worker_env())
        result = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, ValueError, IndexError, OSError):
        return None
    result["machine"] = key
    old = cache.get(key) if isinstance(cache.get(key), dict) else {}
    for precision in PRECISIONS:  # a peak is a maximum: a re-measure on a busy machine must not lower it
        result[precision] = max(result[precision], old.get(precision) or 0.0)
    cache[key] = result
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, cache)
    except OSError:
        pass  # an unwritable cache only costs a re-measure
    return result




def percent_of_peak(gmacs: Optional[float], precision: Optional[str], threads: int, machine_peak: Optional[dict]):
    """(peak GMAC/s for this precision x threads, percent): the one-core peak times the thread count, an upper bound."""
    if not gmacs or not machine_peak or precision not in PRECISIONS or not machine_peak.get(precision):
        return None, None
    top = machine_peak[precision] * max(1, int(threads or 1))
    return top, 100.0 * gmacs / top


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 1)))
