"""The training phases of a transfer model, the way the field does it.

Phase 1, feature extraction: the base is frozen (its BatchNorm layers run in inference mode) and a
new head (global pooling -> dropout -> dense) is trained. Without augmentation the frozen base's
pooled features are computed once (``features``) and the dense layer is solved on them (``head``).
Phase 2, fine-tuning: the top N layers of the base are unfrozen (BatchNorm stays frozen) and the
whole model trains on at a smaller learning rate; early stopping on validation loss restores the
best weights. Whether phase 2 is kept is ``phase_choice``'s decision.
A base that starts from random weights is trained whole in one phase: freezing random features is pointless.
"""
from __future__ import annotations

import time
from typing import Optional

import numpy as np

from edgetl import _tf
from edgetl.config.stages import TrainConfig
from edgetl.data.access import split_dataset
from edgetl.data.sources import Splits, class_weights
from edgetl.formats.contract import Contract
from edgetl.progress import keras_callback
from edgetl.training.features import pooled_features
from edgetl.training.head import fit_linear_head
from edgetl.training.model import TransferModel


def _history(h, extra: Optional[dict] = None) -> dict:
    d = {k: [float(v) for v in vals] for k, vals in h.history.items()}
    d["epochs_run"] = len(next(iter(h.history.values()), []))
    d.update(extra or {})
    return d


def feature_extraction(tm: TransferModel, splits: Splits, contract: Contract, cfg: TrainConfig, progress=None,
                       cache=None, features_out: Optional[dict] = None) -> dict:
    """Phase 1: frozen base, new head. Cached pooled features when augmentation is off (on disk with ``cache``);
    ``features_out`` (a dict) receives them, {"train": (features, labels), "val": ...}, for the decision threshold."""
    keras = _tf.keras()
    tm.freeze_base(True)
    cw = _cw(tm, splits, cfg)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.patience, restore_best_weights=True)
    t0 = time.perf_counter()
    if not cfg.augment:
        feats, reused = pooled_features(tm, splits, contract, cfg.batch_size, cache, progress)
        cache_s = time.perf_counter() - t0
        if features_out is not None:
            features_out.update(feats)
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
    """Balanced class weights with --class-weights auto (a binary model has 2 classes too), else None."""
    return class_weights(splits.train.labels, tm.n_classes) if cfg.class_weights == "auto" else None


def _fit_full(tm, splits, contract, cfg, epochs, cw, stop, progress, description):
    train_ds = split_dataset(splits, "train", contract, cfg.batch_size, shuffle=True, augment=cfg.augment,
                             seed=cfg.seed, binary=tm.binary)
    val_ds = split_dataset(splits, "val", contract, cfg.batch_size, binary=tm.binary) if len(splits.val) else None
    steps = int(np.ceil(len(splits.train) / cfg.batch_size))
    return tm.model.fit(train_ds, epochs=epochs, validation_data=val_ds, class_weight=cw, verbose=0,
                        callbacks=[keras_callback(progress, description, epochs, steps)] + ([stop] if val_ds else []))
