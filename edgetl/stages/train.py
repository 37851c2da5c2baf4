"""Two-phase transfer learning, the way the field does it.

Phase 1, feature extraction: the base is frozen (its BatchNorm layers run in inference mode) and a
new head (global pooling -> dropout -> dense) is trained. Without augmentation the frozen base's
features are computed once and the head's epochs run on that cache.
Phase 2, fine-tuning: the top N layers of the base are unfrozen (BatchNorm stays frozen) and the
whole model trains on at a smaller learning rate; early stopping on validation loss restores the
best weights. A base that starts from random weights is trained whole in one phase: freezing
random features is pointless.
"""
from __future__ import annotations

import platform
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from edgetl import _tf
from edgetl.backbones.registry import BackboneSpec, build_base, get_backbone
from edgetl.formats.contract import Contract
from edgetl.data.sources import DataOptions, Splits, check_source, class_weights, load_splits
from edgetl.errors import EdgetlError
from edgetl.fsutil import check_writable_dir, write_json, write_text
from edgetl.backbones.weights import ResolvedWeights, resolve_weights


@dataclass
class TrainConfig:
    data: str = "digits"
    backbone: str = "mobilenet_v2"
    alpha: Optional[float] = None
    input_size: Optional[int] = None
    weights: str = "auto"
    weights_dir: Optional[str] = None
    epochs: int = 20  # head epochs are cheap on cached features; early stopping ends them
    fine_tune_epochs: int = 5
    unfreeze: int = 30
    lr: float = 5e-3
    fine_tune_lr: Optional[float] = None  # default lr / 10
    batch_size: int = 32
    augment: bool = False
    class_weights: str = "none"  # none | auto
    dropout: float = 0.2
    patience: int = 5
    seed: int = 42
    val_ratio: float = 0.15
    test_ratio: float = 0.15
    limit_per_class: Optional[int] = None
    out: str = "runs/train"

    def validate(self) -> BackboneSpec:
        spec = get_backbone(self.backbone)
        self.alpha = spec.check_alpha(self.alpha)
        self.input_size = spec.check_size(self.input_size)
        for name in ("epochs", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise EdgetlError(f"--{name.replace('_', '-')} must be at least 1")
        for name in ("fine_tune_epochs", "unfreeze"):
            if int(getattr(self, name)) < 0:
                raise EdgetlError(f"--{name.replace('_', '-')} must be 0 or more")
        if self.lr <= 0 or (self.fine_tune_lr is not None and self.fine_tune_lr <= 0):
            raise EdgetlError("learning rates must be positive")
        if self.class_weights not in ("none", "auto"):
            raise EdgetlError(f"--class-weights must be none or auto, got '{self.class_weights}'")
        if not 0 <= self.dropout < 1:
            raise EdgetlError("--dropout must be in [0, 1)")
        return spec

    def data_options(self) -> DataOptions:
        return DataOptions(str(self.data), self.val_ratio, self.test_ratio, self.seed, self.limit_per_class)


# ---- the model ------------------------------------------------------------------------------

class TransferModel:
    """A flat functional classifier (base layers + head layers) plus a head-only model sharing the head's layers."""

    def __init__(self, spec: BackboneSpec, size: int, alpha, weights: ResolvedWeights, n_classes: int, dropout: float,
                 base=None):
        keras = _tf.keras()
        self.spec, self.n_classes = spec, n_classes
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

    def loss(self):
        return "binary_crossentropy" if self.binary else "sparse_categorical_crossentropy"

    def compile(self, model, lr: float) -> None:
        keras = _tf.keras()
        model.compile(optimizer=keras.optimizers.Adam(lr), loss=self.loss(), metrics=["accuracy"])


# ---- tf.data ----------------------------------------------------------------------------------

def _augmenter(seed: int):
    keras = _tf.keras()
    return keras.Sequential([
        keras.layers.RandomFlip("horizontal", seed=seed),
        keras.layers.RandomRotation(0.1, seed=seed),
        keras.layers.RandomZoom(0.1, seed=seed),
        keras.layers.RandomContrast(0.1, seed=seed),
    ], name="augment")


def make_dataset(images, labels, contract: Contract, batch_size: int, *, shuffle=False, augment=False,
                 seed=0, binary=False):
    """uint8 pixels -> (normalised float batch, label) with optional augmentation, normalisation per contract."""
    tf = _tf.tf()
    mean = tf.constant(contract.mean, tf.float32)
    std = tf.constant(contract.std, tf.float32)
    bgr = contract.channel_order == "BGR"
    y = labels.astype(np.float32)[:, None] if binary else labels
    ds = tf.data.Dataset.from_tensor_slices((images, y))
    if shuffle:
        ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    aug = _augmenter(seed) if augment else None

    def prep(x, lab):
        x = tf.cast(x, tf.float32)
        if aug is not None:
            x = tf.clip_by_value(aug(x, training=True), 0.0, 255.0)
        if bgr:
            x = x[..., ::-1]
        return (x - mean) / std, lab

    return ds.map(prep, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)


class _ProgressCallback:
    """Keras callback that drives a rich progress bar (one step per batch) and records epoch logs."""

    def __new__(cls, progress, description, epochs, steps):
        keras = _tf.keras()

        class CB(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.task = progress.add_task(description, total=epochs * steps) if progress else None

            def on_train_batch_end(self, batch, logs=None):
                if progress:
                    progress.advance(self.task)

            def on_epoch_end(self, epoch, logs=None):
                if progress:
                    progress.update(self.task, completed=(epoch + 1) * steps,
                                    description=f"{description} {epoch + 1}/{epochs} "
                                                f"loss {logs.get('loss', 0):.3f} val_acc {logs.get('val_accuracy', 0):.3f}")

        return CB()


def _history(h, extra: Optional[dict] = None) -> dict:
    d = {k: [float(v) for v in vals] for k, vals in h.history.items()}
    d["epochs_run"] = len(next(iter(h.history.values()), []))
    d.update(extra or {})
    return d


# ---- the two phases ------------------------------------------------------------------------------

def feature_extraction(tm: TransferModel, splits: Splits, contract: Contract, cfg: TrainConfig, progress=None) -> dict:
    """Phase 1: frozen base, new head. Cached features when augmentation is off."""
    keras = _tf.keras()
    tm.freeze_base(True)
    cw = class_weights(splits.train.labels, tm.n_classes) if cfg.class_weights == "auto" and not tm.binary else None
    cw = _binary_class_weights(splits, cfg) if tm.binary and cfg.class_weights == "auto" else cw
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.patience, restore_best_weights=True)
    t0 = time.perf_counter()
    if not cfg.augment:
        feat_model = keras.Model(tm.base.input, tm.base.output)
        feats = {}
        for name in ("train", "val"):
            s = getattr(splits, name)
            ds = make_dataset(s.images, s.labels, contract, cfg.batch_size)
            feats[name] = feat_model.predict(ds, verbose=0) if len(s) else None
        cache_s = time.perf_counter() - t0
        tm.compile(tm.head, cfg.lr)
        ytr = splits.train.labels.astype(np.float32)[:, None] if tm.binary else splits.train.labels
        yva = splits.val.labels.astype(np.float32)[:, None] if tm.binary else splits.val.labels
        steps = int(np.ceil(len(ytr) / cfg.batch_size))
        val = (feats["val"], yva) if feats["val"] is not None else None
        h = tm.head.fit(feats["train"], ytr, batch_size=cfg.batch_size, epochs=cfg.epochs, validation_data=val,
                        class_weight=cw, verbose=0, shuffle=True,
                        callbacks=[_ProgressCallback(progress, "phase 1 head (cached features)", cfg.epochs, steps)]
                        + ([stop] if val else []))
        return _history(h, {"phase": "feature_extraction", "feature_cache": True, "cache_seconds": round(cache_s, 2),
                            "seconds": round(time.perf_counter() - t0, 2)})
    tm.compile(tm.model, cfg.lr)
    h = _fit_full(tm, splits, contract, cfg, cfg.epochs, cw, stop, progress, "phase 1 head (frozen base)")
    return _history(h, {"phase": "feature_extraction", "feature_cache": False, "seconds": round(time.perf_counter() - t0, 2)})


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
    if cfg.class_weights != "auto":
        return None
    return _binary_class_weights(splits, cfg) if tm.binary else class_weights(splits.train.labels, tm.n_classes)


def _binary_class_weights(splits, cfg):
    return class_weights(splits.train.labels, 2)


def _fit_full(tm, splits, contract, cfg, epochs, cw, stop, progress, description):
    train_ds = make_dataset(splits.train.images, splits.train.labels, contract, cfg.batch_size, shuffle=True,
                            augment=cfg.augment, seed=cfg.seed, binary=tm.binary)
    val_ds = (make_dataset(splits.val.images, splits.val.labels, contract, cfg.batch_size, binary=tm.binary)
              if len(splits.val) else None)
    steps = int(np.ceil(len(splits.train) / cfg.batch_size))
    return tm.model.fit(train_ds, epochs=epochs, validation_data=val_ds, class_weight=cw, verbose=0,
                        callbacks=[_ProgressCallback(progress, description, epochs, steps)] + ([stop] if val_ds else []))


# ---- evaluation -----------------------------------------------------------------------------------

def evaluate(probs: np.ndarray, labels: np.ndarray, class_names: list) -> dict:
    """Accuracy, cross-entropy, per-class precision/recall/F1, confusion matrix, and AUC for two classes."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support, roc_auc_score

    n = len(class_names)
    pred = probs.argmax(axis=1)
    eps = 1e-7
    loss = float(-np.mean(np.log(np.clip(probs[np.arange(len(labels)), labels], eps, 1.0)))) if len(labels) else None
    p, r, f, s = precision_recall_fscore_support(labels, pred, labels=list(range(n)), zero_division=0)
    out = {
        "accuracy": float(np.mean(pred == labels)) if len(labels) else None,
        "loss": loss,
        "n": int(len(labels)),
        "per_class": {class_names[i]: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                                       "support": int(s[i])} for i in range(n)},
        "confusion_matrix": confusion_matrix(labels, pred, labels=list(range(n))).tolist(),
    }
    if n == 2:
        out["auc"] = float(roc_auc_score(labels, probs[:, 1])) if len(set(labels.tolist())) == 2 else None
        out["precision"], out["recall"], out["f1"] = float(p[1]), float(r[1]), float(f[1])
    return out


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

def train(cfg: TrainConfig, progress=None, log=print) -> dict:
    """Train per ``cfg`` and write the run directory ``cfg.out``; return metrics.json's content plus paths."""
    spec = cfg.validate()
    out = check_writable_dir(cfg.out)
    check_source(cfg.data)
    weights = resolve_weights(spec, cfg.alpha, cfg.input_size, cfg.weights, cfg.weights_dir)
    if weights.warning:
        log(f"WARNING: {weights.warning}")
    _tf.set_seed(cfg.seed)
    base = build_base(spec, cfg.input_size, cfg.alpha, weights.path)  # a weights file that does not fit fails here
    splits = load_splits(cfg.data_options(), cfg.input_size, progress)
    if splits.skipped:
        log(f"skipped {len(splits.skipped)} unreadable image(s): " + "; ".join(f for f, _ in splits.skipped[:5]))
    tm = TransferModel(spec, cfg.input_size, cfg.alpha, weights, len(splits.class_names), cfg.dropout, base=base)
    contract = Contract(labels=splits.class_names, height=cfg.input_size, width=cfg.input_size, mean=list(spec.mean),
                        std=list(spec.std), channel_order=spec.channel_order,
                        output_units=1 if tm.binary else len(splits.class_names), backbone=spec.name, alpha=cfg.alpha,
                        weights_source=weights.source, artifact="keras")
    t0 = time.perf_counter()
    history = {}
    if weights.pretrained:
        history["phase1"] = feature_extraction(tm, splits, contract, cfg, progress)
        if cfg.fine_tune_epochs > 0 and cfg.unfreeze > 0:
            history["phase2"] = fine_tune(tm, splits, contract, cfg, progress)
        else:
            history["phase2"] = {"skipped": "--fine-tune-epochs 0 or --unfreeze 0"}
    else:
        history["phase1"] = train_whole(tm, splits, contract, cfg, progress)
        history["phase2"] = {"skipped": "random initialisation: the whole network was trained in phase 1"}
    train_seconds = time.perf_counter() - t0

    from edgetl.measure.runtime import KerasRunner

    runner = KerasRunner(out, contract, model=tm.model)
    metrics = {"test": evaluate(runner.predict(splits.test.images), splits.test.labels, splits.class_names)}
    if len(splits.val):
        metrics["val"] = {"accuracy": evaluate(runner.predict(splits.val.images), splits.val.labels,
                                               splits.class_names)["accuracy"]}
    metrics.update({"backbone": spec.name, "alpha": cfg.alpha, "input_size": cfg.input_size,
                    "weights_source": weights.source, "pretrained": weights.pretrained,
                    "data": splits.summary(), "train_seconds": round(train_seconds, 2),
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
        "data": {"options": cfg.data_options().to_dict(), "hash": splits.data_hash, "classes": splits.class_names,
                 "counts": {k: len(getattr(splits, k)) for k in ("train", "val", "test")},
                 "skipped": len(splits.skipped)},
    }
    _write_run(out, tm.model, contract, history, metrics, manifest)
    return {**metrics, "out": str(out), "history": history}


def _write_run(out: Path, model, contract: Contract, history: dict, metrics: dict, manifest: dict) -> None:
    """Write every file into a hidden staging folder, then move them in: never a half-written run."""
    from edgetl.rundir import MANIFEST_FILE
    from edgetl.measure.runtime import RUN_CONTRACT_FILE, RUN_MODEL_FILE

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
