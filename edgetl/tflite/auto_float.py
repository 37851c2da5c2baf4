"""`edgetl quantize --mode int8 --auto`: which ops and tensors int8 keeps in float, and why.

The rule (documented in docs/quantize.md, "--auto"), applied to evidence measured on this model:

1. **Speed: ops XNNPACK does not take in int8.** The plain int8 file is opened with the runtime
   that benchmarks it (``edgetl.tflite.keep_float.fallback_ops``); every op type with a node that falls
   back between two XNNPACK partitions is kept in float (its float kernel is delegated, and
   DEQUANTIZE/QUANTIZE around it are too, so the graph stays in one partition). This is also what
   every int8 file does by default (``--keep-float fallback``, ``keep_float.fast_int8``).
   QUANTIZE/DEQUANTIZE themselves are the int8 <-> float hand-over, never candidates.
2. **Accuracy: tensors the quantization debugger flags.** ``tf.lite.experimental.QuantizationDebugger``
   compares each quantized op's output with the float op fed the same inputs; per tensor,
   ``rmse/scale`` = sqrt(mean squared error) / quantization step. Rounding alone gives 1/sqrt(12) = 0.29
   steps; TensorFlow's debugger guide flags tensors above ``0.7`` steps (error from clipping or a
   range too wide for 256 levels). The worst ``MAX_TENSORS`` above that threshold are kept in float
   (each float island costs a DEQUANTIZE/QUANTIZE pair, so the cap bounds the speed lost). Tensors
   made by an op already kept by rule 1 are not counted twice.

Neither constant is fitted to a data split; both come from the quantizer's arithmetic and
TensorFlow's guide. The file is then converted by the ordinary ``--keep-float`` path
(``edgetl.tflite.selective``) and passes the same parity gate.
"""
from __future__ import annotations

import csv
import io as _io
import math
from typing import Optional, Sequence

import numpy as np

from edgetl.formats.keep_float import NEVER_KEEP

RMSE_SCALE_THRESHOLD = 0.7  # TensorFlow's QuantizationDebugger guide; rounding alone: 1/sqrt(12) = 0.289
MAX_TENSORS = 5  # float islands kept for accuracy at most (each adds a DEQUANTIZE/QUANTIZE pair)
DEBUG_IMAGES = 64  # calibration images the debugger runs (its per-tensor error is a mean over them)
TOP_N = 10  # rows of the per-tensor error table kept in the record and report.md


def select(fallback_ops: dict, layer_error: Sequence[dict], *, threshold: float = RMSE_SCALE_THRESHOLD,
           max_tensors: int = MAX_TENSORS, top_n: int = TOP_N) -> dict:
    """The --auto choice from op coverage and per-tensor error (pure: see the module doc for the rule).

    ``fallback_ops``: {op type: nodes outside XNNPACK} of the plain int8 file. ``layer_error``:
    [{"tensor", "op", "rmse_scale", ...}] from the debugger. Returns {"keep_float": names for
    ``--keep-float``, "ops", "tensors", "reasons", "threshold", "max_tensors", "layer_error" (top ``top_n``)}.
    """
    ops = sorted(op for op, n in fallback_ops.items() if n and op not in NEVER_KEEP)
    reasons = [f"{op}: {fallback_ops[op]} node(s) fall back from XNNPACK in plain int8, cutting the graph" for op in ops]
    over = [e for e in ranked(layer_error) if e["rmse_scale"] > threshold and e.get("op") not in ops]
    tensors = [e["tensor"] for e in over[:max_tensors]]
    reasons += [f"{short(e['tensor'])} ({e.get('op')}): rmse/scale {e['rmse_scale']:.2f} > {threshold}" for e in over[:max_tensors]]
    if len(over) > max_tensors:
        reasons.append(f"{len(over) - max_tensors} more tensor(s) above {threshold} left in int8 (cap {max_tensors})")
    if not ops and not tensors:
        reasons.append(f"nothing to keep: no op falls back from XNNPACK and no tensor's rmse/scale exceeds {threshold}")
    table = error_table(layer_error, ops + tensors, top_n=top_n)
    return {"keep_float": ops + tensors, "ops": ops, "tensors": tensors, "reasons": reasons,
            "threshold": threshold, "max_tensors": max_tensors, "fallback_ops": dict(fallback_ops),
            "layer_error": table["rows"], "tensors_measured": table["tensors_measured"]}


def ranked(layer_error: Sequence[dict]) -> list:
    """The debugger's rows with a finite rmse/scale and a tensor name, worst first."""
    return sorted((e for e in layer_error if _finite(e.get("rmse_scale")) and e.get("tensor")),
                  key=lambda e: -e["rmse_scale"])


def error_table(layer_error: Sequence[dict], keep_float: Sequence[str] = (), *, top_n: int = TOP_N) -> dict:
    """The per-layer error of one int8 file (pure): {"rows": the ``top_n`` worst tensors, each marked "kept" when
    the file keeps it in float (its tensor or its op type is in ``keep_float``), "tensors_measured"}."""
    from edgetl.tflite.selective import split_keep_float

    ops, nodes = split_keep_float(keep_float)
    rows = ranked(layer_error)
    return {"rows": [{**e, "kept": e["tensor"] in nodes or e.get("op") in ops} for e in rows[:top_n]],
            "tensors_measured": len(rows)}


def short(tensor: str) -> str:
    """A tensor's display name: the first of the ';'-joined names TFLite gives a fused op's output."""
    return str(tensor).split(";")[0]


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def parse_layer_stats(csv_text: str) -> list:
    """Rows of ``QuantizationDebugger.layer_statistics_dump`` -> [{"tensor", "op", "rmse_scale", "scale", ...}]."""
    out = []
    for row in csv.DictReader(_io.StringIO(csv_text)):
        try:
            mse, scale = float(row["mean_squared_error"]), float(row["scale"])
        except (KeyError, TypeError, ValueError):
            continue
        out.append({"tensor": row.get("tensor_name"), "op": row.get("op_name"),
                    "rmse_scale": math.sqrt(mse) / scale if scale > 0 and mse >= 0 else None,
                    "scale": scale, "max_abs_error": _float(row.get("max_abs_error"))})
    return out


def _float(v) -> Optional[float]:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def measure(concrete_fn, contract, calibration: np.ndarray, io: str) -> tuple[dict, list]:
    """(fallback ops of the plain int8 file, per-tensor error): one calibration, by the quantization debugger."""
    from edgetl import _tf
    from edgetl.errors import EdgetlError
    from edgetl.tflite.converter import _QuietAbsl, _converter, _representative
    from edgetl.tflite.keep_float import fallback_ops

    tf = _tf.tf()
    debug_set = _representative(calibration[:DEBUG_IMAGES], contract)
    try:
        with _QuietAbsl():
            conv = _converter(concrete_fn, "int8", calibration=calibration, contract=contract, io=io)
            dbg = tf.lite.experimental.QuantizationDebugger(
                converter=conv, debug_dataset=debug_set,
                debug_options=tf.lite.experimental.QuantizationDebugOptions(fully_quantize=True))
            plain = bytes(dbg.get_nondebug_quantized_model())
            dbg.run()
        buf = _io.StringIO()
        dbg.layer_statistics_dump(buf)
    except Exception as e:  # the debugger raises ValueError/RuntimeError/ConverterError
        msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise EdgetlError(f"TFLite's quantization debugger failed on this model ({msg}); for --auto, "
                          "name the ops to keep in float with --keep-float instead") from e
    _, cutting = fallback_ops(plain)  # the default int8's rule (``keep_float.fast_int8``): ops that cut the graph
    return cutting, parse_layer_stats(buf.getvalue())


class Debugged:
    """One quantization-debugger run on a model's plain int8 conversion, shared by every user in one quantize call:
    the per-layer error table of every int8 file, ``--auto``'s choice and ``--max-drop``'s ranking (one definition,
    one run). ``fallback``/``layer_error``: ``measure``'s pair; ``seconds``/``cpu_seconds``: its cost (about one more
    int8 conversion: on flowers_small at 96 px, MobileNetV2 0.35, 2.8 s CPU); ``error``: why it failed."""

    def __init__(self, model, contract, calibration: np.ndarray, io: str):
        import time

        from edgetl.errors import EdgetlError
        from edgetl.tflite.converter import trace

        t, cpu = time.perf_counter(), time.process_time()
        self.fallback, self.layer_error, self.error = {}, [], None
        try:
            self.fallback, self.layer_error = measure(trace(model, contract), contract, calibration, io)
        except EdgetlError as e:
            self.error = e
        self.seconds, self.cpu_seconds = time.perf_counter() - t, time.process_time() - cpu
        self.images = min(DEBUG_IMAGES, len(calibration))

    def check(self) -> "Debugged":
        """Itself, or the debugger's failure raised (--auto and --max-drop cannot decide without it)."""
        if self.error is not None:
            raise self.error
        return self

    def record(self, keep_float=()) -> dict:
        """The int8 record's "layer_error": ``error_table`` of the file that keeps ``keep_float`` in float, with
        what it cost, or {"error"} (the file is written all the same; only its table is missing)."""
        if self.error is not None:
            return {"error": str(self.error)}
        return {**error_table(self.layer_error, keep_float), "threshold": RMSE_SCALE_THRESHOLD,
                "images": self.images, "seconds": round(self.seconds, 2), "cpu_seconds": round(self.cpu_seconds, 2),
                "what": "plain int8 conversion, each op's output against the float op fed the same inputs"}


def choose(model, contract, calibration: np.ndarray, io: str, debugged: Optional[Debugged] = None, **rule) -> dict:
    """Measure the plain int8 conversion of ``model`` (or take ``debugged``) and apply ``select`` (the --auto
    decision)."""
    d = (debugged or Debugged(model, contract, calibration, io)).check()
    return select(d.fallback, d.layer_error, **rule)
