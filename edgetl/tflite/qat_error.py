"""The per-layer error table of a QAT int8 file, measured against a float reference (no quantization debugger).

TFLite's quantization debugger (``auto_float.Debugged``) makes no debug model of a quantization-aware-trained
graph (measured: "Please check if the quantized model is in debug mode"). The same quantity, ``rmse/scale`` =
sqrt(mean((dequantized int8 value - float value)^2)) / the tensor's quantization scale, is measured here by
running two TFLite files on the same ``auto_float.DEBUG_IMAGES`` calibration images, every tensor preserved
(no XNNPACK):

* the QAT int8 file itself;
* its **float twin**: the Keras model with the QAT fine-tuned weights (the fake-quant wrappers' inner layers)
  and no fake-quant, converted to float32 TFLite.

**Matching.** Tensor names do not match (QAT layers are ``quant_``-prefixed and fused outputs get ';'-joined
names that differ between the two conversions), so tensors are matched by op order: the k-th op of one type
(CONV_2D, ADD, ...) in the int8 file's execution plan against the k-th op of that type in the float file's,
QUANTIZE/DEQUANTIZE left out. An op type whose count differs between the two files, or a pair whose output
shapes differ, is not measured (counted in the record's "unmatched"), never guessed.

**One difference from the debugger.** The debugger feeds each float op the int8 op's own (dequantized)
inputs, so its error is the op's own; here the float file runs end to end, so a tensor's error includes what
the ops before it accumulated. Deep tensors therefore read higher than the debugger would show them.
"""
from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import Optional

import numpy as np

from edgetl.errors import EdgetlError
from edgetl.tflite.auto_float import DEBUG_IMAGES, RMSE_SCALE_THRESHOLD, error_table

NOT_MATCHED = ("QUANTIZE", "DEQUANTIZE")  # the int8 <-> float hand-over: in one file only
WHAT = ("QAT int8 file's tensors against its float twin (QAT weights, no fake-quant) run end to end, "
        "matched by op order")


def squared_error(q: np.ndarray, f: np.ndarray, scale: float, zero_point: int) -> tuple:
    """(sum of squared errors, elements, max abs error) of int8 values ``q`` dequantized against floats ``f``."""
    d = (np.asarray(q, np.float64) - zero_point) * scale - np.asarray(f, np.float64)
    return float(np.sum(d * d)), int(d.size), float(np.max(np.abs(d))) if d.size else 0.0


def rmse_scale(sse: float, n: int, scale: float) -> Optional[float]:
    """The debugger's ``rmse/scale``: sqrt(sse / n) / scale (None when nothing was measured or scale is not > 0)."""
    return math.sqrt(sse / n) / scale if n and scale > 0 else None


def float_twin(q, model):
    """A clone of ``model`` carrying the weights QAT fine-tuned into ``q`` (each ``quant_<name>`` wrapper's inner
    layer, or the unwrapped layer of the same name): the QAT model with its fake-quant stripped."""
    from edgetl import _tf

    twin = _tf.keras().models.clone_model(model)
    qlayers = {layer.name: layer for layer in q.layers}
    for layer in twin.layers:
        if not layer.weights:
            continue
        src = qlayers.get("quant_" + layer.name) or qlayers.get(layer.name)
        # a wrapper holds its layer's variables under their own names (Conv1/kernel:0) beside its quantizers'
        # (quant_Conv1/kernel_min:0); the inner layer no longer lists a wrapped kernel
        found = {v.name.rsplit("/", 1)[-1]: v for v in (src.weights if src is not None else [])
                 if v.name.startswith(layer.name + "/")}
        weights = [found.get(w.name.rsplit("/", 1)[-1]) for w in layer.weights]
        if any(v is None or tuple(v.shape) != tuple(w.shape) for v, w in zip(weights, layer.weights)):
            raise EdgetlError(f"the QAT model has no weights matching layer '{layer.name}' of the float model")
        layer.set_weights([v.numpy() for v in weights])
    return twin


def _outputs_by_op(interpreter) -> dict:
    """{op type: [output tensor index of each such op, in execution order]}, QUANTIZE/DEQUANTIZE left out."""
    out = {}
    for op in interpreter._get_ops_details():
        if op["op_name"] not in NOT_MATCHED and len(op["outputs"]):
            out.setdefault(op["op_name"], []).append(int(op["outputs"][0]))
    return out


def match(int8_interpreter, float_interpreter) -> tuple:
    """([(op type, int8 tensor detail, float tensor index)], unmatched count): quantized activation outputs of
    the int8 file paired with the float file's by op order within each op type (see the module doc)."""
    q_ops, f_ops = _outputs_by_op(int8_interpreter), _outputs_by_op(float_interpreter)
    q_det = {d["index"]: d for d in int8_interpreter.get_tensor_details()}
    f_det = {d["index"]: d for d in float_interpreter.get_tensor_details()}
    pairs, unmatched = [], 0
    for op, q_idx in q_ops.items():
        f_idx = f_ops.get(op, [])
        quantized = [i for i in q_idx if _scale(q_det[i]) is not None]
        if len(f_idx) != len(q_idx):
            unmatched += len(quantized)
            continue
        for qi, fi in zip(q_idx, f_idx):
            if _scale(q_det[qi]) is None:
                continue  # kept in float (--keep-float): nothing quantized to measure
            if list(q_det[qi]["shape"]) != list(f_det[fi]["shape"]):
                unmatched += 1
                continue
            pairs.append((op, q_det[qi], fi))
    return pairs, unmatched


def _scale(detail: dict) -> Optional[tuple]:
    """(scale, zero point) of a per-tensor int8/uint8 tensor, else None (float, or per-channel)."""
    qp = detail.get("quantization_parameters") or {}
    scales, zps = qp.get("scales"), qp.get("zero_points")
    if detail["dtype"] not in (np.int8, np.uint8) or scales is None or len(scales) != 1 or not scales[0] > 0:
        return None
    return float(scales[0]), int(zps[0])


def measure(int8_path, float_path, contract, pixels: np.ndarray) -> tuple:
    """([{"tensor", "op", "rmse_scale", "scale", "max_abs_error"}], unmatched): every matched quantized activation
    of ``int8_path`` against ``float_path`` on uint8 ``pixels``."""
    from edgetl.runtime.runners import TFLiteRunner

    qr = TFLiteRunner(int8_path, preserve_tensors=True)  # its own contract (beside it): the file's --io
    fr = TFLiteRunner(float_path, contract, preserve_tensors=True)
    pairs, unmatched = match(qr.interpreter, fr.interpreter)
    acc = [[0.0, 0, 0.0] for _ in pairs]
    for i in range(len(pixels)):
        qr.invoke_one(qr.prepare(pixels[i:i + 1]))
        fr.invoke_one(fr.prepare(pixels[i:i + 1]))
        for a, (_, qd, fi) in zip(acc, pairs):
            scale, zp = _scale(qd)
            sse, n, mx = squared_error(qr.interpreter.get_tensor(qd["index"]), fr.interpreter.get_tensor(fi), scale, zp)
            a[0] += sse
            a[1] += n
            a[2] = max(a[2], mx)
    rows = [{"tensor": qd["name"], "op": op, "rmse_scale": rmse_scale(a[0], a[1], _scale(qd)[0]),
             "scale": _scale(qd)[0], "max_abs_error": a[2]} for a, (op, qd, _) in zip(acc, pairs)]
    return rows, unmatched


class QatMeasured:
    """The per-layer error of one QAT int8 file (module doc), with ``auto_float.Debugged``'s ``record`` so both
    tables share one format (report.md and `edgetl inspect` render either). ``error``: why it failed. Cost on
    flowers_small at 96 px, MobileNetV2 0.35: 5.4 s wall, 3.6 s CPU (benchmarks/bench_qat_error.py, docs/quantize.md)."""

    def __init__(self, q, model, contract, int8_path, calibration: np.ndarray):
        from edgetl.tflite.converter import convert_bytes, trace

        t, cpu = time.perf_counter(), time.process_time()
        self.layer_error, self.unmatched, self.error = [], 0, None
        pixels = np.asarray(calibration[:DEBUG_IMAGES])
        try:
            data = convert_bytes(trace(float_twin(q, model), contract), "float32", io="float32",
                                 contract=contract)
            with tempfile.TemporaryDirectory(prefix="edgetl-qat-error-") as tmp:
                float_path = Path(tmp) / "float_twin.tflite"
                float_path.write_bytes(data)
                self.layer_error, self.unmatched = measure(int8_path, float_path, contract, pixels)
            if not self.layer_error:
                raise EdgetlError("no quantized tensor of the QAT file matched its float twin by op order")
        except EdgetlError as e:
            self.error = e
        except (ValueError, RuntimeError, KeyError) as e:  # the interpreter's; the file is written all the same
            self.error = EdgetlError(f"{type(e).__name__}: {str(e).strip().splitlines()[0][:200] if str(e).strip() else ''}")
            self.error.__cause__ = e
        self.seconds, self.cpu_seconds = time.perf_counter() - t, time.process_time() - cpu
        self.images = len(pixels)

    def record(self, keep_float=()) -> dict:
        """The QAT record's "layer_error" (``Debugged.record``'s fields, plus "unmatched"), or {"error"}."""
        if self.error is not None:
            return {"error": f"per-layer error against the float twin failed: {self.error}"}
        return {**error_table(self.layer_error, keep_float), "threshold": RMSE_SCALE_THRESHOLD,
                "images": self.images, "seconds": round(self.seconds, 2), "cpu_seconds": round(self.cpu_seconds, 2),
                "unmatched": self.unmatched, "method": "float twin", "what": WHAT}
