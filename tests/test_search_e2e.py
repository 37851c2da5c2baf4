"""`edgetl search` end to end on flowers_small: two small candidates, 3 folds (slow tier)."""
from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

pytestmark = pytest.mark.slow


def test_search_end_to_end_picks_within_budget_and_writes_a_recipe(tmp_path, flowers, weights_dir):
    from edgetl.cli import main

    out = tmp_path / "search"
    args = ["search", "--data", str(flowers), "--weights-dir", str(weights_dir), "--no-download",
            "--backbones", "mobilenet_v2,mobilenet", "--alphas", "0.35,0.25", "--sizes", "96", "--folds", "3",
            "--rounds", "2", "--min-seconds", "0.3", "--cache-dir", str(tmp_path / "cache"), "--out", str(out)]
    r = CliRunner().invoke(main, args + ["--budget-ms", "1000", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads((out / "search.json").read_text())
    rows = {c["key"]: c for c in res["candidates"]}
    assert set(rows) == {f"{c}:{p}" for c in ("mobilenet_v2_a0.35_96", "mobilenet_a0.25_96") for p in ("float32", "int8")}
    for c in rows.values():
        assert c["p50_ms"] > 0 and c["size_mb"] > 0 and c["macs"] > 1e6 and (out / "models" / c["file"]).is_file()
        if c["precision"] == "int8" and not c["scored"]:
            assert c["key"] not in res["front"] and c["score"] is None  # far from the front: not scored, not ranked
            continue
        assert c["metric"] == "accuracy" and c["score"] == c["accuracy"]
        assert c["low"] <= c["accuracy"] <= c["high"] and c["n"] > 100 and len(c["fold_accuracy"]) == 3
        assert c["accuracy"] > 1 / 5 + 0.15, c  # ImageNet features on 5 flower classes: far above chance
    assert all(rows[f"{c}:float32"]["scored"] for c in ("mobilenet_v2_a0.35_96", "mobilenet_a0.25_96"))
    assert set(res["front"]) <= set(rows) and res["front"]
    p = res["pick"]
    assert p["p50_ms"] <= 1000 and p["key"] in res["front"]
    best = max((c for c in rows.values() if c["scored"]), key=lambda c: c["score"])
    assert best["low"] <= p["score"] <= best["high"]  # every row meets 1000 ms: the pick ties with the best
    recipe = yaml.safe_load((out / "recipe.yaml").read_text())
    assert (recipe["backbone"], recipe["alpha"], recipe["input_size"]) == (p["backbone"], p["alpha"], p["input_size"])
    assert res["run_line"] == f"edgetl run {out / 'recipe.yaml'}"
    assert p["precision"] in recipe["quantize"]
    assert (out / "search.png").stat().st_size > 10_000  # the plot

    # a rerun with a tight budget reuses every score and measurement, and names the fastest file
    fastest = min(rows.values(), key=lambda c: c["p50_ms"])
    r = CliRunner().invoke(main, args + ["--budget-ms", str(fastest["p50_ms"] / 2)])
    assert r.exit_code == 2, r.output
    assert f"the fastest is {fastest['id']}" in r.output and "scored before" in r.output
    assert "benchmarking" not in r.output

    # a search into another --out on the same cache reuses every score, file and measurement (choose/store.py)
    out2 = tmp_path / "search2"
    r = CliRunner().invoke(main, [str(out2) if a == str(out) else a for a in args] + ["--budget-ms", "1000"])
    assert r.exit_code == 0, r.output
    assert r.output.count("scored by an earlier search") == 2 and "benchmarking" not in r.output
    again = {c["key"]: c for c in json.loads((out2 / "search.json").read_text())["candidates"]}
    same = ("score", "sha256", "p50_ms", "scored")
    assert {k: [c[f] for f in same] for k, c in again.items()} == {k: [c[f] for f in same] for k, c in rows.items()}
    assert all((out2 / "models" / c["file"]).is_file() for c in again.values())
    assert all("earlier search" in c["latency_source"] for c in again.values())

    # latencies measured elsewhere replace this machine's
    lat = tmp_path / "phone.json"
    lat.write_text(json.dumps({"format": "edgetl-latency/1", "device": "test phone", "models": [
        {"file": c["file"], "sha256": c["sha256"], "p50_ms": 5.0 if c["precision"] == "int8" else 50.0}
        for c in rows.values()]}))
    r = CliRunner().invoke(main, args + ["--budget-ms", "10", "--latency-from", str(lat), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads((out / "search.json").read_text())
    assert res["latency_device"] == "test phone" and res["pick"]["precision"] == "int8"


def _binary_photos(root, n=18):
    """A tiny fabricated two-class set: warm and cool noise photos, told apart by colour."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, tint in (("cool", (40, 90, 200)), ("warm", (210, 90, 40))):
        (root / c).mkdir(parents=True)
        for i in range(n):
            px = np.clip(rng.normal(tint, 60, size=(64, 64, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(px).save(root / c / f"{i}.png")
    return root


def test_two_classes_are_ranked_by_precision_at_the_target_recall(tmp_path, weights_dir):
    from edgetl import SearchConfig, search

    data = _binary_photos(tmp_path / "photos")
    res = search(SearchConfig(data=str(data), weights_dir=str(weights_dir), download=False, budget_ms=1000,
                              backbones=["mobilenet_v2"], alphas=[0.35], sizes=[96], folds=3, rounds=1,
                              min_seconds=0.2, target_recall=0.9, cache_dir=str(tmp_path / "cache"),
                              out=str(tmp_path / "out")), log=lambda m: None)
    assert res["metric"] == "precision@recall0.9"
    f32 = next(r for r in res["candidates"] if r["precision"] == "float32")
    assert f32["score"] == f32["precision_at_recall"] and f32["low"] <= f32["score"] <= f32["high"]
    assert 0.5 < f32["auc"] <= 1.0 and f32["recall_reached"] > 0.5
    recipe = yaml.safe_load((tmp_path / "out" / "recipe.yaml").read_text())
    assert recipe["positive_class"] == "warm" and recipe["target_recall"] == 0.9


def test_train_runs_the_pick_through_the_pipeline(tmp_path, flowers, weights_dir):
    from edgetl import SearchConfig, search

    lines = []
    out = tmp_path / "out"
    res = search(SearchConfig(data=str(flowers), weights_dir=str(weights_dir), download=False, budget_ms=1000,
                              backbones=["mobilenet_v2"], alphas=[0.35], sizes=[96], folds=3, rounds=1,
                              min_seconds=0.2, limit_per_class=12, train=True, cache_dir=str(tmp_path / "cache"),
                              out=str(out)), log=lines.append)
    run = out / "run"
    assert res["train"]["out"] == str(run) and 0 <= res["train"]["test"]["accuracy"] <= 1
    summary = json.loads((run / "summary.json").read_text())
    assert {s for s, st in summary["stages"].items() if st["status"] == "ran"} >= {"train", "quantize", "benchmark",
                                                                                   "android"}
    assert any(line.startswith(f"[run {run}] stage quantize") for line in lines)  # where the run is, as it goes
    assert res["pick"]["precision"] in summary["recipe"]["quantize"]
