"""The search: every candidate's cross-validated score, latency, size and MACs; the front; the pick; a recipe.

Phases (timed in search.json): features (the frozen base over the train + validation images, through the
feature cache `edgetl train` uses), cv (the phase-1 head, K folds, on float32 features), convert (float32 +
int8 TFLite of base + head), benchmark (every file in one interleaved `edgetl benchmark` run, or
``--latency-from``), int8 (the int8 file's own features and their cross-validation, only for candidates
whose int8 file is on or near the front). Candidates are taken size by size so each size's images are
decoded once. search.json is rewritten after each candidate, so a rerun (or a run after Ctrl-C) skips
the candidates already scored.
"""
from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from edgetl.choose.candidates import PRECISIONS, Candidate, available
from edgetl.choose.cv import check_folds, choose_c, cross_validate, fold_ids, linear_head
from edgetl.choose import store
from edgetl.choose.latency import latency_of, read_latency_file
from edgetl.measure.front import near_front, pareto_front, pick
from edgetl.config.params import check
from edgetl.config.stages import SearchConfig
from edgetl.errors import EdgetlError
from edgetl.fsutil import read_json, write_json, write_text

SEARCH_FORMAT = "edgetl-search/1"
SEARCH_FILE = "search.json"
RECIPE_FILE = "recipe.yaml"
PLOT_FILE = "search.png"
MODELS_DIR = "models"
RUN_DIR = "run"
CV_METHOD = "lr-l-bfgs, standardised, C once on fold 0, warm-started folds, AUC bootstrap interval/2"  # a change rescores every candidate


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def validate(cfg: SearchConfig) -> SearchConfig:
    check(cfg)  # types, ranges, choices of every field: one line naming the flag
    if cfg.budget_ms is None:
        raise EdgetlError("--budget-ms is required: the latency (p50, ms) the model must meet, e.g. --budget-ms 10")
    from edgetl.data.types import DataOptions

    DataOptions(str(cfg.data), cfg.val_ratio, cfg.test_ratio, cfg.seed, cfg.limit_per_class, cfg.labels_csv).check()
    if cfg.target_recall is not None and cfg.val_ratio <= 0:
        raise EdgetlError("--target-recall chooses each fold's threshold on a validation share; set --val-ratio above 0")
    return cfg


def _fingerprint(cfg: SearchConfig, data_hash: str) -> dict:
    """What a candidate's scores depend on: a rerun with the same fingerprint reuses them."""
    return {"data_hash": data_hash, "folds": cfg.folds, "seed": cfg.seed, "val_ratio": cfg.val_ratio,
            "test_ratio": cfg.test_ratio, "limit_images": cfg.limit_per_class, "labels_csv": cfg.labels_csv,
            "calibration_images": cfg.calibration_images, "positive_class": cfg.positive_class,
            "target_recall": cfg.target_recall, "cv": CV_METHOD}


def _eta(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def search(cfg: SearchConfig, progress=None, log: Callable = _stderr) -> dict:
    """Score every candidate, measure it, pick; write OUT/search.json, OUT/search.png and OUT/recipe.yaml; with
    ``cfg.train`` also train the pick (OUT/run). Returns search.json's content."""
    from edgetl.data.sources import check_source

    validate(cfg)
    table = read_latency_file(cfg.latency_from) if cfg.latency_from else None  # a bad file fails before any work
    check_source(cfg.data, cfg.labels_csv)
    cands, skipped = available(cfg.backbones, cfg.alphas, cfg.sizes, cfg.weights_dir, cfg.download)
    cands = sorted(cands, key=lambda c: (c.size, c.backbone, c.alpha or 0.0))  # each size's images decoded once
    if skipped:
        groups = sorted({cid.rsplit("_", 1)[0] for cid, _ in skipped})
        log(f"skipped {len(skipped)} candidates without ImageNet weights here or online (reasons in search.json): "
            + ", ".join(groups))
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise EdgetlError(f"--out {out} is a file; pass a folder for the search")
    state = _load_state(out)
    phases = {"features": 0.0, "cv": 0.0, "convert": 0.0, "benchmark": 0.0, "int8": 0.0}
    log(f"{len(cands)} candidates x {'/'.join(PRECISIONS)}; float32 scored by {cfg.folds}-fold cross-validation")
    spent, fresh = 0.0, 0
    for i, cand in enumerate(cands):
        t0 = time.perf_counter()
        before = dict(phases)
        rec = _score(cand, cfg, state, out, phases, progress)
        split = ", ".join(f"{k} {phases[k] - before[k]:.0f}" for k in ("features", "cv", "convert"))
        a = rec["precisions"]["float32"]
        took = time.perf_counter() - t0
        if not rec.get("reused"):
            spent, fresh = spent + took, fresh + 1
        left = sum(1 for c in cands[i + 1:] if c.id not in state["scored"])
        eta = f"; about {_eta(spent / fresh * left)} left for {left}" if fresh and left else ""
        log(f"[{i + 1}/{len(cands)}] {cand.label()}: float32 {_fmt(a, rec['metric'])}"
            + (f" (scored {'by ' + rec['reused'] if isinstance(rec.get('reused'), str) else 'before'})"
               if rec.get("reused") else f" ({took:.1f} s: {split}{eta})"))
        state["scored"][cand.id] = {k: v for k, v in rec.items() if k != "reused"}
        _save_state(out, state)
    rows = _rows(cands, state, out)
    device = _latencies(rows, cfg, table, state, out, phases, progress, log)
    rows = [r for r in rows if r.get("p50_ms") is not None]
    if not rows:
        raise EdgetlError(f"--latency-from {cfg.latency_from} has no latency for any candidate file in "
                          f"{out / MODELS_DIR}; measure those files (docs/search.md)")
    _score_int8(rows, cands, cfg, state, out, phases, progress, log)
    rows = _rows(cands, state, out, rows)
    scored = [r for r in rows if r["score"] is not None]
    front = pareto_front(scored)
    front_ids = {r["key"] for r in front}
    for r in rows:
        r["on_front"] = r["key"] in front_ids
        r["meets_budget"] = r["p50_ms"] <= cfg.budget_ms and (cfg.max_mb is None or r["size_mb"] <= cfg.max_mb)
    result = {"format": SEARCH_FORMAT, "config": asdict(cfg), "data": state.get("data"),
              "metric": rows[0]["metric"], "latency_device": device,
              "phases_seconds": {k: round(v, 2) for k, v in phases.items()},
              "skipped": [{"id": c, "reason": why} for c, why in skipped], "candidates": rows,
              "front": [r["key"] for r in front]}
    try:
        chosen, tied = pick(scored, cfg.budget_ms, cfg.max_mb)
    except EdgetlError:
        _save_state(out, {**state, "last": result})
        raise
    recipe = write_recipe(out, chosen, cfg)
    result.update(pick={**chosen, "tied_with": [r["key"] for r in tied if r["key"] != chosen["key"]]},
                  recipe=str(recipe), run_line=f"edgetl run {recipe}")
    try:
        from edgetl.choose.plot import plot_search

        result["plot"] = str(plot_search(result, out / PLOT_FILE))
    except ImportError as e:  # matplotlib is optional
        log(f"no plot: {e}")
    state["last"] = result
    _save_state(out, state)
    if cfg.train:
        result["train"] = train_pick(recipe, out / RUN_DIR, cfg, progress, log)
        state["last"] = result
        _save_state(out, state)
    return result


def _fmt(a: dict, metric: str) -> str:
    s, lo, hi = _metric_of(a, metric)
    name = {"accuracy": "accuracy", "auc": "AUC"}.get(metric, metric)
    return f"{name} {s:.3f} [{lo:.3f}, {hi:.3f}]"


def _metric_of(a: dict, metric: str) -> tuple:
    """(score, low, high) of the ranking metric from a precision's scores."""
    if metric == "auc":
        return a["auc"], a["auc_low"], a["auc_high"]
    if metric.startswith("precision"):
        return a["precision_at_recall"], a["precision_at_recall_low"], a["precision_at_recall_high"]
    return a["accuracy"], a["low"], a["high"]


def _metric_name(cfg: SearchConfig, n_classes: int) -> str:
    if n_classes == 2:
        return "auc" if cfg.target_recall is None else f"precision@recall{cfg.target_recall:g}"
    if cfg.target_recall is not None or cfg.positive_class is not None:
        raise EdgetlError(f"--target-recall/--positive-class are for two classes; this data has {n_classes}")
    return "accuracy"


# ---- --train -----------------------------------------------------------------------------------------------

@contextmanager
def _env(name: str, value: Optional[str]):
    old = os.environ.get(name)
    if value is not None:
        os.environ[name] = value
    try:
        yield
    finally:
        if value is not None:
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def train_pick(recipe: Path, run_dir: Path, cfg: SearchConfig, progress, log) -> dict:
    """`edgetl run OUT/recipe.yaml --out OUT/run` through the pipeline API: train, quantize, benchmark, export."""
    from edgetl.pipeline.recipes import load_recipe
    from edgetl.pipeline.runner import run_pipeline

    rec, source = load_recipe(str(recipe))
    log(f"--train: edgetl run {recipe} --out {run_dir}")
    with _env("EDGETL_CACHE_DIR", cfg.cache_dir):  # the search's feature cache: phase 1 reuses the pick's features
        summary = run_pipeline(rec, run_dir, progress=progress, log=lambda m: log(f"[run {run_dir}] {m}"),
                               recipe_source=source)
    test = ((summary.get("results") or {}).get("train") or {}).get("test") or {}
    log(f"--train: done in {summary.get('total_seconds', 0):.0f} s; run folder {run_dir}"
        + (f"; test accuracy {test['accuracy']:.3f} on {test.get('n')} images" if test.get("accuracy") is not None
           else ""))
    return {"out": str(run_dir), "total_seconds": summary.get("total_seconds"), "test": test,
            "refused": summary.get("refused", [])}


# ---- state -----------------------------------------------------------------------------------------

def _load_state(out: Path) -> dict:
    f = out / SEARCH_FILE
    if f.is_file():
        try:
            s = read_json(f)
            if s.get("format") == SEARCH_FORMAT:
                s.setdefault("scored", {})
                s.setdefault("latency", {})
                return s
        except (OSError, ValueError):
            pass
    return {"format": SEARCH_FORMAT, "scored": {}, "latency": {}}


def _save_state(out: Path, state: dict) -> None:
    last = state.get("last") or {}
    write_json(out / SEARCH_FILE, {**last, "format": SEARCH_FORMAT, "scored": state["scored"],
                                   "latency": state["latency"], "data": state.get("data")})


# ---- one candidate -----------------------------------------------------------------------------------

_SPLITS: dict = {}  # (data options, size) -> (splits, pipeline): one size decoded at a time


def _data_hash(cfg: SearchConfig, size: int) -> str:
    from edgetl.data.stream import is_listable, list_splits

    if is_listable(str(cfg.data)):
        return list_splits(_options(cfg), size).data_hash
    return _open(cfg, size, None)[0].data_hash


def _options(cfg: SearchConfig):
    from edgetl.data.types import DataOptions

    return DataOptions(str(cfg.data), cfg.val_ratio, cfg.test_ratio, cfg.seed, cfg.limit_per_class,
                       labels_csv=cfg.labels_csv)


def _open(cfg: SearchConfig, size: int, progress):
    from edgetl.data.access import open_splits

    key = (repr(_options(cfg)), size)  # the split depends on every data option
    if key not in _SPLITS:
        _SPLITS.clear()  # one size in memory at a time
        _SPLITS[key] = open_splits(_options(cfg), size, "auto", progress)
    return _SPLITS[key]


def _files_ok(out: Path, rec: dict) -> bool:
    from edgetl.rundir import file_sha256

    for p in rec.get("precisions", {}).values():
        f = out / MODELS_DIR / p["file"]
        if not f.is_file() or file_sha256(f) != p["sha256"]:
            return False
    return True


def _score(cand: Candidate, cfg: SearchConfig, state: dict, out: Path, phases: dict, progress) -> dict:
    fp = _fingerprint(cfg, _data_hash(cfg, cand.size))
    old = state["scored"].get(cand.id)
    if old and old.get("fingerprint") == fp and _files_ok(out, old):
        return {**old, "reused": True}
    root, weights = store.store_root(cfg.cache_dir), _weights_digest(cand)
    kept = store.load(root, cand.id, fp, weights, out / MODELS_DIR)
    if kept is not None:  # scored by an earlier search into another --out (store.py)
        data = kept.pop("data", None)
        if not state.get("data"):
            state["data"] = data
        return {**kept, "reused": "an earlier search"}
    rec = _score_new(cand, cfg, fp, state, out, phases, progress)
    store.save(root, cand.id, fp, weights, {**rec, "data": state.get("data")}, out / MODELS_DIR)
    return rec


def _weights_digest(cand: Candidate) -> str:
    from edgetl.data.feature_cache import file_digest

    return file_digest(cand.weights) if cand.weights else f"download:{cand.id}"


def _pool(cfg: SearchConfig, cand: Candidate, progress):
    """(tm, contract, splits, weights, cache, pool features, pool labels, train/val features, reused?)."""
    from edgetl.backbones.registry import get_backbone
    from edgetl.backbones.weights import resolve_weights
    from edgetl.data.access import split_labels
    from edgetl.data.feature_cache import FeatureCache, cache_key, resolve_cache_dir
    from edgetl.formats.contract import Contract
    from edgetl.training.features import pooled_features
    from edgetl.training.model import TransferModel

    spec = get_backbone(cand.backbone)
    weights = resolve_weights(spec, cand.alpha, cand.size, "imagenet", cfg.weights_dir, download=cfg.download)
    splits, _ = _open(cfg, cand.size, progress)
    if len(splits.class_names) < 2:
        raise EdgetlError(f"--data {cfg.data} has one class ({splits.class_names[0] if splits.class_names else '?'}); "
                          "a classifier needs at least two class folders")
    check_folds(np.concatenate([split_labels(splits, "train"), split_labels(splits, "val")]), cfg.folds,
                splits.class_names)
    n_classes = len(splits.class_names)
    tm = TransferModel(spec, cand.size, cand.alpha, weights, n_classes, dropout=0.2)
    contract = Contract(labels=splits.class_names, height=cand.size, width=cand.size, mean=list(spec.mean),
                        std=list(spec.std), channel_order=spec.channel_order,
                        output_units=1 if tm.binary else n_classes, backbone=spec.name, alpha=cand.alpha,
                        weights_source=weights.source, artifact="keras")
    root, _ = resolve_cache_dir(cfg.cache_dir)
    cache = None
    if root is not None:
        cache = FeatureCache(root, *cache_key(spec.name, cand.alpha, cand.size, weights.path, splits.data_hash, contract))
        cache.check_writable()
    feats, reused = pooled_features(tm, splits, contract, 32, cache, progress)
    return tm, contract, splits, weights, cache, feats, reused


def _positive(cfg: SearchConfig, class_names: list) -> int:
    if cfg.positive_class is None:
        return 1
    if cfg.positive_class not in class_names:
        raise EdgetlError(f"--positive-class {cfg.positive_class} is not a class of the data {class_names}")
    return class_names.index(cfg.positive_class)


def _cv(x: np.ndarray, y: np.ndarray, cfg: SearchConfig, n_classes: int, positive: int) -> dict:
    """Choose the L2 strength once (fold 0), then cross-validate the head at it over the K folds."""
    folds = fold_ids(y, cfg.folds, cfg.seed)
    val_share = cfg.val_ratio / (1.0 - cfg.test_ratio)
    c, losses = choose_c(x, y, folds, val_share, cfg.seed, n_classes)
    res = cross_validate(x, y, folds, linear_head(n_classes, c), val_share, cfg.seed,
                         cfg.target_recall if n_classes == 2 else None, positive)
    return {**res, "head_C": c, "val_loss_by_C": {str(k): v for k, v in losses.items()}}


def _score_new(cand: Candidate, cfg: SearchConfig, fp: dict, state: dict, out: Path, phases: dict, progress) -> dict:
    t0 = time.perf_counter()
    tm, contract, splits, weights, cache, feats, reused = _pool(cfg, cand, progress)
    (ftr, ltr), (fva, lva) = feats["train"], feats["val"]
    pool_x = np.concatenate([np.asarray(ftr), np.asarray(fva)]).astype(np.float32)
    pool_y = np.concatenate([np.asarray(ltr), np.asarray(lva)]).astype(np.int64)
    phases["features"] += time.perf_counter() - t0

    t0 = time.perf_counter()
    n_classes = len(splits.class_names)
    metric = _metric_name(cfg, n_classes)
    positive = _positive(cfg, splits.class_names) if n_classes == 2 else 1
    acc = _cv(pool_x, pool_y, cfg, n_classes, positive)
    phases["cv"] += time.perf_counter() - t0

    t0 = time.perf_counter()
    _set_head(tm, np.asarray(ftr, np.float32), np.asarray(ltr, np.int64), n_classes, acc["head_C"])
    files = _convert(tm, contract, splits, cand, cfg, out)
    phases["convert"] += time.perf_counter() - t0
    summary = splits.summary()
    state["data"] = {k: summary.get(k) for k in ("source", "classes", "train", "val", "test", "layout", "data_hash")}
    return {"id": cand.id, "backbone": cand.backbone, "alpha": cand.alpha, "input_size": cand.size,
            "weights_source": weights.source, "fingerprint": fp, "feature_cache_reused": reused,
            "feature_cache": str(cache.entry) if cache else None, "metric": metric, "positive": positive,
            "positive_label": splits.class_names[positive] if n_classes == 2 else None,
            "precisions": {"float32": {**files["float32"], **acc}, "int8": files["int8"]}}


def _set_head(tm, ftr: np.ndarray, ltr: np.ndarray, n_classes: int, c: float) -> None:
    """The files' head: the search's head at the chosen strength on the train split, standardisation folded into
    the dense layer's weights (what the files compute does not affect their latency or the int8 features)."""
    predict = linear_head(n_classes, c)(ftr, ltr)
    w, b = predict.raw_weights
    tm.head_layers[-1].set_weights([w.T.astype(np.float32), b.astype(np.float32)])


def _calibration(splits, n: int, seed: int) -> np.ndarray:
    from edgetl.data.access import split_labels, split_pixels

    labels = split_labels(splits, "train")
    idx = np.sort(np.random.default_rng(seed).permutation(len(labels))[:n])
    return split_pixels(splits, "train", idx)[0]


def _convert(tm, contract, splits, cand: Candidate, cfg: SearchConfig, out: Path) -> dict:
    """float32 and default-int8 TFLite of base + head in OUT/models: {precision: {file, sha256, size_mb}}."""
    from edgetl.tflite.converter import convert_tflite
    from edgetl.rundir import file_sha256

    recs = convert_tflite(tm.model, contract, list(PRECISIONS), out / MODELS_DIR, stem=cand.id,
                          calibration=_calibration(splits, cfg.calibration_images, cfg.seed))
    got = {}
    for p in PRECISIONS:
        f = Path(recs[p]["artifact"])
        got[p] = {"file": f.name, "sha256": file_sha256(f), "size_mb": f.stat().st_size / 1e6}
    return got


# ---- int8, on or near the front -------------------------------------------------------------------------

def _score_int8(rows: list, cands: list, cfg: SearchConfig, state: dict, out: Path, phases: dict, progress,
                log) -> None:
    """Cross-validate the int8 file's own features for the candidates whose int8 file is on or near the front
    when it is given its float32 score (front.near_front); the others stay unscored and out of the front."""
    from edgetl.data.access import split_labels

    todo_ids = near_front(rows)
    todo = [c for c in cands if c.id in todo_ids and "accuracy" not in state["scored"][c.id]["precisions"]["int8"]]
    n_near = len(todo_ids)
    log(f"int8: {n_near} of {len(cands)} candidates' int8 files are on or near the front"
        + (f"; scoring {len(todo)}" if todo else "; scored before"))
    spent = 0.0
    for i, cand in enumerate(todo):
        t0 = time.perf_counter()
        rec = state["scored"][cand.id]
        splits, _ = _open(cfg, cand.size, progress)
        pool_y = np.concatenate([split_labels(splits, "train"), split_labels(splits, "val")]).astype(np.int64)
        feats = _tflite_features(out / MODELS_DIR / rec["precisions"]["int8"]["file"], splits, pool_y, progress)
        acc = _cv(feats, pool_y, cfg, len(splits.class_names), rec.get("positive", 1))
        rec["precisions"]["int8"].update(acc)
        _save_state(out, state)
        store.save(store.store_root(cfg.cache_dir), cand.id, rec["fingerprint"], _weights_digest(cand),
                   {**rec, "data": state.get("data")}, out / MODELS_DIR)
        took = time.perf_counter() - t0
        spent += took
        phases["int8"] += took
        left = len(todo) - i - 1
        log(f"[int8 {i + 1}/{len(todo)}] {cand.label()}: int8 {_fmt(acc, rec['metric'])} ({took:.1f} s"
            + (f"; about {_eta(spent / (i + 1) * left)} left" if left else "") + ")")


def _tflite_features(path: Path, splits, pool_y: np.ndarray, progress=None, batch: int = 64) -> np.ndarray:
    """The pooled features the int8 file itself computes (the input of its final FULLY_CONNECTED), dequantized,
    for every train + validation image: its backbone's quantization is what the int8 cross-validation scores."""
    from edgetl.data.access import split_labels, split_pixels
    from edgetl.runtime.runners import TFLiteRunner

    runner = TFLiteRunner(path, xnnpack=False, preserve_tensors=True)
    it = runner.interpreter
    fc = [op for op in it._get_ops_details() if op["op_name"] == "FULLY_CONNECTED"]  # noqa: SLF001
    if not fc:
        raise EdgetlError(f"{path.name}: no FULLY_CONNECTED head found to read the features from")
    t = next(d for d in it.get_tensor_details() if d["index"] == int(fc[-1]["inputs"][0]))
    scale, zero = t["quantization"]
    out, labels = [], []
    task = progress.add_task(f"int8 features ({path.name})", total=len(pool_y)) if progress else None
    for name in ("train", "val"):
        n = len(split_labels(splits, name))
        for s in range(0, n, batch):
            px, lab = split_pixels(splits, name, np.arange(s, min(n, s + batch)))
            labels.append(lab)
            for x in runner.prepare(px):
                runner.invoke_one(x[None])
                v = it.get_tensor(t["index"]).reshape(-1).astype(np.float32)
                out.append((v - zero) * scale if scale else v)
            if task is not None:
                progress.advance(task, len(lab))
    if task is not None:
        progress.remove_task(task)
    if not np.array_equal(np.concatenate(labels), pool_y):
        raise EdgetlError("the images read for the int8 features differ from the cached ones; rerun the search")
    return np.stack(out)


# ---- rows and latency ------------------------------------------------------------------------------------

def _rows(cands: list, state: dict, out: Path, measured: Optional[list] = None) -> list:
    """One row per candidate file. ``score``/``low``/``high`` are the ranking metric's (None: int8 not scored);
    ``measured``: earlier rows whose p50/MACs are carried over."""
    lat = {r["key"]: r for r in measured or []}
    rows = []
    for c in cands:
        rec = state["scored"][c.id]
        metric = rec.get("metric", "accuracy")
        for p in PRECISIONS:
            a = rec["precisions"][p]
            key = f"{c.id}:{p}"
            if measured is not None and key not in lat:
                continue
            row = {"key": key, "id": f"{c.id} {p}", "candidate": c.id, "backbone": c.backbone,
                   "alpha": c.alpha, "input_size": c.size, "precision": p, "file": a["file"],
                   "path": str(out / MODELS_DIR / a["file"]), "sha256": a["sha256"], "size_mb": a["size_mb"],
                   "metric": metric, "positive_label": rec.get("positive_label"), "score": None, "low": None,
                   "high": None, "scored": "accuracy" in a}
            if "accuracy" in a:
                s, lo, hi = _metric_of(a, metric)
                row.update(score=s, low=lo, high=hi, accuracy=a["accuracy"], accuracy_low=a["low"],
                           accuracy_high=a["high"], correct=a["correct"], n=a["n"], fold_accuracy=a["fold_accuracy"],
                           t_low=a["t_low"], t_high=a["t_high"], head_C=a.get("head_C"),
                           **{k: a[k] for k in ("auc", "auc_low", "auc_high", "precision_at_recall",
                                                "precision_at_recall_low", "precision_at_recall_high",
                                                "recall_reached", "target_recall", "fold_thresholds") if k in a})
            else:
                row["not_scored"] = "int8 file not on or near the front with its float32 score"
            if key in lat:
                row.update({k: lat[key].get(k) for k in ("p50_ms", "p90_ms", "macs", "latency_source")})
            rows.append(row)
    return rows


def _latencies(rows: list, cfg: SearchConfig, table, state: dict, out: Path, phases: dict, progress, log) -> str:
    """Fill each row's p50_ms, latency_source and macs; returns the device the latencies come from."""
    from edgetl.measure import sysinfo
    from edgetl.measure.macs import count_file

    for r in rows:
        r["macs"] = state["latency"].get("macs:" + r["sha256"])
        if r["macs"] is None:
            r["macs"] = count_file(r["path"]).get("macs")
            state["latency"]["macs:" + r["sha256"]] = r["macs"]
    if table is not None:
        for r in rows:
            r["p50_ms"] = latency_of(table, r["file"], r["sha256"])
            r["latency_source"] = f"--latency-from ({table['device']})"
            if r["p50_ms"] is None:
                log(f"no latency for {r['file']} in --latency-from: left out")
        return table["device"]
    info = sysinfo.collect()
    host, cpu = sysinfo.one_line(info), sysinfo.one_line({**info, "load_average": None})
    key = f"x{cfg.threads}:" + "{}"
    root = store.store_root(cfg.cache_dir)
    for r in rows:  # measured by an earlier search on this CPU with these runtimes (store.py)
        k = key.format(r["sha256"])
        if k not in state["latency"]:
            lat = store.stored_latency(root, r["sha256"], cfg.threads, cpu)
            if lat is not None:
                state["latency"][k] = {**lat, "earlier_search": True}
    todo = [r for r in rows if key.format(r["sha256"]) not in state["latency"]]
    if todo:
        from edgetl.config.stages import BenchmarkConfig
        from edgetl.measure.bench import benchmark

        t0 = time.perf_counter()
        log(f"benchmarking {len(todo)} file(s), {cfg.rounds} interleaved rounds, {cfg.threads} thread(s)")
        res = benchmark([r["path"] for r in todo], BenchmarkConfig(threads=list((cfg.threads,)), runs=20, min_seconds=cfg.min_seconds, warmup=5, rounds=cfg.rounds, budget_ms=cfg.budget_ms), measure_peak=False, progress=progress)
        phases["benchmark"] += time.perf_counter() - t0
        by_path = {row["artifact"]: row for row in res["results"]}
        for r in todo:
            row = by_path.get(r["path"]) or {}
            if row.get("error") or row.get("p50_ms") is None:
                raise EdgetlError(f"benchmark of {r['file']} failed ({row.get('error')}); rerun, or pass --latency-from")
            state["latency"][key.format(r["sha256"])] = {"p50_ms": row["p50_ms"], "p90_ms": row["p90_ms"],
                                                         "runs": row["runs"], "host": host}
        _save_state(out, state)
        store.store_latency(root, {r["sha256"]: {k: state["latency"][key.format(r["sha256"])][k]
                                                 for k in ("p50_ms", "p90_ms", "runs")} for r in todo},
                            cfg.threads, cpu)
    for r in rows:
        lat = state["latency"][key.format(r["sha256"])]
        r["p50_ms"], r["p90_ms"] = lat["p50_ms"], lat.get("p90_ms")
        r["latency_source"] = f"this machine, {cfg.threads} thread(s)" + (
            ", measured by an earlier search" if lat.get("earlier_search") else "")
    return host


# ---- recipe ----------------------------------------------------------------------------------------------

def write_recipe(out: Path, row: dict, cfg: SearchConfig) -> Path:
    """OUT/recipe.yaml: the pick, trained fully by `edgetl run` (validated as every recipe is)."""
    import yaml

    from edgetl.pipeline.recipes import load_recipe

    data = str(Path(cfg.data).resolve()) if Path(str(cfg.data)).exists() else str(cfg.data)
    recipe = {"name": f"search_{row['candidate']}",
              "description": f"edgetl search pick within {cfg.budget_ms:g} ms"
                             + (f" and {cfg.max_mb:g} MB" if cfg.max_mb else "")
                             + f": {row['id']}, cross-validated {row['metric']} {row['score']:.3f} "
                               f"[{row['low']:.3f}, {row['high']:.3f}], p50 {row['p50_ms']:.2f} ms",
              "data": data, "backbone": row["backbone"], "input_size": row["input_size"], "weights": "imagenet",
              "seed": cfg.seed, "val_ratio": cfg.val_ratio, "test_ratio": cfg.test_ratio,
              "quantize": ["float32", "int8"] if row["precision"] == "int8" else ["float32"],
              "android_artifact": row["precision"], "android": True, "threads": [cfg.threads]}
    if row["alpha"] is not None:
        recipe["alpha"] = row["alpha"]
    if row["metric"] != "accuracy":  # two classes: the pick's decision as the search scored it
        recipe["positive_class"] = row["positive_label"]
        if cfg.target_recall is not None:
            recipe["target_recall"] = cfg.target_recall
    if cfg.labels_csv:
        recipe["labels_csv"] = str(Path(cfg.labels_csv).resolve())
    if cfg.limit_per_class:
        recipe["limit_images"] = cfg.limit_per_class
    if cfg.weights_dir:
        recipe["weights_dir"] = str(Path(cfg.weights_dir).expanduser().resolve())
    path = out / RECIPE_FILE
    write_text(path, "# written by `edgetl search`; train it fully with:  edgetl run " + str(path) + "\n"
               + yaml.safe_dump(recipe, sort_keys=False))
    load_recipe(str(path))  # the recipe loader's own validation: a bad key fails here, not in `edgetl run`
    return path
