"""TFLite conversion of a Keras model in every post-training mode of the registry, one trace for all modes.

Speed: ``TFLiteConverter.from_keras_model`` (and ``from_concrete_functions`` given the model as
trackable object) re-exports a SavedModel of the whole Keras model on every call, which is most of
its time. Here the model is traced ONCE to a batch-1 concrete function and each mode converts that
function without a trackable object, so TFLite freezes the graph directly (measured figures in
``benchmarks/bench_convert.py`` and docs/quantize.md). Above ``SAVED_MODEL_PARAMS`` the function goes
through a temporary SavedModel instead: freezing VGG16 (138 M params) directly peaked above 9 GB RSS
in float32, the SavedModel importer at 3.7 GB (int8: 6.1 GB).

The format's converter, shared by the stages (quantize, convert, prune's size figures) and by
``edgetl compare``; the run-level step with QAT and the parity gate is the quantize stage.
"""
from __future__ import annotations

import time
from typing import Callable, Optional, Sequence

import numpy as np

from edgetl import _tf
from edgetl.errors import EdgetlError
from edgetl.formats import metadata as tflite_metadata
from edgetl.formats.contract import Contract
from edgetl.formats.registry import DEFAULT_IO, check_io, mode_formats, tflite_format
from edgetl.fsutil import atomic_path, gzip_mb, write_json
from edgetl.runtime.runners import TFLiteRunner, sidecar_path


def check_modes(modes: Sequence[str]) -> list:
    """Checked `--mode` values (the registry's TFLite formats)."""
    return [f.mode for f in mode_formats(modes)]


def trace(model, contract: Contract):
    """The model as a batch-1 float32 NHWC concrete function (inference mode): the one expensive export."""
    tf = _tf.tf()
    fn = tf.function(lambda x: model(x, training=False))
    return fn.get_concrete_function(tf.TensorSpec([1, contract.height, contract.width, 3], tf.float32, name="input"))


def _representative(calibration: np.ndarray, contract: Contract) -> Callable:
    x = contract.normalize(calibration).astype(np.float32)

    def gen():
        for i in range(len(x)):
            yield [x[i:i + 1]]

    return gen


SAVED_MODEL_PARAMS = 50_000_000  # above: convert through a SavedModel (bounded memory; see module doc)


def _params(concrete_fn) -> int:
    return sum(int(v.shape.num_elements() or 0) for v in concrete_fn.variables)


def _converter(concrete_fn, mode: str, *, calibration=None, contract=None, io: str = DEFAULT_IO,
               saved_model_dir: Optional[str] = None):
    """A TFLiteConverter set up by the registry entry of ``mode`` (its ``configure``); with
    ``saved_model_dir``, ``concrete_fn`` is saved there and converted from it."""
    tf = _tf.tf()
    fmt = tflite_format(mode)
    if saved_model_dir:
        holder = tf.Module()
        holder.variables_ = list(concrete_fn.variables)  # tracked, so the signature may capture them
        tf.saved_model.save(holder, saved_model_dir, signatures=concrete_fn)
        conv = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
    else:
        conv = tf.lite.TFLiteConverter.from_concrete_functions([concrete_fn])
    rep = _representative(calibration, contract) if fmt.calibration else None
    return fmt.configure(conv, tf, fmt.io_for(io), rep)


class _QuietAbsl:
    """Hide TFLite's "consider providing the trackable_obj" warning: leaving it out is the point (see module doc)."""

    def __enter__(self):
        import logging

        self._logger = logging.getLogger("absl")
        self._level = self._logger.level
        self._logger.setLevel(logging.ERROR)

    def __exit__(self, *exc):
        self._logger.setLevel(self._level)


def convert_bytes(concrete_fn, mode, *, keep_float: Sequence[str] = (), **kw) -> bytes:
    """The TFLite flatbuffer of ``concrete_fn`` (from ``trace``) in ``mode``, or a one-line EdgetlError.

    ``keep_float``: TFLite op names (HARD_SWISH) or tensor names a calibrated mode leaves in float
    (``edgetl.tflite.selective``)."""
    if keep_float and tflite_format(mode).calibration:
        from edgetl.tflite.selective import convert_keep_float

        with _QuietAbsl():
            return convert_keep_float(_converter(concrete_fn, mode, **kw),
                                      _representative(kw["calibration"], kw["contract"]), keep_float)
    try:
        with _QuietAbsl():
            if _params(concrete_fn) <= SAVED_MODEL_PARAMS:
                return _converter(concrete_fn, mode, **kw).convert()
            import tempfile

            with tempfile.TemporaryDirectory(prefix="edgetl-tflite-") as tmp:
                return _converter(concrete_fn, mode, saved_model_dir=tmp, **kw).convert()
    except Exception as e:  # the converter raises ConverterError, ValueError, RuntimeError...
        msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise EdgetlError(f"TFLite {mode} conversion failed ({msg}); try another --mode (float32 converts every TF op)") from e


def convert_mode(concrete_fn, mode: str, keep_float: Optional[Sequence[str]], keep_why: Optional[dict] = None,
                 **kw) -> tuple[bytes, Optional[dict]]:
    """(bytes, what stayed in float and why) of one mode: int8 kernels' modes (int8, qat) by
    ``keep_float.fast_int8`` (by default ops XNNPACK has no int8 kernel for stay float), the others as named."""
    from edgetl.tflite.keep_float import fast_int8, resolve

    if tflite_format(mode).int8_kernels:
        return fast_int8(lambda names: convert_bytes(concrete_fn, mode, keep_float=names, **kw), keep_float, keep_why)
    return convert_bytes(concrete_fn, mode, keep_float=resolve(keep_float)[1], **kw), None


def check_calibration(calibration, contract: Contract) -> np.ndarray:
    if calibration is None or len(calibration) == 0:
        raise EdgetlError("int8 needs calibration images: pass --data DIR (the run's class folders) "
                          "and --calibration-images N > 0")
    cal = np.asarray(calibration)
    if cal.dtype != np.uint8 or cal.ndim != 4 or cal.shape[1:] != (contract.height, contract.width, 3):
        raise EdgetlError(f"calibration images must be uint8 (N, {contract.height}, {contract.width}, 3) pixels, "
                          f"got {cal.dtype} {cal.shape}; load them with edgetl.data.sources at the contract's size")
    return cal


def artifact_contract(base: Contract, fmt, runner) -> Contract:
    """The run's contract with this artifact's real input/output tensor types, scales and zero points."""
    return base.replace(artifact=fmt.name, input=runner.input_spec(), output=runner.output_spec())


def write_tflite(data: bytes, fmt, contract: Contract, out_dir, *, stem: str = "model", gate=None,
                 kept_float: Optional[dict] = None) -> dict:
    """Write one TFLite artifact + its contract, atomically, after it passed ``gate`` (if any).

    The file is written to a temporary name, opened with ai-edge-litert, its contract filled from
    the real tensor details and embedded as TFLite metadata (labels, normalisation), gated; only then do the ``.json`` contract and the ``.tflite`` take
    their final names. A refused or failed artifact leaves nothing behind and never touches an
    existing file of the same name. ``kept_float`` (int8: what stayed in float and why, from
    ``keep_float.fast_int8``) goes into the contract, the record and gate.json.
    """
    final = fmt.path(out_dir, stem)
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)
        c = artifact_contract(contract, fmt, TFLiteRunner(tmp, contract=contract))
        if kept_float is not None:
            c = c.replace(kept_float={k: kept_float[k] for k in ("keep_float", "reasons") if k in kept_float})
        # One contract -> both the sidecar JSON and the embedded TFLite metadata (edgetl.formats.metadata).
        data = tflite_metadata.populate(data, c, tflite_metadata.ModelInfo.for_run(c, out_dir))
        tmp.unlink()  # a new inode: the interpreter above may still map the old bytes
        tmp.write_bytes(data)
        runner = TFLiteRunner(tmp, contract=c)
        runner.display_name = final.name
        rec = {"artifact": str(final), "file": final.name, "format": fmt.name, "mode": fmt.mode, "runtime": "tflite",
               "size_mb": len(data) / 1e6, "gzip_mb": gzip_mb(data),
               "input_dtype": c.input.dtype, "output_dtype": c.output.dtype}
        if kept_float is not None:
            rec["keep_float"], rec["kept_float"] = list(kept_float["keep_float"]), kept_float
        if gate is not None:
            rec.update(gate.check(fmt, runner))
        write_json(sidecar_path(final), c.to_dict())
    if gate is not None and kept_float is not None and rec.get("gate") != "refuse":
        from edgetl.runtime.parity import annotate_record

        annotate_record(final, keep_float=rec["keep_float"], kept_float=kept_float)
    return rec


def failed_record(fmt, out_dir, stem: str, error: Exception) -> dict:
    """The record of an artifact that was not written (refused by the gate or failed to convert)."""
    final = fmt.path(out_dir, stem)
    return {"artifact": None, "file": final.name, "format": fmt.name, "mode": fmt.mode, "runtime": "tflite",
            "error": str(error)}


def convert_tflite(model, contract: Contract, modes: Sequence[str], out_dir, *, calibration=None, io: str = DEFAULT_IO,
                   stem: str = "model", gate=None, progress: Optional[Callable] = None, keep_going: bool = False,
                   keep_float: Optional[Sequence[str]] = None, keep_why: Optional[dict] = None) -> dict:
    """Convert a tf_keras model to ``out_dir/{stem}_{mode}.tflite`` (+ ``.json`` contract) per post-training mode.

    ``calibration``: uint8 NHWC pixels at the contract's size (int8 only). ``gate``: a
    ``parity.Gate``; an artifact it refuses raises EdgetlError and is not written (with
    ``keep_going``, its record carries the reason in "error" and the other modes go on).
    ``keep_float``: names and keywords of ``--keep-float`` (None: its default, ``fallback``; see
    ``edgetl.formats.keep_float``); ``keep_why``: {name: reason} of names a caller chose (`--auto`, `--max-drop`).
    Returns {mode: record}.
    """
    modes = check_modes(modes)
    for m in modes:
        if tflite_format(m).training:
            raise EdgetlError(f"{m} needs training: use quantize_run / `edgetl quantize RUN_DIR --mode {m}`")
    check_io(io)
    if any(tflite_format(m).calibration for m in modes):
        calibration = check_calibration(calibration, contract)
    t0 = time.perf_counter()
    concrete_fn = trace(model, contract)
    trace_s = time.perf_counter() - t0
    records = {}
    for i, mode in enumerate(modes):
        if progress:
            progress(f"tflite {mode}", i, len(modes))
        t = time.perf_counter()
        try:
            data, kept = convert_mode(concrete_fn, mode, keep_float, keep_why, calibration=calibration, contract=contract,
                                      io=io)
            seconds = time.perf_counter() - t
            rec = write_tflite(data, tflite_format(mode), contract, out_dir, stem=stem, gate=gate, kept_float=kept)
        except EdgetlError as e:
            if not keep_going:
                raise
            rec = failed_record(tflite_format(mode), out_dir, stem, e)
            seconds = time.perf_counter() - t
        rec["seconds"] = seconds + (trace_s if i == 0 else 0.0)  # the one-off trace is charged to the first mode
        records[mode] = rec
    if progress:
        progress("done", len(modes), len(modes))
    return records
