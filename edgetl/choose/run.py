"""The search: every candidate's cross-validated accuracy, latency, size and MACs; the front; the pick; a recipe.

Phases (timed in search.json): features (the frozen base over the train + validation images, through the
feature cache `edgetl train` uses), cv (the phase-1 head, K folds), convert (float32 + int8 TFLite of
base + head, and the int8 file's own features for its cross-validation), benchmark (every file in one
interleaved `edgetl benchmark` run, or ``--latency-from``). search.json is rewritten after each
candidate, so a rerun (or a run after Ctrl-C) skips the candidates already scored.
"""
from __future__ import annotations

import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np

from edgetl.choose.candidates import PRECISIONS, Candidate, available
from edgetl.choose.cv import check_folds, cross_validate, fold_ids
from edgetl.measure.front import pareto_front, pick
from edgetl.choose.latency import read_latency_file, latency_of
from edgetl.config.params import check
from edgetl.config.stages import SearchConfig
from edgetl.errors import EdgetlError
from edgetl.fsutil import read_json, write_json, write_text

SEARCH_FORMAT = "edgetl-search/1"
SEARCH_FILE = "search.json"
RECIPE_FILE = "recipe.yaml"
MODELS_DIR = "models"


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def validate(cfg: SearchConfig) -> SearchConfig:
    check(cfg)  # types, ranges, choices of every field: one line naming the flag
    if cfg.budget_ms is None:
        raise EdgetlError("--budget-ms is required: the latency (p50, ms) the model must meet, e.g. --budget-ms 10")
    from edgetl.data.types import DataOptions

    DataOptions(str(cfg.data), cfg.val_ratio, cfg.test_ratio, cfg.seed, cfg.limit_per_class, cfg.labels_csv).check()
    return cfg


def _fingerprint(cfg: SearchConfig, data_hash: str) -> dict:
    """What a candidate's scores depend on: a rerun with the same fingerprint reuses them."""
    return {"data_hash": data_hash, "folds": cfg.folds, "seed": cfg.seed, "val_ratio": cfg.val_ratio,
            "test_ratio": cfg.test_ratio, "limit_images": cfg.limit_per_class, "labels_csv": cfg.labels_csv,
            "calibration_images": cfg.calibration_images}


def search(cfg: SearchConfig, progress=None, log: Callable = _stderr) -> dict:
    """Score every candidate, measure it, pick; write OUT/search.json and OUT/recipe.yaml; return search.json."""
    from edgetl.data.sources import check_source

    validate(cfg)
    table = read_latency_file(cfg.latency_from) if cfg.latency_from else None  # a bad file fails before any work
    check_source(cfg.data, cfg.labels_csv)
    cands, skipped = available(cfg.backbones, cfg.alphas, cfg.sizes, cfg.weights_dir, cfg.download)
    for cid, why in skipped:
        log(f"skipped {cid}: {why}")
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise EdgetlError(f"--out {out} is a file; pass a folder for the search")
    state = _load_state(out)
    phases = {"features": 0.0, "cv": 0.0, "convert": 0.0, "benchmark": 0.0}
    data_summary = None
    for i, cand in enumerate(cands):
        t0 = time.perf_counter()
        rec, data_summary = _score(cand, cfg, state, out, phases, log, progress, data_summary)
        a = rec["precisions"]
        log(f"[{i + 1}/{len(cands)}] {cand.label()}: "
            + ", ".join(f"{p} {a[p]['accuracy']:.3f} [{a[p]['low']:.3f}, {a[p]['high']:.3f}]" for p in PRECISIONS)
            + (" (scored before)" if rec.get("reused") else f" ({time.perf_counter() - t0:.1f} s)"))
        state["scored"][cand.id] = {k: v for k, v in rec.items() if k != "reused"}
        if data_summary:
            state["data"] = data_summary
        _save_state(out, state)
    rows = _rows(cands, state, out)
    device = _latencies(rows, cfg, table, state, out, phases, progress, log)
    rows = [r for r in rows if r.get("p50_ms") is not None]
    if not rows:
        raise EdgetlError(f"--latency-from {cfg.latency_from} has no latency for any candidate file in "
                          f"{out / MODELS_DIR}; measure those files (docs/search.md)")
    front = pareto_front(rows)
    front_ids = {r["key"] for r in front}
    for r in rows:
        r["on_front"] = r["key"] in front_ids
        r["meets_budget"] = r["p50_ms"] <= cfg.budget_ms and (cfg.max_mb is None or r["size_mb"] <= cfg.max_mb)
    result = {"format": SEARCH_FORMAT, "config": asdict(cfg), "data": data_summary or state.get("data"),
              "latency_device": device, "phases_seconds": {k: round(v, 2) for k, v in phases.items()},
              "skipped": [{"id": c, "reason": why} for c, why in skipped], "candidates": rows,
              "front": [r["key"] for r in front]}
    try:
        chosen, tied = pick(rows, cfg.budget_ms, cfg.max_mb)
    except EdgetlError:
        _save_state(out, {**state, "last": result})
        raise
    recipe = write_recipe(out, chosen, cfg)
    result.update(pick={**chosen, "tied_with": [r["key"] for r in tied if r["key"] != chosen["key"]]},
                  recipe=str(recipe), run_line=f"edgetl run {recipe}")
    state["last"] = result
    _save_state(out, state)
    return result


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


def _score(cand: Candidate, cfg: SearchConfig, state: dict, out: Path, phases: dict, log, progress, data_summary):
    fp = _fingerprint(cfg, _data_hash(cfg, cand.size))
    old = state["scored"].get(cand.id)
    if old and old.get("fingerprint") == fp and _files_ok(out, old):
        return {**old, "reused": True}, data_summary
    return _score_new(cand, cfg, fp, out, phases, log, progress)


def _score_new(cand: Candidate, cfg: SearchConfig, fp: dict, out: Path, phases: dict, log, progress):
    from edgetl.backbones.registry import get_backbone
    from edgetl.backbones.weights import resolve_weights
    from edgetl.data.access import split_labels
    from edgetl.data.feature_cache import FeatureCache, cache_key, resolve_cache_dir
    from edgetl.formats.contract import Contract
    from edgetl.stages.train import TransferModel, pooled_features

    spec = get_backbone(cand.backbone)
    weights = resolve_weights(spec, cand.alpha, cand.size, "imagenet", cfg.weights_dir, download=cfg.download)
    t0 = time.perf_counter()
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
    (ftr, ltr), (fva, lva) = feats["train"], feats["val"]
    pool_x = np.concatenate([np.asarray(ftr), np.asarray(fva)])
    pool_y = np.concatenate([np.asarray(ltr), np.asarray(lva)]).astype(np.int64)
    phases["features"] += time.perf_counter() - t0

    t0 = time.perf_counter()
    folds = fold_ids(pool_y, cfg.folds, cfg.seed)
    val_share = cfg.val_ratio / (1.0 - cfg.test_ratio)
    fit = _head_fitter(tm)
    acc = {"float32": cross_validate(pool_x, pool_y, folds, fit, val_share, cfg.seed)}
    phases["cv"] += time.perf_counter() - t0

    t0 = time.perf_counter()
    from edgetl.stages.train import fit_linear_head

    head = fit_linear_head(tm, np.asarray(ftr), ltr, np.asarray(fva), lva)  # exactly train's phase 1
    files = _convert(tm, contract, splits, cand, cfg, out)
    int8_feats = _tflite_features(out / MODELS_DIR / files["int8"]["file"], splits, pool_y)
    phases["convert"] += time.perf_counter() - t0
    t0 = time.perf_counter()
    acc["int8"] = cross_validate(int8_feats, pool_y, folds, fit, val_share, cfg.seed)
    phases["cv"] += time.perf_counter() - t0
    rec = {"id": cand.id, "backbone": cand.backbone, "alpha": cand.alpha, "input_size": cand.size,
           "weights_source": weights.source, "fingerprint": fp, "feature_cache_reused": reused,
           "feature_cache": str(cache.entry) if cache else None, "head_C": head.get("C"),
           "precisions": {p: {**files[p], **acc[p]} for p in PRECISIONS}}
    summary = splits.summary()
    return rec, {k: summary.get(k) for k in ("source", "classes", "train", "val", "test", "layout", "data_hash")}


def _head_fitter(tm):
    """fit(ftr, ltr, fva, lva) -> predict: train's phase-1 head (``fit_linear_head``) on the given features."""
    from edgetl.stages.train import fit_linear_head

    def fit(ftr, ltr, fva, lva):
        fit_linear_head(tm, ftr, ltr, fva, lva)
        return lambda x: tm.pooled_head(np.asarray(x, np.float32), training=False).numpy()

    return fit


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


def _tflite_features(path: Path, splits, pool_y: np.ndarray, batch: int = 64) -> np.ndarray:
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
    for name in ("train", "val"):
        n = len(split_labels(splits, name))
        for s in range(0, n, batch):
            px, lab = split_pixels(splits, name, np.arange(s, min(n, s + batch)))
            labels.append(lab)
            for x in runner.prepare(px):
                runner.invoke_one(x[None])
                v = it.get_tensor(t["index"]).reshape(-1).astype(np.float32)
                out.append((v - zero) * scale if scale else v)
    if not np.array_equal(np.concatenate(labels), pool_y):
        raise EdgetlError("the images read for the int8 features differ from the cached ones; rerun the search")
    return np.stack(out)


# ---- latency -------------------------------------------------------------------------------------------

def _rows(cands: list, state: dict, out: Path) -> list:
    rows = []
    for c in cands:
        rec = state["scored"][c.id]
        for p in PRECISIONS:
            a = rec["precisions"][p]
            rows.append({"key": f"{c.id}:{p}", "id": f"{c.id} {p}", "candidate": c.id, "backbone": c.backbone,
                         "alpha": c.alpha, "input_size": c.size, "precision": p, "file": a["file"],
                         "path": str(out / MODELS_DIR / a["file"]), "sha256": a["sha256"], "size_mb": a["size_mb"],
                         "accuracy": a["accuracy"], "low": a["low"], "high": a["high"], "correct": a["correct"],
                         "n": a["n"], "fold_accuracy": a["fold_accuracy"], "t_low": a["t_low"], "t_high": a["t_high"]})
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
    host = sysinfo.one_line(sysinfo.collect())
    key = f"x{cfg.threads}:" + "{}"
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
    for r in rows:
        lat = state["latency"][key.format(r["sha256"])]
        r["p50_ms"], r["p90_ms"] = lat["p50_ms"], lat.get("p90_ms")
        r["latency_source"] = f"this machine, {cfg.threads} thread(s)"
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
                             + f": {row['id']}, cross-validated accuracy {row['accuracy']:.3f} "
                               f"[{row['low']:.3f}, {row['high']:.3f}], p50 {row['p50_ms']:.2f} ms",
              "data": data, "backbone": row["backbone"], "input_size": row["input_size"], "weights": "imagenet",
              "seed": cfg.seed, "val_ratio": cfg.val_ratio, "test_ratio": cfg.test_ratio,
              "quantize": ["float32", "int8"] if row["precision"] == "int8" else ["float32"],
              "android_artifact": row["precision"], "threads": [cfg.threads]}
    if row["alpha"] is not None:
        recipe["alpha"] = row["alpha"]
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
