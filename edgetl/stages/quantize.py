"""TFLite conversion in every mode (float32, dynamic range, float16, full-integer int8, QAT), behind the parity gate.

Speed: ``TFLiteConverter.from_keras_model`` (and ``from_concrete_functions`` given the model as
trackable object) re-exports a SavedModel of the whole Keras model on every call, which is most of
its time. Here the model is traced ONCE to a batch-1 concrete function and each mode converts that
function without a trackable object, so TFLite freezes the graph directly (measured figures in
``benchmarks/bench_convert.py`` and docs/quantize.md).
"""
from __future__ import annotations

import gzip
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from edgetl import _tf
from edgetl.formats.registry import stem_of, tflite_format
from edgetl.formats import metadata as tflite_metadata
from edgetl.formats.contract import Contract
from edgetl.errors import EdgetlError, check_choices
from edgetl.fsutil import atomic_path, write_json
from edgetl.measure.runtime import TFLiteRunner, sidecar_path

MODES = ("float32", "dynamic", "float16", "int8", "qat")
PTQ_MODES = ("float32", "dynamic", "float16", "int8")
IO_TYPES = ("uint8", "int8", "float32")
INTEGER_MODES = ("int8", "qat")


def check_modes(modes: Sequence[str]) -> list:
    return check_choices(modes, MODES, "--mode", "quantization mode")


def check_io(io: str) -> str:
    if io not in IO_TYPES:
        raise EdgetlError(f"--io {io} is not supported; choose one of: {', '.join(IO_TYPES)}")
    return io


# ---- converting ------------------------------------------------------------------------------

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


def _converter(concrete_fn, mode: str, *, calibration=None, contract=None, io: str = "uint8"):
    tf = _tf.tf()
    conv = tf.lite.TFLiteConverter.from_concrete_functions([concrete_fn])
    if mode == "float32":
        return conv
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        conv.target_spec.supported_types = [tf.float16]
    elif mode in INTEGER_MODES:
        # int8: calibrates every activation range; qat: the ranges come from the fake-quant layers, TFLite still
        # needs a representative dataset for full-integer ops without one (e.g. the input).
        conv.representative_dataset = _representative(calibration, contract)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if io != "float32":
            conv.inference_input_type = getattr(tf, io)
            conv.inference_output_type = getattr(tf, io)
    return conv


class _QuietAbsl:
    """Hide TFLite's "consider providing the trackable_obj" warning: leaving it out is the point (see module doc)."""

    def __enter__(self):
        import logging

        self._logger = logging.getLogger("absl")
        self._level = self._logger.level
        self._logger.setLevel(logging.ERROR)

    def __exit__(self, *exc):
        self._logger.setLevel(self._level)


def _convert_bytes(concrete_fn, mode, **kw) -> bytes:
    try:
        with _QuietAbsl():
            return _converter(concrete_fn, mode, **kw).convert()
    except Exception as e:  # the converter raises ConverterError, ValueError, RuntimeError...
        msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise EdgetlError(f"TFLite {mode} conversion failed ({msg}); try another --mode (float32 converts every TF op)") from e


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


def gzip_mb(data: bytes) -> float:
    return len(gzip.compress(data, compresslevel=6)) / 1e6


def write_tflite(data: bytes, fmt, contract: Contract, out_dir, *, stem: str = "model", gate=None) -> dict:
    """Write one TFLite artifact + its contract, atomically, after it passed ``gate`` (if any).

    The file is written to a temporary name, opened with ai-edge-litert, its contract filled from
    the real tensor details and embedded as TFLite metadata (labels, normalisation), gated; only then do the ``.json`` contract and the ``.tflite`` take
    their final names. A refused or failed artifact leaves nothing behind and never touches an
    existing file of the same name.
    """
    final = fmt.path(out_dir, stem)
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)
        c = artifact_contract(contract, fmt, TFLiteRunner(tmp, contract=contract))
        # One contract -> both the sidecar JSON and the embedded TFLite metadata (edgetl.formats.metadata).
        data = tflite_metadata.populate(data, c, tflite_metadata.ModelInfo.for_run(c, out_dir))
        tmp.unlink()  # a new inode: the interpreter above may still map the old bytes
        tmp.write_bytes(data)
        runner = TFLiteRunner(tmp, contract=c)
        runner.display_name = final.name
        rec = {"artifact": str(final), "file": final.name, "format": fmt.name, "mode": fmt.mode, "runtime": "tflite",
               "size_mb": len(data) / 1e6, "gzip_mb": gzip_mb(data),
               "input_dtype": c.input.dtype, "output_dtype": c.output.dtype}
        if gate is not None:
            rec.update(gate.check(fmt, runner))
        write_json(sidecar_path(final), c.to_dict())
    return rec


def failed_record(fmt, out_dir, stem: str, error: Exception) -> dict:
    """The record of an artifact that was not written (refused by the gate or failed to convert)."""
    final = fmt.path(out_dir, stem)
    return {"artifact": None, "file": final.name, "format": fmt.name, "mode": fmt.mode, "runtime": "tflite",
            "error": str(error)}


def convert_tflite(model, contract: Contract, modes: Sequence[str], out_dir, *, calibration=None, io: str = "uint8",
                   stem: str = "model", gate=None, progress: Optional[Callable] = None, keep_going: bool = False) -> dict:
    """Convert a tf_keras model to ``out_dir/{stem}_{mode}.tflite`` (+ ``.json`` contract) per post-training mode.

    ``calibration``: uint8 NHWC pixels at the contract's size (int8 only). ``gate``: a
    ``parity.Gate``; an artifact it refuses raises EdgetlError and is not written (with
    ``keep_going``, its record carries the reason in "error" and the other modes go on).
    Returns {mode: record}.
    """
    modes = check_modes(modes)
    if "qat" in modes:
        raise EdgetlError("qat needs training: use quantize_run / `edgetl quantize RUN_DIR --mode qat`")
    check_io(io)
    if "int8" in modes:
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
            data = _convert_bytes(concrete_fn, mode, calibration=calibration, contract=contract, io=io)
            seconds = time.perf_counter() - t
            rec = write_tflite(data, tflite_format(mode), contract, out_dir, stem=stem, gate=gate)
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


# ---- quantization-aware training -----------------------------------------------------------------

_NO_QAT_LAYERS = ("TFOpLambda", "SlicingOpLambda", "Lambda", "Rescaling", "Normalization")


def qat_model(model):
    """``tfmot.quantization.keras.quantize_model`` of a flat functional model, or a one-line EdgetlError."""
    import re

    import tensorflow_model_optimization as tfmot

    keras = _tf.keras()
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            raise EdgetlError(f"QAT needs a flat functional model but layer '{layer.name}' is a nested model; "
                              "retrain with `edgetl train` (it builds flat models) or use --mode int8")
        if type(layer).__name__ in _NO_QAT_LAYERS:
            raise EdgetlError(f"QAT cannot quantize layer '{layer.name}' ({type(layer).__name__}): TFMOT has no 8-bit scheme "
                              "for op lambdas (MobileNetV3's hard-swish is built from them); use --mode int8 "
                              "(post-training full-integer) for this backbone")
    try:
        return tfmot.quantization.keras.quantize_model(model)
    except Exception as e:  # TFMOT raises RuntimeError for unsupported layers, others from deep inside cloning
        msg = str(e).splitlines()[0]
        m = re.search(r"Layer (\S+?):<class '([^']+)'> is not supported", msg)
        if m:
            cls = m.group(2).rsplit(".", 1)[-1]
            raise EdgetlError(f"QAT cannot quantize layer '{m.group(1)}' ({cls}): TFMOT has no 8-bit scheme for it "
                              "(MobileNetV3's hard-swish is built from such op layers); use --mode int8 "
                              "(post-training full-integer) for this backbone") from e
        raise EdgetlError(f"QAT cannot quantize this model ({msg[:200]}); use --mode int8") from e


def init_qat_ranges(q, model, x: np.ndarray, batch_size: int = 8) -> int:
    """Start the fake-quant activation ranges of ``q`` at the ranges ``model`` really produces on ``x``.

    TFMOT starts every activation range at [-6, 6] and moves it by an EMA with decay 0.999, so the
    few hundred steps of a short QAT fine-tune never reach the real ranges (measured: 37% top-1
    agreement after one epoch). One forward pass in training mode sets the weight ranges; the
    activation ranges are then set from the float model's observed min/max. Returns how many were set.
    """
    import re

    keras = _tf.keras()
    q(x[:1], training=True)  # LastValueQuantizer: weight ranges from the weights themselves
    layers = {layer.name: layer for layer in model.layers}
    wanted = []  # (variable, layer name, "output" | "pre_activation", "min" | "max")
    for v in q.weights:
        m = re.match(r"quant_(.+)/(output|pre_activation)_(min|max):0$", v.name)
        if m and m.group(1) in layers:
            wanted.append((v, m.group(1), m.group(2), m.group(3)))
        elif re.match(r"quantize_layer/quantize_layer_(min|max):0$", v.name):
            wanted.append((v, None, "input", v.name.rsplit("_", 1)[-1][:3]))
    names = sorted({(n, kind) for _, n, kind, _ in wanted if n is not None})
    tensors = [layers[n].output if kind == "output" else layers[n].input for n, kind in names]
    probe = keras.Model(model.inputs, tensors)
    lo = {k: np.inf for k in names}
    hi = {k: -np.inf for k in names}
    for i in range(0, len(x), batch_size):
        outs = probe(x[i:i + batch_size], training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        for (n, kind), t in zip(names, outs):
            t = t.numpy()
            if kind == "pre_activation":  # the input of a Dense/Conv with a fused activation -> its pre-activation
                layer = layers[n]
                if type(layer).__name__ != "Dense":
                    continue
                t = t @ layer.kernel.numpy() + (layer.bias.numpy() if layer.use_bias else 0.0)
            lo[(n, kind)] = min(lo[(n, kind)], float(t.min()))
            hi[(n, kind)] = max(hi[(n, kind)], float(t.max()))
    count = 0
    for v, n, kind, which in wanted:
        if n is None:
            val = float(x.min()) if which == "min" else float(x.max())
        elif np.isfinite(lo[(n, kind)]):
            val = lo[(n, kind)] if which == "min" else hi[(n, kind)]
        else:
            continue
        v.assign(min(val, 0.0) if which == "min" else max(val, 0.0))  # a quantized range must contain 0
        count += 1
    return count


def qat_finetune(q, model, contract: Contract, images: np.ndarray, labels: np.ndarray, *, epochs: int = 1,
                 calibration: Optional[np.ndarray] = None, batch_size: int = 16, learning_rate: float = 1e-5,
                 seed: int = 42):
    """Fake-quantized fine-tuning of ``q`` (from ``qat_model``) on the run's training images, at a small LR so it
    stays close to the Keras model the parity gate compares with."""
    keras = _tf.keras()
    _tf.set_seed(seed)
    init_qat_ranges(q, model, contract.normalize(calibration if calibration is not None else images[:200]))
    units = int(q.output_shape[-1])
    loss = "binary_crossentropy" if units == 1 else "sparse_categorical_crossentropy"
    from edgetl.stages.prune import EAGER_MAX_STEPS

    steps = int(np.ceil(len(images) / batch_size)) * int(epochs)
    q.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=["accuracy"],
              run_eagerly=steps <= EAGER_MAX_STEPS)
    if epochs > 0:
        y = labels.astype(np.float32) if units == 1 else labels
        q.fit(contract.normalize(images), y, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=True)
    return q


# ---- the run-directory level ---------------------------------------------------------------------

def quantize_run(run_dir, modes, *, calibration_images: int = 200, io: str = "uint8", qat_epochs: int = 1,
                 data: Optional[str] = None, agreement: Optional[dict] = None, parity_images: Optional[int] = None,
                 progress: Optional[Callable] = None, model: Optional[str] = None, keep_going: bool = False) -> list:
    """Quantize a run's model (``model``: another Keras file, e.g. RUN_DIR/model_pruned.keras) in each mode.

    Artifacts go to RUN_DIR as ``<model stem>_<mode>.tflite``. Every artifact passes the parity
    gate against the Keras model (``parity.gate_sample``: the whole validation split when small, else a stratified
    sample of ``parity_images``) and reports its
    test-split accuracy. Returns one record per mode. ``keep_going``: a mode that fails or is refused by
    the gate gets a record with "error" instead of stopping the others (`edgetl run` uses this).
    """
    from edgetl.rundir import RunDir

    run = RunDir(run_dir)
    modes = check_modes(modes)
    check_io(io)
    if calibration_images is None or int(calibration_images) <= 0:
        raise EdgetlError(f"--calibration-images must be a positive number, got {calibration_images}")
    if qat_epochs is None or int(qat_epochs) < 0:
        raise EdgetlError(f"--qat-epochs must be 0 or more, got {qat_epochs}")
    if parity_images is not None and int(parity_images) <= 0:
        raise EdgetlError(f"--parity-images must be a positive number, got {parity_images}")
    contract = run.contract()
    model_path = resolve_model(run, model)
    keras_model = run.load_model(model_path)
    q = qat_model(keras_model) if "qat" in modes else None  # fail fast, before loading data
    needs_data = any(m in INTEGER_MODES for m in modes)
    splits = load_run_splits(run, data, needs_data, why="int8/qat need the run's training images")
    gate = make_gate(run, keras_model, model_path, contract, splits, agreement, parity_images)
    stem = stem_of(model_path)
    records = []
    ptq = [m for m in modes if m != "qat"]
    if ptq:
        cal = calibration_from(splits, calibration_images) if "int8" in ptq else None
        recs = convert_tflite(keras_model, contract, ptq, run.path, calibration=cal, io=io, stem=stem, gate=gate,
                              progress=progress, keep_going=keep_going)
        records += [recs[m] for m in ptq]
    if "qat" in modes:
        if progress:
            progress("qat fine-tuning", len(ptq), len(modes))
        t = time.perf_counter()
        cal = calibration_from(splits, calibration_images)
        q = qat_finetune(q, keras_model, contract, splits.train.images, splits.train.labels, epochs=int(qat_epochs),
                         calibration=cal)
        try:
            data_bytes = _convert_bytes(trace(q, contract), "qat", io=io, calibration=cal, contract=contract)
            rec = write_tflite(data_bytes, tflite_format("qat"), contract, run.path, stem=stem, gate=gate)
        except EdgetlError as e:
            if not keep_going:
                raise
            rec = failed_record(tflite_format("qat"), run.path, stem, e)
        rec["seconds"] = time.perf_counter() - t
        rec["qat_epochs"] = int(qat_epochs)
        records.append(rec)
    for r in records:
        r["model"] = str(model_path)
    if progress:
        progress("done", len(modes), len(modes))
    return records


def resolve_model(run, model: Optional[str]) -> Path:
    """The Keras model to convert: the run's model.keras, or ``model`` (a path, or a file name inside the run)."""
    if not model:
        return run.model_path
    p = Path(model)
    if not p.exists() and (run.path / p).exists():
        p = run.path / p
    if not p.is_file():
        raise EdgetlError(f"--model {model} not found; pass a .keras file such as {run.path / 'model_pruned.keras'} "
                          "(written by `edgetl prune`)")
    return p


def load_run_splits(run, data: Optional[str], required: bool, why: str):
    """The run's splits; when its data folder is gone, an error if ``required`` else None."""
    try:
        return run.splits(data)
    except EdgetlError as e:
        if required or data:
            raise EdgetlError(f"{e} ({why})") from e
        return None


def calibration_from(splits, n: int) -> np.ndarray:
    """Up to ``n`` training images, a seeded sample across classes."""
    images = splits.train.images
    idx = np.random.default_rng(0).permutation(len(images))[: int(n)]
    return images[np.sort(idx)]


def make_gate(run, keras_model, model_path, contract, splits, agreement, parity_images):
    """The parity gate for a run: a stratified seeded sample of the run's validation images, the whole split when
    small and ``parity_images`` is None (``parity.gate_sample``); random pixels when its data is gone."""
    from edgetl.measure.parity import Gate, gate_sample
    from edgetl.measure.runtime import KerasRunner

    ref = KerasRunner(model_path, contract, model=keras_model)
    if splits is not None and (len(splits.val) or len(splits.train)):
        part, source = (splits.val, "val") if len(splits.val) else (splits.train, "train")
        pixels = part.images[gate_sample(part.labels, parity_images)]
    else:
        rng = np.random.default_rng(0)
        n = min(int(parity_images or 32), 32)
        pixels = rng.integers(0, 256, (n, contract.height, contract.width, 3), dtype=np.uint8)
        source = "random (data folder gone; pass --data for real images)"
    ev_x = splits.test.images if splits is not None else None
    ev_y = splits.test.labels if splits is not None else None
    return Gate(ref, pixels, dict(agreement or {}), ev_x, ev_y, source)
