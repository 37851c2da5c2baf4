"""`edgetl train`: check the request, run the training phases (``edgetl/training/``), evaluate, and write the run.

Phase 1 trains a new head on the frozen base (``training.phases``, ``training.head``), phase 2 fine-tunes the
top of the base, and phase 2 is kept only when a paired test says it lowered the validation loss
(``training.phase_choice``); the run says which phase it kept and why (history.json, metrics.json,
manifest.json). A base that starts from random weights is trained whole in one phase.
"""
from __future__ import annotations

import platform
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Optional

from edgetl import _tf
from edgetl.backbones.registry import build_base
from edgetl.config.stages import TrainConfig  # noqa: F401 - the one training config, re-exported for the API
from edgetl.formats.contract import Contract
from edgetl.data.access import open_splits
from edgetl.data.sources import check_source
from edgetl.data.layouts import skip_reasons
from edgetl.errors import EdgetlError
from edgetl.fsutil import check_writable_dir, write_json, write_text
from edgetl.metrics import classification_metrics as evaluate  # one definition: train, evaluate, report
from edgetl.backbones.weights import resolve_weights
from edgetl.training.decision import choose_threshold, describe
from edgetl.training.model import TransferModel, predict_split
from edgetl.training.phase_choice import fine_tune_if_better
from edgetl.training.phases import feature_extraction, train_whole


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
    history, features = {}, {}
    with dist.guard(cfg.distribute_timeout), dist.scope():
        if weights.pretrained:
            history["phase1"] = feature_extraction(tm, splits, contract, run_cfg, progress, cache=cache,
                                                   features_out=features)
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
            decision.update(choose_threshold(tm, splits, contract, cfg, positive, history, features,
                                             progress))
            log(describe(decision))
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
