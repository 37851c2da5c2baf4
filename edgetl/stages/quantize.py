"""`edgetl quantize`: a run's model in every TFLite mode (post-training and QAT), behind the parity gate.

The converter itself (one trace, every post-training mode) is ``edgetl.tflite.converter``; this module
adds quantization-aware training and the run level: the run's model, data, calibration and gate (``RunDir``).
"""
from __future__ import annotations

import time
from typing import Callable, Optional

import numpy as np

from edgetl import _tf
from edgetl.errors import EdgetlError
from edgetl.formats.contract import Contract
from edgetl.config.stages import QuantizeConfig
from edgetl.formats.registry import check_io, parse_agreement, stem_of, tflite_format
from edgetl.tflite.converter import check_modes, convert_mode, convert_tflite, failed_record, trace, write_tflite
from edgetl.rundir import RunDir, locks_run
from edgetl.training.finetune import fine_tune


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


def qat_finetune(q, model, contract: Contract, splits, calibration: np.ndarray, *, epochs: int = 1,
                 batch_size: int = 16, learning_rate: float = 1e-5, seed: int = 42):
    """Fake-quantized fine-tuning of ``q`` (from ``qat_model``) on the run's training split (in memory or
    streamed), at a small LR so it stays close to the Keras model the parity gate compares with. The fake-quant
    ranges start from ``calibration`` (uint8 images)."""
    _tf.set_seed(seed)
    init_qat_ranges(q, model, contract.normalize(calibration))
    return fine_tune(q, splits, contract, lr=learning_rate, epochs=int(epochs), batch_size=batch_size, seed=seed)


# ---- the run-directory level ---------------------------------------------------------------------

@locks_run("edgetl quantize")
def quantize_run(cfg: QuantizeConfig, *, progress: Optional[Callable] = None, keep_going: bool = False) -> list:
    """Quantize the run ``cfg.run``'s model (``cfg.model``: another Keras file, e.g. RUN_DIR/model_pruned.keras) in
    each mode of ``cfg.modes``; every parameter, its default and its help is ``QuantizeConfig``'s.

    ``keep_float``: what the calibrated modes leave in float (``edgetl.tflite.selective``): op names
    (HARD_SWISH), tensor names, ``fallback`` (int8/qat: ops with no int8 kernel in XNNPACK that cut the graph)
    or ``none``; None is the default, ``fallback``. What was kept and why is each int8 record's "kept_float"
    (also in its contract and gate.json). ``auto``: int8 also keeps in float what ``edgetl.tflite.auto_float``
    chooses from the plain int8 file's op coverage and the quantization debugger's per-tensor error;
    the choice and its reasons are the int8 record's "auto_keep_float" (also saved in gate.json).
    ``max_drop``: int8's accuracy drop from float on the validation split, in points, is held within this limit by
    putting the worst tensors back into float (``edgetl.tflite.max_drop``); the steps are the int8 record's
    "max_drop", a drop that does not fit is its "max_drop_warning" (naming --mode qat). None: not measured.
    Every written int8 and qat file's record has "layer_error" (also in gate.json): its worst tensors by rmse/scale;
    int8's from the quantization debugger (``auto_float.Debugged.record``, the one run --auto and --max-drop also
    use), qat's against the float twin (``qat_error.QatMeasured``: the debugger cannot run on a QAT graph).

    Artifacts go to RUN_DIR as ``<model stem>_<mode>.tflite``. Every artifact passes the parity
    gate against the Keras model (``parity.gate_sample``: the whole validation split when small, else a stratified
    sample of ``parity_images``) and reports its
    test-split accuracy. Returns one record per mode. ``keep_going``: a mode that fails or is refused by
    the gate gets a record with "error" instead of stopping the others (`edgetl run` uses this).
    """
    run_dir, modes, io, data, model, parity_images = cfg.run, cfg.modes, cfg.io, cfg.data, cfg.model, cfg.parity_images
    calibration_images, qat_epochs, keep_float, auto = cfg.calibration_images, cfg.qat_epochs, cfg.keep_float, \
        cfg.auto_keep_float
    max_drop = cfg.max_drop
    agreement = parse_agreement(cfg.min_agreement)
    run = RunDir(run_dir)
    modes = check_modes(modes)
    check_io(io)
    if calibration_images is None or int(calibration_images) <= 0:
        raise EdgetlError(f"--calibration-images must be a positive number, got {calibration_images}")
    if qat_epochs is None or int(qat_epochs) < 0:
        raise EdgetlError(f"--qat-epochs must be 0 or more, got {qat_epochs}")
    if parity_images is not None and int(parity_images) <= 0:
        raise EdgetlError(f"--parity-images must be a positive number, got {parity_images}")
    if max_drop is not None and not float(max_drop) >= 0:
        raise EdgetlError(f"--max-drop must be 0 or more accuracy points, got {max_drop}")
    if auto and "int8" not in modes:
        raise EdgetlError("--auto chooses what int8 keeps in float; add --mode int8")
    from edgetl.formats.keep_float import resolve

    resolve(keep_float)  # a bad --keep-float fails here, before any work
    model_path = run.resolve_model(model)
    contract = run.contract_for(model_path)  # every artifact records the model it came from
    keras_model = run.load_model(model_path)
    trained = [m for m in modes if tflite_format(m).training]  # quantization-aware training (qat)
    q = qat_model(keras_model) if trained else None  # fail fast, before loading data
    calibrated = [m for m in modes if tflite_format(m).calibration]
    splits = run.splits_or_none(data, bool(calibrated), why=f"{'/'.join(calibrated)} need the run's training images")
    gate = run.gate(keras_model, model_path, contract, splits, agreement, parity_images)
    stem = stem_of(model_path)
    records = []
    ptq = [m for m in modes if m not in trained]
    if ptq:
        cal = run.calibration(splits, calibration_images) if any(m in calibrated for m in ptq) else None
        others = [m for m in ptq if not (auto and m == "int8")]
        recs = convert_tflite(keras_model, contract, others, run.path, calibration=cal, io=io, stem=stem, gate=gate,
                              progress=progress, keep_going=keep_going, keep_float=keep_float) if others else {}
        debugged = _debug("int8", keras_model, contract, cal, io, progress) if "int8" in ptq else None
        if auto:
            recs["int8"] = _auto_int8(keras_model, contract, run.path, cal, io, stem, gate, progress, keep_going,
                                      keep_float, debugged)
        if max_drop is not None and "int8" in recs and recs["int8"].get("artifact"):
            recs["int8"] = _max_drop_int8(recs["int8"], keras_model, contract, run.path, cal, io, stem, gate, splits,
                                          float(max_drop), progress, debugged)
        if debugged is not None:
            _add_layer_error(recs["int8"], debugged)
        records += [recs[m] for m in ptq]
    for mode in trained:
        if progress:
            progress(f"{mode} fine-tuning", len(ptq), len(modes))
        t = time.perf_counter()
        cal = run.calibration(splits, calibration_images)
        q = qat_finetune(q, keras_model, contract, splits, cal, epochs=int(qat_epochs))
        try:
            data_bytes, kept = convert_mode(trace(q, contract), mode, keep_float, io=io, calibration=cal,
                                            contract=contract)
            rec = write_tflite(data_bytes, tflite_format(mode), contract, run.path, stem=stem, gate=gate,
                               kept_float=kept)
        except EdgetlError as e:
            if not keep_going:
                raise
            rec = failed_record(tflite_format(mode), run.path, stem, e)
        rec["seconds"] = time.perf_counter() - t
        rec["qat_epochs"] = int(qat_epochs)
        if rec.get("artifact"):  # TFLite's debugger makes no debug model of a QAT graph: measured against a float twin
            from edgetl.tflite.qat_error import QatMeasured

            if progress:
                progress(f"{mode}: per-layer error (against the float twin)", len(ptq), len(modes))
            _add_layer_error(rec, QatMeasured(q, keras_model, contract, rec["artifact"], cal))
        records.append(rec)
    for r in records:
        r["model"] = str(model_path)
    if progress:
        progress("done", len(modes), len(modes))
    return records


def _debug(mode, model, contract, cal, io, progress):
    """The quantization debugger's one run on ``model``'s plain int8 conversion (``auto_float.Debugged``)."""
    from edgetl.tflite.auto_float import Debugged

    if progress:
        progress(f"{mode}: per-layer error (quantization debugger)", 0, 1)
    return Debugged(model, contract, cal, io)


def _add_layer_error(rec: dict, debugged) -> None:
    """Every written int8/qat file's per-layer error table: in its record and its gate.json record."""
    from edgetl.runtime.parity import annotate_record

    if rec.get("artifact"):
        rec["layer_error"] = debugged.record(rec.get("keep_float") or [])
        annotate_record(rec["artifact"], layer_error=rec["layer_error"])


def _max_drop_int8(rec, keras_model, contract, out_dir, cal, io, stem, gate, splits, limit, progress,
                   debugged=None) -> dict:
    """int8 within --max-drop: measure the written file on the validation split, put the worst tensors back into
    float while it is above the limit (``max_drop.control``), rewrite the best file behind the gate."""
    from edgetl.data.access import predict_split, split_labels
    from edgetl.formats.keep_float import FALLBACK
    from edgetl.runtime.parity import annotate_record
    from edgetl.runtime.registry import open_artifact
    from edgetl.tflite import max_drop as md

    if splits is None or not len(split_labels(splits, "val")):
        rec["max_drop"] = {"limit": limit, "verdict": "not measured", "message": "no validation images to measure on"}
        return rec
    if progress:
        progress(f"int8 --max-drop {limit:g}: accuracy drop on the validation split", 0, 1)
    ref_probs, labels = predict_split(gate.reference.predict, splits, "val", contract)
    ref_ok = contract.decide(ref_probs) == np.asarray(labels)

    def predict_val(runner):
        return predict_split(runner.predict, splits, "val", runner.contract)

    kept = list(rec.get("keep_float") or [])
    rule = (rec.get("kept_float") or {}).get("rule") == FALLBACK
    base = kept + ([FALLBACK] if rule else [])
    convert_measure = md.measurer(keras_model, contract, cal, io, base, ref_ok, predict_val)

    def measure(extra: list) -> dict:
        if extra:
            if progress:
                progress(f"int8 --max-drop: {len(extra)} tensor(s) back in float", len(extra), md.MAX_STEPS)
            return convert_measure(extra)
        runner = open_artifact(rec["artifact"])  # the file as written: no second conversion
        probs, got_labels = predict_val(runner)
        return md.paired_drop(ref_ok, runner.contract.decide(probs) == np.asarray(got_labels))

    if debugged is None:
        from edgetl.tflite.auto_float import Debugged

        debugged = Debugged(keras_model, contract, cal, io)
    result = md.control(measure, lambda: md.ranking(debugged.check().layer_error, kept), limit)
    best = result["steps"][result["best"]]
    if best["kept"]:
        why = {t: f"put back into float by --max-drop {limit:g} (step {i + 1}: the worst remaining tensor by the "
                  "quantization debugger's rmse/scale)" for i, t in enumerate(best["kept"])}
        why.update({t: r.split(": ", 1)[1] for r in (rec.get("kept_float") or {}).get("reasons", [])
                    for t in kept if r.startswith(f"{t}: ")})
        try:
            new = convert_tflite(keras_model, contract, ["int8"], out_dir, calibration=cal, io=io, stem=stem,
                                 gate=gate, keep_float=base + best["kept"], keep_why=why)["int8"]
        except EdgetlError as e:  # e.g. refused by the gate: the file already written stays, and says why
            result["verdict"], result["best"] = "not applied", 0
            result["message"] += f"; the better file was not written ({e}), the first one stays"
        else:
            new["seconds"] = (rec.get("seconds") or 0.0) + new["seconds"]
            new.update({k: rec[k] for k in ("auto_keep_float",) if k in rec})
            rec = new
    rec["max_drop"] = result
    if result["verdict"] != "fits":
        rec["max_drop_warning"] = result["message"]
    annotate_record(rec["artifact"], max_drop=result)
    return rec


def _auto_int8(keras_model, contract, out_dir, cal, io, stem, gate, progress, keep_going, keep_float,
               debugged=None) -> dict:
    """int8 with --auto: measure, choose (``auto_float``), convert by the --keep-float path behind the gate."""
    from edgetl.runtime.parity import annotate_record
    from edgetl.tflite.auto_float import choose

    if progress:
        progress("int8 --auto: op coverage + quantization debugger", 0, 1)
    t = time.perf_counter()
    try:
        sel = choose(keras_model, contract, cal, io, debugged)
    except EdgetlError as e:
        if not keep_going:
            raise
        return failed_record(tflite_format("int8"), out_dir, stem, e)
    from edgetl.formats.keep_float import FALLBACK, resolve

    rule, names = resolve(keep_float)
    chosen = list(dict.fromkeys(names + sel["keep_float"] + ([FALLBACK] if rule else [])))
    why = dict(zip(sel["keep_float"], [r.split(": ", 1)[1] for r in sel["reasons"][:len(sel["keep_float"])]]))
    why = {k: f"--auto: {v}" for k, v in why.items() if k not in names}
    rec = convert_tflite(keras_model, contract, ["int8"], out_dir, calibration=cal, io=io, stem=stem, gate=gate,
                         progress=progress, keep_going=keep_going, keep_float=chosen, keep_why=why)["int8"]
    rec["seconds"] = time.perf_counter() - t
    rec["auto_keep_float"] = sel
    if rec.get("artifact"):
        annotate_record(rec["artifact"], auto_keep_float=sel)
    return rec
