"""Two-phase transfer learning, the way the field does it.

Phase 1, feature extraction: the base is frozen (its BatchNorm layers run in inference mode) and a
new head (global pooling -> dropout -> dense) is trained. Without augmentation the frozen base's
pooled features are computed once and the dense layer is solved on them as an L2 logistic
regression (L-BFGS, strength chosen by validation loss): never below the simplest baseline, and
converged on small sets where a few epochs of Adam are not (docs/accuracy.md).
Phase 2, fine-tuning: the top N layers of the base are unfrozen (BatchNorm stays frozen) and the
whole model trains on at a smaller learning rate; early stopping on validation loss restores the
best weights. Fine-tuning a few hundred photos can make the model worse, so phase 2 is kept only
when a paired test on the per-image validation losses says it lowered them; otherwise phase 1's
weights are restored, and the run says which phase it kept and why (history.json, metrics.json,
manifest.json).
A base that starts from random weights is trained whole in one phase: freezing random features is pointless.
"""
from __future__ import annotations

import platform
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Optional

import numpy as np

from edgetl import _tf
from edgetl.backbones.registry import BackboneSpec, build_base
from edgetl.config.stages import TrainConfig  # noqa: F401 - the one training config, re-exported for the API
from edgetl.formats.contract import Contract
from edgetl.progress import keras_callback
from edgetl.training.finetune import compile_model
from edgetl.data.access import is_streamed, open_splits, split_dataset
from edgetl.data.access import predict_split as predict_split_with
from edgetl.data.sources import Splits, check_source, class_weights
from edgetl.data.layouts import skip_reasons
from edgetl.errors import EdgetlError
from edgetl.fsutil import check_writable_dir, write_json, write_text
from edgetl.metrics import classification_metrics as evaluate  # one definition: train, evaluate, report
from edgetl.metrics import per_image_loss, threshold_for_recall
from edgetl.backbones.weights import ResolvedWeights, resolve_weights


@dataclass
# ---- the model ------------------------------------------------------------------------------

class TransferModel:
    """A flat functional classifier (base layers + head layers) plus a head-only model sharing the head's layers."""

    def __init__(self, spec: BackboneSpec, size: int, alpha, weights: ResolvedWeights, n_classes: int, dropout: float,
                 base=None, label_smoothing: float = 0.0):
        keras = _tf.keras()
        self.spec, self.n_classes, self.label_smoothing = spec, n_classes, label_smoothing
        self.base = base if base is not None else build_base(spec, size, alpha, weights.path)
        self.binary = n_classes == 2
        units, act = (1, "sigmoid") if self.binary else (n_classes, "softmax")
        self.head_layers = [
            keras.layers.GlobalAveragePooling2D(name="head_pool"),
            keras.layers.Dropout(dropout, name="head_dropout"),
            keras.layers.Dense(units, activation=act, name="head_dense"),
        ]
        self.model = keras.Model(self.base.input, self._apply_head(self.base.output), name=f"edgetl_{spec.name}")
        feat_in = keras.Input(self.base.output.shape[1:], name="features")
        self.head = keras.Model(feat_in, self._apply_head(feat_in), name="head")
        # Pooling has no weights: phase 1 trains on pooled features (C floats an image), the rest of the head shared.
        pooled_in = keras.Input((self.base.output.shape[-1],), name="pooled_features")
        x = pooled_in
        for layer in self.head_layers[1:]:
            x = layer(x)
        self.pooled_head = keras.Model(pooled_in, x, name="pooled_head")

    def _apply_head(self, x):
        for layer in self.head_layers:
            x = layer(x)
        return x

    @property
    def base_layers(self):
        return [layer for layer in self.base.layers if not isinstance(layer, _tf.keras().layers.InputLayer)]

    def freeze_base(self, frozen: bool = True) -> None:
        for layer in self.base_layers:
            layer.trainable = not frozen

    def unfreeze_top(self, n: int) -> list:
        """Unfreeze the top ``n`` layers of the base, BatchNorm excepted; return the unfrozen layers' names."""
        bn = _tf.keras().layers.BatchNormalization
        self.freeze_base(True)
        names = []
        for layer in self.base_layers[-n:] if n > 0 else []:
            if not isinstance(layer, bn):
                layer.trainable = True
                names.append(layer.name)
        return names

    def compile(self, model, lr: float) -> None:
        # the fine-tuning set-up shared with prune and QAT (training.finetune)
        compile_model(model, lr, label_smoothing=self.label_smoothing)


def predict_split(model, splits, name: str, contract: Contract, batch_size: int = 32):
    """(probabilities, labels) of split ``name`` through the runtime layer's Keras runner; streamed for file lists."""
    from edgetl.runtime.runners import KerasRunner

    runner = KerasRunner(".", contract, model=model)
    return predict_split_with(lambda x: runner.predict(x, batch_size), splits, name, contract, batch_size)


def _history(h, extra: Optional[dict] = None) -> dict:
    d = {k: [float(v) for v in vals] for k, vals in h.history.items()}
    d["epochs_run"] = len(next(iter(h.history.values()), []))
    d.update(extra or {})
    return d


# ---- the two phases ------------------------------------------------------------------------------

def feature_extraction(tm: TransferModel, splits: Splits, contract: Contract, cfg: TrainConfig, progress=None,
                       cache=None) -> dict:
    """Phase 1: frozen base, new head. Cached pooled features when augmentation is off (on disk with ``cache``)."""
    keras = _tf.keras()
    tm.freeze_base(True)
    cw = _cw(tm, splits, cfg)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.patience, restore_best_weights=True)
    t0 = time.perf_counter()
    if not cfg.augment:
        feats, reused = pooled_features(tm, splits, contract, cfg.batch_size, cache, progress)
        cache_s = time.perf_counter() - t0
        (ftr, ltr), (fva, lva) = feats["train"], feats["val"]
        if not tm.label_smoothing and len(np.unique(ltr)) == tm.n_classes:  # else Adam (below)
            t1 = time.perf_counter()
            h = fit_linear_head(tm, np.asarray(ftr), ltr, np.asarray(fva), lva, cw, progress=progress)
            return {**h, "phase": "feature_extraction", "feature_cache": True,
                    "feature_store": "disk" if cache is not None else "memory", "feature_cache_reused": reused,
                    "feature_cache_dir": str(cache.entry) if cache else None, "cache_seconds": round(cache_s, 2),
                    "head_seconds": round(time.perf_counter() - t1, 2), "seconds": round(time.perf_counter() - t0, 2)}
        tm.compile(tm.pooled_head, cfg.lr)
        ytr = ltr.astype(np.float32)[:, None] if tm.binary else ltr
        yva = lva.astype(np.float32)[:, None] if tm.binary else lva
        steps = int(np.ceil(len(ytr) / cfg.batch_size))
        val = (np.asarray(fva), yva) if len(fva) else None
        t1, epoch_s = time.perf_counter(), []
        timer = keras.callbacks.LambdaCallback(  # per-epoch wall time: the first one includes tracing
            on_epoch_begin=lambda e, logs: epoch_s.append(time.perf_counter()),
            on_epoch_end=lambda e, logs: epoch_s.__setitem__(-1, round(time.perf_counter() - epoch_s[-1], 3)))
        h = tm.pooled_head.fit(np.asarray(ftr), ytr, batch_size=cfg.batch_size, epochs=cfg.epochs, validation_data=val,
                               class_weight=cw, verbose=0, shuffle=True,
                               callbacks=[keras_callback(progress, "phase 1 head (cached features)", cfg.epochs, steps),
                                          timer] + ([stop] if val else []))
        return _history(h, {"phase": "feature_extraction", "feature_cache": True,
                            "feature_store": "disk" if cache is not None else "memory", "feature_cache_reused": reused,
                            "feature_cache_dir": str(cache.entry) if cache else None, "cache_seconds": round(cache_s, 2),
                            "head_seconds": round(time.perf_counter() - t1, 2), "head_epoch_seconds": epoch_s,
                            "seconds": round(time.perf_counter() - t0, 2)})
    tm.compile(tm.model, cfg.lr)
    h = _fit_full(tm, splits, contract, cfg, cfg.epochs, cw, stop, progress, "phase 1 head (frozen base)")
    return _history(h, {"phase": "feature_extraction", "feature_cache": False, "seconds": round(time.perf_counter() - t0, 2)})


HEAD_C = (0.01, 0.1, 1.0, 10.0)  # inverse L2 strengths tried for the linear head; 1.0 is scikit-learn's default


def fit_linear_head(tm: TransferModel, ftr, ltr, fva, lva, class_weight=None, progress=None) -> dict:
    """Phase 1's head on cached features: a linear classifier on frozen features is a convex problem, so it is
    solved to convergence (L2-regularised logistic regression, L-BFGS) rather than by a few epochs of Adam, which
    underfit small sets (224 photos: validation loss still falling after 50 epochs) and stop on noise on larger
    ones. The L2 strength with the lowest validation loss is kept (1.0 without a validation split).
    ``progress`` shows one step per L2 strength tried, with the elapsed time (a fit can take minutes)."""
    import warnings

    from edgetl.progress import steps

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    from edgetl.metrics import classification_metrics as metrics_of

    def probs(clf, x):
        p = clf.predict_proba(x)
        return p if p.shape[1] == tm.n_classes else np.zeros((len(x), tm.n_classes))

    names = [str(i) for i in range(tm.n_classes)]
    tried = {}
    strengths = HEAD_C if len(lva) else (1.0,)
    step = steps(progress, "phase 1 head")
    for i, c in enumerate(strengths):
        if step:
            step(f"logistic regression on {len(ftr)} x {ftr.shape[1]} features, C={c:g}", i, len(strengths))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = LogisticRegression(C=c, max_iter=3000, class_weight=class_weight).fit(ftr, ltr)
        val = metrics_of(probs(clf, fva), lva, names) if len(lva) else {"loss": None, "accuracy": None}
        tried[c] = (val["loss"], clf, val["accuracy"])
    if step:
        step(f"logistic regression on {len(ftr)} x {ftr.shape[1]} features, C chosen on validation loss",
             len(strengths), len(strengths))
    best = min(tried, key=lambda c: tried[c][0] if tried[c][0] is not None else 0.0)
    val_l, clf, val_acc = tried[best]
    dense = tm.head_layers[-1]
    dense.set_weights([clf.coef_.T.astype(np.float32), clf.intercept_.astype(np.float32)])
    train = metrics_of(probs(clf, ftr), ltr, names)
    # every L-BFGS iteration needs the loss and gradient over all training features: one pass over the data,
    # which without the feature cache would be one pass of the frozen base (bench_data's phase-1 speed-up)
    passes = int(sum(int(np.max(tried[c][1].n_iter_)) for c in tried))
    return {"head_solver": "logistic regression (L-BFGS, L2)", "C": best, "head_passes": passes,
            "val_loss_by_C": {str(c): tried[c][0] for c in tried},
            "loss": [train["loss"]], "accuracy": [train["accuracy"]],
            **({"val_loss": [val_l], "val_accuracy": [val_acc]} if val_l is not None else {}), "epochs_run": 1}


def pooled_features(tm: TransferModel, splits, contract: Contract, batch_size: int, cache=None, progress=None):
    """({"train": (features, labels), "val": ...}, reused?) of the frozen base + pooling; from/to ``cache`` if given."""
    tf, keras = _tf.tf(), _tf.keras()
    feat_model = keras.Model(tm.base.input, tm.head_layers[0](tm.base.output))
    spec = tf.TensorSpec([None, contract.height, contract.width, 3], tf.float32)
    fn = tf.function(lambda x: feat_model(x, training=False), input_signature=[spec])

    def batches(name):
        n = len(getattr(splits, name))
        task = progress.add_task(f"frozen-base features ({name})", total=int(np.ceil(n / batch_size))) if progress and n else None
        for x, y in split_dataset(splits, name, contract, batch_size):
            yield fn(x).numpy(), y.numpy()
            if task is not None:
                progress.advance(task)

    if cache is not None:
        hit = cache.load()
        reused = hit is not None
        if not reused:
            hit = cache.write({"train": batches("train"), "val": batches("val")}, lambda: splits.skipped)
        if is_streamed(splits):
            for f, why in hit["skipped"]:
                splits.skips.add(f, why)
        return {n: hit[n] for n in ("train", "val")}, reused
    out = {}
    for name in ("train", "val"):
        parts = list(batches(name))
        dim = int(feat_model.output.shape[-1])
        out[name] = ((np.concatenate([f for f, _ in parts]), np.concatenate([y for _, y in parts])) if parts
                     else (np.zeros((0, dim), np.float32), np.zeros((0,), np.int64)))
    return out, False


def fine_tune(tm: TransferModel, splits: Splits, contract: Contract, cfg: TrainConfig, progress=None) -> dict:
    """Phase 2: unfreeze the top N non-BatchNorm layers of the base, recompile at a smaller learning rate."""
    keras = _tf.keras()
    unfrozen = tm.unfreeze_top(cfg.unfreeze)
    lr = cfg.fine_tune_lr or cfg.lr / 10.0
    tm.compile(tm.model, lr)
    cw = _cw(tm, splits, cfg)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.patience, restore_best_weights=True)
    t0 = time.perf_counter()
    h = _fit_full(tm, splits, contract, cfg, cfg.fine_tune_epochs, cw, stop, progress, "phase 2 fine-tuning")
    return _history(h, {"phase": "fine_tuning", "lr": lr, "unfrozen_layers": unfrozen,
                        "seconds": round(time.perf_counter() - t0, 2)})


def val_losses(tm: TransferModel, splits: Splits, contract: Contract) -> Optional[np.ndarray]:
    """Each validation image's cross-entropy under the whole model (mean = the split's loss), None without a split."""
    if not len(splits.val):
        return None
    return per_image_loss(*predict_split(tm.model, splits, "val", contract))


PHASE2_ALPHA = 0.05  # phase 2 replaces phase 1 only when a one-sided paired test gives p below this


def choose_phase(losses_phase1: Optional[np.ndarray], losses_phase2: Optional[np.ndarray],
                 alpha: float = PHASE2_ALPHA) -> dict:
    """Keep fine-tuning's weights only when the evidence says they lowered the validation loss.

    The two phases are scored on the same validation images, so the test is paired: a one-sided
    t-test on the per-image loss differences. A small validation split whose mean loss dips by
    chance (plantvillage_apple: 0.168 -> 0.128 on 48 images, and three test images lost) keeps
    phase 1, the untouched base; so do a tie and a diverged phase 2.
    """
    if losses_phase1 is None or losses_phase2 is None:
        return {"kept": "phase2", "val_loss": {"phase1": None, "phase2": None},
                "reason": "no validation split to compare the phases on"}
    l1, l2 = np.asarray(losses_phase1, np.float64), np.asarray(losses_phase2, np.float64)
    losses = {"phase1": float(l1.mean()), "phase2": float(l2.mean())}
    change = f"validation loss {losses['phase1']:.4f} -> {losses['phase2']:.4f} on {len(l1)} images"
    if not np.all(np.isfinite(l2)) or losses["phase2"] >= losses["phase1"]:
        return {"kept": "phase1", "val_loss": losses, "p_value": None,
                "reason": f"fine-tuning did not lower the {change}; phase 1's weights restored"}
    p = _paired_p_lower(l1, l2)
    if p >= alpha:
        return {"kept": "phase1", "val_loss": losses, "p_value": p,
                "reason": f"fine-tuning lowered the {change}, but not clearly (paired t-test p = {p:.3f} >= "
                          f"{alpha}); phase 1's weights restored"}
    return {"kept": "phase2", "val_loss": losses, "p_value": p,
            "reason": f"fine-tuning lowered the {change} (paired t-test p = {p:.3g} < {alpha})"}


def _paired_p_lower(l1: np.ndarray, l2: np.ndarray) -> float:
    """One-sided p-value of "phase 2's per-image loss is lower" (paired t-test); 0 when every image improved alike."""
    from scipy.stats import ttest_rel

    d = l1 - l2
    if np.allclose(d, d[0]):  # no spread: the t statistic is undefined; a uniform gain is as clear as it gets
        return 0.0 if d[0] > 0 else 1.0
    return float(ttest_rel(l1, l2, alternative="greater").pvalue)


def fine_tune_if_better(tm: TransferModel, splits: Splits, contract: Contract, cfg: TrainConfig,
                        progress=None) -> tuple[dict, dict]:
    """Phase 2, then keep phase 1 unless phase 2 clearly lowered the validation loss: (phase-2 history, selection)."""
    before = val_losses(tm, splits, contract)
    phase1_weights = tm.model.get_weights()
    h2 = fine_tune(tm, splits, contract, cfg, progress)
    selection = choose_phase(before, val_losses(tm, splits, contract))
    if selection["kept"] == "phase1":
        tm.model.set_weights(phase1_weights)
        tm.freeze_base(True)
    return h2, selection


def train_whole(tm: TransferModel, splits: Splits, contract: Contract, cfg: TrainConfig, progress=None) -> dict:
    """Random initialisation: every layer trains, BatchNorm included, for epochs + fine-tune epochs."""
    keras = _tf.keras()
    tm.freeze_base(False)
    for layer in tm.base_layers:  # keras' ImageNet momentum (0.99-0.999) lags for hundreds of steps from scratch
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = min(layer.momentum, 0.9)
    tm.compile(tm.model, cfg.lr)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.patience, restore_best_weights=True)
    epochs = cfg.epochs + cfg.fine_tune_epochs
    t0 = time.perf_counter()
    h = _fit_full(tm, splits, contract, cfg, epochs, _cw(tm, splits, cfg), stop, progress, "training whole network")
    return _history(h, {"phase": "whole_network", "reason": "random initialisation: nothing to freeze",
                        "seconds": round(time.perf_counter() - t0, 2)})


def _cw(tm, splits, cfg):
    """Balanced class weights with --class-weights auto (a binary model has 2 classes too), else None."""
    return class_weights(splits.train.labels, tm.n_classes) if cfg.class_weights == "auto" else None


def _fit_full(tm, splits, contract, cfg, epochs, cw, stop, progress, description):
    train_ds = split_dataset(splits, "train", contract, cfg.batch_size, shuffle=True, augment=cfg.augment,
                             seed=cfg.seed, binary=tm.binary)
    val_ds = split_dataset(splits, "val", contract, cfg.batch_size, binary=tm.binary) if len(splits.val) else None
    steps = int(np.ceil(len(splits.train) / cfg.batch_size))
    return tm.model.fit(train_ds, epochs=epochs, validation_data=val_ds, class_weight=cw, verbose=0,
                        callbacks=[keras_callback(progress, description, epochs, steps)] + ([stop] if val_ds else []))


# ---- evaluation -----------------------------------------------------------------------------------

def positive_index(cfg: TrainConfig, class_names: list) -> Optional[int]:
    """Index of the binary decision's positive class, None when no decision was asked for."""
    if cfg.positive_class is None and cfg.target_recall is None:
        return None
    if len(class_names) != 2:
        raise EdgetlError(f"--positive-class/--target-recall are for two classes; this data has {len(class_names)}")
    if cfg.positive_class is None:
        return 1
    if cfg.positive_class not in class_names:
        raise EdgetlError(f"--positive-class {cfg.positive_class} is not a class of the data {class_names}")
    return class_names.index(cfg.positive_class)


def versions() -> dict:
    import importlib.metadata as md

    v = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("edgetl", "tensorflow", "tf-keras", "tensorflow-model-optimization", "numpy", "tf2onnx", "onnxruntime",
                "ai-edge-litert"):
        try:
            v[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            v[pkg] = None
    return v


# ---- the whole job ----------------------------------------------------------------------------------

def train(cfg: TrainConfig, progress=None, log=print, *, force: bool = False) -> dict:
    """Train per ``cfg`` and write the run directory ``cfg.out``; return metrics.json's content plus paths.

    ``cfg.out`` must be new or empty unless ``force`` (then its files are replaced, and artifacts of
    the previous model are removed: they no longer describe the run). Every cheap check runs before
    the folder is created, and a failed training leaves no empty folder; the run is locked meanwhile.
    """
    from edgetl.rundir import RunDir, run_lock

    if cfg.distribute == "multiworker":  # only the chief writes, and only it knows it is the chief: no folder checks
        return _train(cfg, progress, log)
    cfg.validate()
    check_out_folder(cfg.out, force)
    cfg.data_options().check()
    check_source(cfg.data, cfg.labels_csv)
    with run_lock(cfg.out, "edgetl train", create=True):
        result = _train(cfg, progress, log)
        removed = RunDir(cfg.out).remove_stale()
    if removed:
        log(f"removed {len(removed)} artifact file(s) of the previous model: " + ", ".join(p.name for p in removed[:6]))
    return result


def check_out_folder(out, force: bool = False) -> Path:
    """``out`` is a folder to create, or an empty one; with ``force`` also one holding files (a previous run)."""
    p = Path(out)
    if p.exists() and not p.is_dir():
        raise EdgetlError(f"--out {p} is a file; pass a folder for the run")
    held = sorted(c.name for c in p.iterdir() if not c.name.startswith(".")) if p.is_dir() else []
    if held and not force:
        what = "a previous run" if (p / "manifest.json").is_file() else "files"
        raise EdgetlError(f"--out {p} is not empty (it holds {what}: {', '.join(held[:3])}{', ...' if len(held) > 3 else ''}); "
                          "pick a new folder, or pass --force to replace them")
    return p


def _train(cfg: TrainConfig, progress=None, log=print) -> dict:
    from edgetl.data.feature_cache import FeatureCache, cache_key, resolve_cache_dir
    from edgetl.training.distribute import make_distribution

    spec = cfg.validate()
    dist = make_distribution(cfg.distribute, cfg.distribute_timeout)  # first TensorFlow work (MultiWorker needs it)
    cache_root, cache_explicit = resolve_cache_dir(cfg.cache_dir)
    if cache_root is not None:  # checked before the run directory is touched
        try:
            FeatureCache(cache_root, "", {}).check_writable()
        except EdgetlError as e:
            if cache_explicit:
                raise
            log(f"WARNING: {e}; phase-1 features stay in memory")
            cache_root = None
    out = check_writable_dir(cfg.out) if dist.is_chief else None  # only the chief writes the run directory
    check_source(cfg.data, cfg.labels_csv)
    weights = resolve_weights(spec, cfg.alpha, cfg.input_size, cfg.weights, cfg.weights_dir)
    if weights.warning:
        log(f"WARNING: {weights.warning}")
    _tf.set_seed(cfg.seed)
    # Usual scaling rules: --batch-size per replica; global batch and learning rates x replicas.
    r = dist.replicas
    run_cfg = replace(cfg, batch_size=cfg.batch_size * r, lr=cfg.lr * r,
                      fine_tune_lr=(cfg.fine_tune_lr or cfg.lr / 10.0) * r) if r > 1 else cfg
    with dist.scope():
        base = build_base(spec, cfg.input_size, cfg.alpha, weights.path)  # a weights file that does not fit fails here
    # the split comes from the file list; memory or stream decode the same lists
    splits, pipeline = open_splits(cfg.data_options(), cfg.input_size, cfg.input_pipeline, progress)
    if splits.skipped:
        log(f"skipped {len(splits.skipped)} image(s) ({skip_reasons(splits.skipped)}): "
            + "; ".join(f for f, _ in splits.skipped[:5]))
    for warning in getattr(splits.layout, "warnings", None) or []:
        log(f"WARNING: {warning}")
    positive = positive_index(cfg, splits.class_names)
    with dist.scope():
        tm = TransferModel(spec, cfg.input_size, cfg.alpha, weights, len(splits.class_names), cfg.dropout, base=base,
                           label_smoothing=cfg.label_smoothing)
    contract = Contract(labels=splits.class_names, height=cfg.input_size, width=cfg.input_size, mean=list(spec.mean),
                        std=list(spec.std), channel_order=spec.channel_order,
                        output_units=1 if tm.binary else len(splits.class_names), backbone=spec.name, alpha=cfg.alpha,
                        weights_source=weights.source, artifact="keras")
    cache = None
    if cache_root is not None and weights.pretrained and not cfg.augment:
        cache = FeatureCache(cache_root, *cache_key(spec.name, cfg.alpha, cfg.input_size, weights.path,
                                                    splits.data_hash, contract))
    t0 = time.perf_counter()
    history = {}
    with dist.guard(cfg.distribute_timeout), dist.scope():
        if weights.pretrained:
            history["phase1"] = feature_extraction(tm, splits, contract, run_cfg, progress, cache=cache)
            if cfg.fine_tune_epochs > 0 and cfg.unfreeze > 0:
                history["phase2"], history["selection"] = fine_tune_if_better(tm, splits, contract, run_cfg, progress)
                log(f"kept {history['selection']['kept']}: {history['selection']['reason']}")
            else:
                history["phase2"] = {"skipped": "--fine-tune-epochs 0 or --unfreeze 0"}
                history["selection"] = {"kept": "phase1", "reason": "no fine-tuning asked (--fine-tune-epochs 0 or --unfreeze 0)"}
        else:
            history["phase1"] = train_whole(tm, splits, contract, run_cfg, progress)
            history["phase2"] = {"skipped": "random initialisation: the whole network was trained in phase 1"}
            history["selection"] = {"kept": "phase1", "reason": "random initialisation: one phase only"}
    train_seconds = time.perf_counter() - t0

    decision = {}
    if positive is not None:
        decision = {"positive_label": splits.class_names[positive]}
        if cfg.target_recall is not None:
            if not len(splits.val):
                raise EdgetlError("--target-recall chooses the threshold on the validation split, and there is none; "
                                  "set --val-ratio above 0")
            decision.update(threshold_for_recall(*predict_split(tm.model, splits, "val", contract), positive,
                                                 cfg.target_recall))
            log(f"decision threshold {decision['threshold']:.4f} for {decision['positive_label']}: validation recall "
                f"{decision['val_recall']:.3f}, precision {decision['val_precision']:.3f}")
        contract = contract.replace(positive_label=decision["positive_label"], threshold=decision.get("threshold", 0.5))
    test_probs, test_labels = predict_split(tm.model, splits, "test", contract)
    metrics = {"test": evaluate(test_probs, test_labels, splits.class_names, contract.positive_index(),
                                contract.threshold)}
    if len(splits.val):
        metrics["val"] = {"accuracy": evaluate(*predict_split(tm.model, splits, "val", contract), splits.class_names,
                                               contract.positive_index(), contract.threshold)["accuracy"]}
    if decision:
        metrics["decision"] = decision
    metrics.update({"backbone": spec.name, "alpha": cfg.alpha, "input_size": cfg.input_size,
                    "weights_source": weights.source, "pretrained": weights.pretrained,
                    "data": splits.summary(), "train_seconds": round(train_seconds, 2), "input_pipeline": pipeline,
                    "distribute": {"strategy": dist.name, "replicas": dist.replicas},
                    "kept_phase": history["selection"]["kept"], "selection": history["selection"],
                    "params": int(tm.model.count_params())})
    manifest = {
        "edgetl_run": 1,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
        "config": asdict(cfg),
        "seed": cfg.seed,
        "versions": versions(),
        "backbone": spec.name, "alpha": cfg.alpha, "input_size": cfg.input_size,
        "weights_source": weights.source, "weights_warning": weights.warning,
        "kept_phase": history["selection"]["kept"],
        "data": {"options": cfg.data_options().to_dict(), "hash": splits.data_hash, "classes": splits.class_names,
                 "counts": {k: metrics["data"][k] for k in ("train", "val", "test")},
                 **{k: metrics["data"].get(k) for k in ("layout", "test_from", "val_from", "class_counts", "leakage")},
                 "skipped": len(splits.skipped)},
        "input_pipeline": pipeline,
        "feature_cache": str(cache.entry) if cache is not None else None,
        "distribute": dist.manifest(cfg.batch_size, run_cfg.lr, run_cfg.fine_tune_lr or run_cfg.lr / 10.0),
    }
    if not dist.is_chief:  # workers other than the chief write nothing in the run directory
        with dist.guard(cfg.distribute_timeout):
            dist.save_elsewhere(tm.model)
        return {**metrics, "out": None, "history": history}
    with dist.guard(cfg.distribute_timeout):
        _write_run(out, tm.model, contract, history, metrics, manifest)
    return {**metrics, "out": str(out), "history": history}


def _write_run(out: Path, model, contract: Contract, history: dict, metrics: dict, manifest: dict) -> None:
    """Write every file into a hidden staging folder, then move them in: never a half-written run."""
    from edgetl.rundir import MANIFEST_FILE
    from edgetl.runtime.runners import RUN_CONTRACT_FILE, RUN_MODEL_FILE

    stage = Path(tempfile.mkdtemp(prefix=".staging-", dir=out))
    try:
        model.save(stage / RUN_MODEL_FILE)
        write_text(stage / RUN_CONTRACT_FILE, contract.to_json() + "\n")
        write_text(stage / "labels.txt", "\n".join(contract.labels) + "\n")
        write_json(stage / "history.json", history)
        write_json(stage / "metrics.json", metrics)
        write_json(stage / MANIFEST_FILE, manifest)  # last: its presence marks a complete run
        for name in (RUN_MODEL_FILE, RUN_CONTRACT_FILE, "labels.txt", "history.json", "metrics.json", MANIFEST_FILE):
            (stage / name).replace(out / name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
