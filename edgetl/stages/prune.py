"""Magnitude pruning (TFMOT): polynomial sparsity schedule, fine-tuned on the run's data, wrappers stripped.

Writes RUN_DIR/model_pruned.keras beside model.keras; it shares the run's contract.json, and
`edgetl quantize/convert RUN_DIR --model model_pruned.keras` turn it into model_pruned_<mode>.tflite
and model_pruned.onnx. Zeros do not shrink a dense file: the size gain only shows after
compression, so the report gives gzipped sizes (of the .keras file and of its float32 TFLite).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from edgetl import _tf
from edgetl.config.stages import PruneConfig
from edgetl.data.access import split_labels
from edgetl.errors import EdgetlError
from edgetl.fsutil import atomic_path, gzip_mb
from edgetl.rundir import RunDir, locks_run
from edgetl.training.finetune import fine_tune

PRUNED_MODEL_FILE = "model_pruned.keras"
PRUNABLE_KERNELS = {"Conv2D": "kernel", "Dense": "kernel"}  # what TFMOT 0.8 prunes (not depthwise kernels)
ALL_KERNELS = {**PRUNABLE_KERNELS, "DepthwiseConv2D": "depthwise_kernel"}


def check_sparsity(sparsity: float) -> float:
    try:
        s = float(sparsity)
    except (TypeError, ValueError) as err:
        raise EdgetlError(f"--sparsity must be a number between 0 and 1 (e.g. 0.5), got {sparsity!r}") from err
    if not 0.0 < s < 1.0:
        raise EdgetlError(f"--sparsity {sparsity} is outside (0, 1); pass a fraction of weights to zero, e.g. 0.5")
    return s


def _zeros(model, kinds: dict) -> tuple:
    zeros = total = 0
    for layer in model.layers:
        attr = kinds.get(type(layer).__name__)
        if attr is None or not hasattr(layer, attr):
            continue
        w = getattr(layer, attr).numpy()
        zeros += int(np.count_nonzero(w == 0))
        total += int(w.size)
    return zeros, total


def sparsity_of(model) -> dict:
    """Fraction of exact zeros in the kernels TFMOT prunes (conv, dense) of a stripped model, and over all
    kernels including the depthwise ones TFMOT leaves dense."""
    z, t = _zeros(model, PRUNABLE_KERNELS)
    za, ta = _zeros(model, ALL_KERNELS)
    return {"sparsity": z / t if t else 0.0, "pruned_weights": z, "prunable_weights": t,
            "sparsity_all_kernels": za / ta if ta else 0.0}


def _keras_gzip_mb(model) -> float:
    """Gzipped size of ``model`` saved as .keras without optimizer state (model.keras from training carries Adam's
    slots, which would make any comparison with the pruned file unfair)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix=".edgetl-gz-") as d:
        path = Path(d) / "model.keras"
        model.save(path)  # loaded with compile=False: no optimizer slots
        return gzip_mb(path.read_bytes())


def _tflite_gzip_mb(model, contract) -> float:
    from edgetl.tflite.converter import convert_bytes, trace

    return gzip_mb(convert_bytes(trace(model, contract), "float32"))


def prune_model(model, splits, contract, *, sparsity: float = 0.5, epochs: int = 1,
                batch_size: int = 16, learning_rate: float = 1e-4, seed: int = 42):
    """Low-magnitude pruning of every conv/dense kernel to ``sparsity`` (polynomial schedule over the fine-tuning
    steps, updated every step), then ``strip_pruning``. BatchNorm stays in inference mode. Fine-tunes on the
    training split of ``splits`` (in memory or streamed, ``data.access``)."""
    import tensorflow_model_optimization as tfmot

    keras = _tf.keras()
    _tf.set_seed(seed)
    sparsity = check_sparsity(sparsity)
    if int(epochs) < 1:
        raise EdgetlError(f"--epochs must be at least 1 for pruning (the schedule runs during fine-tuning), got {epochs}")
    n = len(split_labels(splits, "train"))
    if n < 2:
        raise EdgetlError("pruning needs at least 2 training images; pass --data DIR with the run's class folders")
    batch_size = max(1, min(int(batch_size), n // 2))  # at least 2 steps per epoch, so the schedule has a ramp
    steps = int(np.ceil(n / batch_size)) * int(epochs)
    weights = model.get_weights()
    model = keras.models.clone_model(model)  # leave the caller's model untouched (clone_model re-initialises...)
    model.set_weights(weights)  # ...so copy the trained weights over
    model.trainable = True
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    schedule = tfmot.sparsity.keras.PolynomialDecay(initial_sparsity=0.0, final_sparsity=sparsity, begin_step=0,
                                                    end_step=steps - 1, frequency=1)
    try:
        pruned = tfmot.sparsity.keras.prune_low_magnitude(model, pruning_schedule=schedule)
    except ValueError as e:
        raise EdgetlError(f"TFMOT cannot prune this model ({str(e).splitlines()[0][:160]}); "
                          "retrain with `edgetl train`") from e
    fine_tune(pruned, splits, contract, lr=learning_rate, epochs=int(epochs), batch_size=batch_size,
              callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    return tfmot.sparsity.keras.strip_pruning(pruned)


@locks_run("edgetl prune")
def prune_run(cfg: PruneConfig, *, out_name: str = PRUNED_MODEL_FILE) -> dict:
    """Prune the run ``cfg.run``'s model.keras and write RUN_DIR/model_pruned.keras (atomically); return the report.
    Every parameter, its default and its help is ``PruneConfig``'s.

    ``cfg.max_drop``: the pruned model's accuracy drop from the unpruned one on the validation split, paired
    (``max_drop.paired_drop``), is the report's "max_drop"; above the limit, "max_drop_warning" says so (None: off)."""
    from edgetl.runtime.parity import split_accuracy
    from edgetl.runtime.runners import KerasRunner

    sparsity, epochs, data, max_drop = cfg.sparsity, cfg.epochs, cfg.data, cfg.max_drop
    run = RunDir(cfg.run)
    sparsity = check_sparsity(sparsity)
    if int(epochs) < 1:
        raise EdgetlError(f"--epochs must be at least 1 for pruning, got {epochs}")
    contract = run.contract()
    model = run.load_model()
    try:
        splits = run.splits(data)
    except EdgetlError as e:
        raise EdgetlError(f"{e} (pruning fine-tunes on the run's training images)") from e
    t = time.perf_counter()
    stripped = prune_model(model, splits, contract, sparsity=sparsity, epochs=epochs)
    seconds = time.perf_counter() - t
    final = run.path / out_name
    with atomic_path(final) as tmp:
        stripped.save(tmp)
        data_bytes = tmp.read_bytes()
    run.record_source(final, run.model_path)  # model_pruned.json: which model.keras it was pruned from
    report = {"artifact": str(final), "file": final.name, "format": "keras:pruned", "runtime": "keras",
              "sparsity_target": sparsity, **sparsity_of(stripped), "epochs": int(epochs),
              "size_mb": len(data_bytes) / 1e6, "gzip_mb": gzip_mb(data_bytes),
              "unpruned_gzip_mb": _keras_gzip_mb(model),
              "tflite_gzip_mb": _tflite_gzip_mb(stripped, contract),
              "unpruned_tflite_gzip_mb": _tflite_gzip_mb(model, contract),
              "accuracy": split_accuracy(KerasRunner(final, contract, model=stripped), splits),
              "keras_accuracy": split_accuracy(KerasRunner(run.model_path, contract, model=model), splits),
              "seconds": seconds}
    if max_drop is not None:
        report.update(_drop_check(stripped, model, final, run.model_path, contract, splits, float(max_drop)))
    return report


def _drop_check(pruned, model, pruned_path, model_path, contract, splits, limit: float) -> dict:
    """{"max_drop": the paired validation drop of the pruned model, "max_drop_warning" when above ``limit``}."""
    from edgetl.data.access import predict_split, split_labels
    from edgetl.runtime.runners import KerasRunner
    from edgetl.tflite.max_drop import paired_drop

    if not len(split_labels(splits, "val")):
        return {"max_drop": {"limit": limit, "verdict": "not measured", "message": "no validation images"}}
    ok = []
    for m, path in ((model, model_path), (pruned, pruned_path)):
        probs, labels = predict_split(KerasRunner(path, contract, model=m).predict, splits, "val", contract)
        ok.append(contract.decide(probs) == np.asarray(labels))
    d = paired_drop(*ok)
    where = f"{d['drop']:+.1f} points [{d['low']:+.1f}, {d['high']:+.1f}] on {d['n']} validation images"
    out = {"max_drop": {"limit": limit, **d, "verdict": "fits" if d["drop"] <= limit else "above"}}
    if d["drop"] > limit:
        out["max_drop_warning"] = (f"the pruned model drops {where} from the unpruned one, above --max-drop {limit:g}; "
                                   "fine-tune longer (--epochs) or prune less (--sparsity)")
    return out
