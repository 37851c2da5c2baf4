"""`edgetl search`, fast tier: the pick and tie rule, the Pareto front, the latency file, the grid, the
cross-validation's bookkeeping, and bad input (one line, exit 2). The real search: test_search_e2e.py."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from edgetl.choose.candidates import grid
from edgetl.choose.cv import check_folds, choose_c, cross_validate, fold_ids, inner_split, linear_head
from edgetl.measure.front import near_front, pareto_front, pick
from edgetl.choose.latency import LATENCY_FORMAT, latency_of, parse_latency
from edgetl.errors import EdgetlError


def row(id, acc, p50, mb=1.0, half=0.03):
    return {"id": id, "key": id, "score": acc, "low": acc - half, "high": acc + half, "p50_ms": p50, "size_mb": mb}


# ---- front and pick ---------------------------------------------------------------------------------

def test_front_drops_dominated_rows_and_sorts_by_latency():
    rows = [row("a", 0.80, 1.0), row("b", 0.85, 2.0), row("c", 0.82, 3.0), row("d", 0.90, 5.0), row("e", 0.80, 1.5)]
    assert [r["id"] for r in pareto_front(rows)] == ["a", "b", "d"]  # c: b is better and faster; e: a ties, faster


def test_pick_is_most_accurate_within_budget_when_intervals_do_not_overlap():
    rows = [row("fast", 0.70, 1.0), row("mid", 0.85, 4.0), row("slow", 0.95, 9.0)]
    assert pick(rows, 5.0)[0]["id"] == "mid"
    assert pick(rows, 10.0)[0]["id"] == "slow"
    assert pick(rows, 1.0)[0]["id"] == "fast"


def test_ties_within_the_best_interval_go_to_the_faster_then_the_smaller():
    rows = [row("best", 0.90, 4.0, mb=3.0), row("tied_fast", 0.88, 2.0, mb=2.0),
            row("tied_fast_small", 0.875, 2.0, mb=1.0), row("outside", 0.85, 0.5)]
    chosen, tied = pick(rows, 5.0)
    assert chosen["id"] == "tied_fast_small"  # inside [0.87, 0.93]; same p50 as tied_fast, smaller
    assert {r["id"] for r in tied} == {"best", "tied_fast", "tied_fast_small"}  # 0.85 is outside the interval


def test_a_paired_test_decides_ties_where_it_is_given():
    """With per-image results (the report), McNemar's p decides the tie, not the interval: a faster row inside the
    interval but wrong on clearly more images is not tied; one outside it with no detectable difference is."""
    rows = [row("best", 0.90, 4.0), row("inside", 0.89, 2.0), row("outside", 0.85, 1.0)]
    p = {"inside": 0.004, "outside": 0.11}
    chosen, tied = pick(rows, 5.0, paired=lambda best, r: p[r["id"]])
    assert chosen["id"] == "outside" and {r["id"] for r in tied} == {"best", "outside"}
    # no per-image result for a row (None): the interval rule for that row
    chosen, tied = pick(rows, 5.0, paired=lambda best, r: None if r["id"] == "inside" else 0.01)
    assert chosen["id"] == "inside" and {r["id"] for r in tied} == {"best", "inside"}


def test_pick_respects_the_size_budget():
    rows = [row("big", 0.95, 1.0, mb=10.0), row("small", 0.80, 1.0, mb=1.0)]
    assert pick(rows, 5.0, max_mb=2.0)[0]["id"] == "small"
    with pytest.raises(EdgetlError, match="--max-mb 0.5.*smallest is small"):
        pick(rows, 5.0, max_mb=0.5)


def test_a_budget_no_row_meets_names_the_fastest_and_its_p50():
    rows = [row("a", 0.9, 3.25), row("b", 0.8, 2.5)]
    with pytest.raises(EdgetlError, match=r"--budget-ms 1: the fastest is b at p50 2.50 ms"):
        pick(rows, 1.0)


def file_row(cand, precision, p50, score=None, half=0.03):
    return {"key": f"{cand}:{precision}", "id": f"{cand} {precision}", "candidate": cand, "precision": precision,
            "score": score, "low": None if score is None else score - half,
            "high": None if score is None else score + half, "p50_ms": p50, "size_mb": 1.0}


def test_only_int8_files_that_could_reach_the_front_are_scored():
    rows = [file_row("big", "float32", 10.0, 0.95), file_row("big", "int8", 3.0),
            file_row("mid", "float32", 4.0, 0.90), file_row("mid", "int8", 2.0),
            file_row("weak", "float32", 5.0, 0.60), file_row("weak", "int8", 2.5),  # mid int8 is faster, far better
            file_row("tiny", "float32", 1.0, 0.70), file_row("tiny", "int8", 0.5)]
    assert near_front(rows) == {"big", "mid", "tiny"}
    rows[3] = file_row("mid", "int8", 2.0, 0.89)  # scored: still beats weak's int8 on its float32 score
    assert near_front(rows) == {"big", "mid", "tiny"}


def test_the_plot_labels_the_front_without_overlaps_and_caps_the_axis_at_one():
    from edgetl.choose.plot import draw

    rows = []
    for i in range(10):  # a crowded front: ten files close together near 1.0
        for p, dp, da in (("float32", 0.0, 0.0), ("int8", -0.05, -0.004)):
            acc = min(0.999, 0.90 + 0.01 * i + da)
            rows.append({"key": f"c{i}:{p}", "id": f"c{i} {p}", "candidate": f"c{i}", "backbone": "mobilenet_v2",
                         "alpha": 0.35, "input_size": 96 + 8 * i, "precision": p, "score": acc, "low": acc - 0.03,
                         "high": min(1.0, acc + 0.02), "p50_ms": 0.3 + 0.05 * i + dp, "size_mb": 1.0})
    front = [r["key"] for r in pareto_front(rows)]
    result = {"candidates": rows, "front": front, "pick": next(r for r in rows if r["key"] == front[5]), "metric": "accuracy", "latency_device": "host",
              "config": {"budget_ms": 0.75, "folds": 5, "threads": 1, "max_mb": None, "latency_from": None}}
    fig = draw(result)
    ax = fig.axes[0]
    assert ax.get_ylim()[1] <= 1.0
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    labels = [t for t in ax.texts if "MNv2" in t.get_text()]
    assert len(labels) == len(front) and any(t.get_text().startswith("PICK") for t in labels)
    from matplotlib.text import Text

    boxes = [Text.get_window_extent(t, r) for t in labels]  # the text itself, not its leader line
    assert not [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:] if a.overlaps(b)]
    assert any("budget 0.75 ms" in t.get_text() for t in ax.texts)


# ---- latency file ------------------------------------------------------------------------------------

SHA = "ab" * 32


def doc(**over):
    d = {"format": LATENCY_FORMAT, "device": "Pixel 7", "models": [{"file": "m_int8.tflite", "sha256": SHA, "p50_ms": 3}]}
    d.update(over)
    return d


def test_latency_file_matches_by_sha256_and_refuses_stale_names():
    t = parse_latency(doc())
    assert t["device"] == "Pixel 7"
    assert latency_of(t, "renamed.tflite", SHA) == 3.0
    assert latency_of(t, "other.tflite", "cd" * 32) is None
    with pytest.raises(EdgetlError, match="measure the current files again"):
        latency_of(t, "m_int8.tflite", "cd" * 32)


@pytest.mark.parametrize("bad, msg", [
    ({"format": "edgetl-latency/2"}, '"format" must be'),
    ({"device": ""}, '"device"'),
    ({"models": []}, '"models"'),
    ({"models": [{"file": "m.tflite", "sha256": "xyz", "p50_ms": 1}]}, "sha256"),
    ({"models": [{"file": "m.tflite", "sha256": SHA, "p50_ms": -1}]}, "p50_ms"),
    ({"models": [{"file": "m.tflite", "sha256": SHA, "p50_ms": "3"}]}, "p50_ms"),
])
def test_malformed_latency_files_are_refused(bad, msg):
    with pytest.raises(EdgetlError, match=msg):
        parse_latency(doc(**bad))


# ---- grid ------------------------------------------------------------------------------------------------

def test_grid_comes_from_the_registry_and_narrows():
    from edgetl.backbones.registry import BACKBONES

    every = grid([], [], [96])
    names = {s.name for s, _, _ in every}
    assert names == {n for n, s in BACKBONES.items() if s.weights_url or s.parts}  # alexnet has no ImageNet weights
    narrow = grid(["mobilenet_v2", "vgg16"], [0.35], [96, 128])
    assert [(s.name, a, z) for s, a, z in narrow] == [("mobilenet_v2", 0.35, 96), ("mobilenet_v2", 0.35, 128),
                                                       ("vgg16", None, 96), ("vgg16", None, 128)]
    with pytest.raises(EdgetlError, match="no public ImageNet weights"):
        grid(["alexnet"], [], [96])


def test_the_default_grid_downloads_nothing_and_named_backbones_may(tmp_path, monkeypatch):
    from edgetl.choose.candidates import available

    monkeypatch.delenv("EDGETL_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))  # an empty keras cache
    with pytest.raises(EdgetlError, match="no ImageNet weights for any candidate.*name --backbones"):
        available([], [], [96], str(tmp_path), download=True, is_online=lambda: True)
    keep, skipped = available(["mobilenet_v2"], [0.35], [96, 128], str(tmp_path), download=True,
                              is_online=lambda: True)
    assert [(c.id, c.weights) for c in keep] == [("mobilenet_v2_a0.35_96", None), ("mobilenet_v2_a0.35_128", None)]


# ---- cross-validation ---------------------------------------------------------------------------------

def test_folds_are_stratified_and_every_image_is_predicted_once():
    labels = np.repeat([0, 1, 2], [10, 20, 30])
    f = fold_ids(labels, 5, seed=1)
    for k in range(5):
        assert np.bincount(labels[f == k]).tolist() == [2, 4, 6]
    fi, vi = inner_split(labels, 0.2, seed=0)
    assert len(set(fi) & set(vi)) == 0 and len(fi) + len(vi) == len(labels)
    assert np.bincount(labels[vi]).tolist() == [2, 4, 6]


def test_cross_validation_scores_held_out_images_only():
    """A 'head' that memorises its training images and guesses class 0 elsewhere scores only the guess."""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 50)
    x = rng.normal(size=(100, 4)).astype(np.float32)
    x[:, 0] = np.arange(100)  # an id per image

    def fit(ftr, ltr, fva, lva):
        seen = dict(zip(ftr[:, 0].tolist(), ltr.tolist()))
        return lambda q: np.eye(2)[[seen.get(i, 0) for i in q[:, 0].tolist()]]

    res = cross_validate(x, labels, fold_ids(labels, 5, 0), fit, 0.2, 0)
    assert res["correct"] == 50 and res["n"] == 100 and res["accuracy"] == 0.5  # never credited for memorising
    assert res["low"] < 0.5 < res["high"] and len(res["fold_accuracy"]) == 5


def test_linear_head_standardises_and_its_raw_weights_compute_the_same_probabilities():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 60)
    x = (rng.normal(size=(180, 8)) * [1, 10, 100, 1, 1, 1, 1, 0] + labels[:, None] * [1, 0, 0, 0, 0, 0, 0, 0]
         ).astype(np.float32) + 3.0
    predict = linear_head(3, 1.0)(x, labels)
    w, b = predict.raw_weights
    z = x @ w.T + b
    p = np.exp(z - z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(predict(x), p / p.sum(axis=1, keepdims=True), rtol=1e-4, atol=1e-5)
    assert (predict(x).argmax(axis=1) == labels).mean() > 0.6  # feature 0 carries the class
    c, losses = choose_c(x, labels, fold_ids(labels, 3, 0), 0.2, 0, 3)
    assert c in losses and losses[c] == min(losses.values()) and len(losses) == 4


def test_two_classes_get_auc_and_precision_at_a_target_recall_from_held_out_folds():
    """A fabricated binary set: feature 0 separates the classes with overlap."""
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1], [120, 80])
    x = rng.normal(size=(200, 6)).astype(np.float32)
    x[:, 0] += 1.5 * labels
    folds = fold_ids(labels, 4, 0)
    plain = cross_validate(x, labels, folds, linear_head(2, 1.0), 0.25, 0)
    assert 0.75 < plain["auc"] < 0.98 and plain["auc_low"] < plain["auc"] < plain["auc_high"]
    assert "precision_at_recall" not in plain
    from sklearn.metrics import roc_auc_score

    res = cross_validate(x, labels, folds, linear_head(2, 1.0), 0.25, 0, target_recall=0.9, positive=1)
    assert len(res["fold_thresholds"]) == 4 and res["target_recall"] == 0.9
    assert res["recall_reached"] > 0.75  # each fold's threshold comes from its validation share: near, not exactly, 0.9
    assert res["precision_at_recall_low"] < res["precision_at_recall"] < res["precision_at_recall_high"]
    assert 0.4 < res["precision_at_recall"] < 0.95
    assert res["auc"] == plain["auc"]  # the threshold changes decisions, not scores
    flipped = cross_validate(x, labels, folds, linear_head(2, 1.0), 0.25, 0, target_recall=0.9, positive=0)
    assert abs(flipped["auc"] - roc_auc_score(labels == 0, -x[:, 0])) < 0.1  # the positive class's own AUC
    assert flipped["precision_at_recall"] > res["precision_at_recall"]  # the larger class is the easier one to be precise about


def test_too_few_images_per_class_for_the_folds_is_one_line():
    with pytest.raises(EdgetlError, match="class 'b' has 3 .* pass --folds 3"):
        check_folds(np.array([0] * 10 + [1] * 3), 5, ["a", "b"])
    with pytest.raises(EdgetlError, match="one class"):
        check_folds(np.zeros(10, int), 5, ["a"])


# ---- bad input through the CLI ------------------------------------------------------------------------------

def cli(*args):
    from edgetl.cli import main

    r = CliRunner().invoke(main, ["search", *args])
    return r.exit_code, r.output


def test_cli_refuses_bad_input_with_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("EDGETL_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))  # an empty keras cache
    from PIL import Image

    for c in "ab":
        (tmp_path / "photos" / c).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (32, 32), (10, 20 * i, 30)).save(tmp_path / "photos" / c / f"{i}.png")
    code, out = cli("--data", str(tmp_path / "photos"))
    assert code == 2 and "--budget-ms is required" in out
    code, out = cli("--data", str(tmp_path / "nowhere"), "--budget-ms", "5")
    assert code == 2 and "nowhere" in out and "Traceback" not in out
    bad = tmp_path / "lat.json"
    bad.write_text("{not json")
    code, out = cli("--data", str(tmp_path / "photos"), "--budget-ms", "5", "--latency-from", str(bad))
    assert code == 2 and "not valid JSON" in out
    bad.write_text(json.dumps(doc(format="other")))
    code, out = cli("--data", str(tmp_path / "photos"), "--budget-ms", "5", "--latency-from", str(bad))
    assert code == 2 and '"format" must be' in out
    code, out = cli("--data", str(tmp_path / "photos"), "--budget-ms", "5", "--weights-dir", str(tmp_path),
                    "--no-download", "--backbones", "mobilenet_v2", "--out", str(tmp_path / "out"))
    assert code == 2 and "no ImageNet weights for any candidate" in out
    assert not (tmp_path / "out").exists()  # nothing half-written
    code, out = cli("--data", str(tmp_path / "photos"), "--budget-ms", "0")
    assert code == 2 and "--budget-ms" in out
    assert len(out.strip().splitlines()) == 1


def test_one_class_is_refused(tmp_path):
    (tmp_path / "one" / "daisy").mkdir(parents=True)
    code, out = cli("--data", str(tmp_path / "one"), "--budget-ms", "5", "--out", str(tmp_path / "o"))
    assert code == 2 and "single class" in out and "Traceback" not in out, out
    assert not (tmp_path / "o").exists()
    assert len(out.strip().splitlines()) == 1


def test_the_store_keeps_a_candidate_for_other_searches_and_misses_on_changed_bytes(tmp_path):
    from edgetl.choose import store
    from edgetl.fsutil import file_sha256

    models, root = tmp_path / "out" / "models", tmp_path / "cache" / "search"
    models.mkdir(parents=True)
    (models / "c_float32.tflite").write_bytes(b"float bytes")
    (models / "c_int8.tflite").write_bytes(b"int8 bytes")
    rec = {"id": "c", "precisions": {p: {"file": f"c_{p}.tflite", "sha256": file_sha256(models / f"c_{p}.tflite")}
                                     for p in ("float32", "int8")}}
    fp = {"data_hash": "d1", "folds": 5}
    store.save(root, "c", fp, "w1", rec, models)
    other = tmp_path / "other" / "models"
    assert store.load(root, "c", fp, "w1", other) == rec
    assert (other / "c_int8.tflite").read_bytes() == b"int8 bytes"
    assert store.load(root, "c", {**fp, "data_hash": "d2"}, "w1", other) is None  # other data
    assert store.load(root, "c", fp, "w2", other) is None  # other weights
    assert store.load(None, "c", fp, "w1", other) is None  # --cache-dir none
    entry = next(p for p in (root / "c").iterdir() if p.is_dir())
    (entry / "c_int8.tflite").write_bytes(b"changed")
    assert store.load(root, "c", fp, "w1", other) is None  # a damaged entry is a miss, not an error
    assert not [p for p in (root / "c").iterdir() if p.name.startswith(".staging-")]


def test_stored_latencies_are_kept_per_file_threads_and_host(tmp_path):
    from edgetl.choose import store

    root = tmp_path / "search"
    store.store_latency(root, {"abc": {"p50_ms": 1.5, "p90_ms": 2.0, "runs": 40}}, 1, "CPU A")
    assert store.stored_latency(root, "abc", 1, "CPU A")["p50_ms"] == 1.5
    assert store.stored_latency(root, "abc", 2, "CPU A") is None
    assert store.stored_latency(root, "abc", 1, "CPU B") is None
    (root / "latency.json").write_text("[1, 2")  # damaged: a miss, and the next write replaces it
    assert store.stored_latency(root, "abc", 1, "CPU A") is None
    store.store_latency(root, {"def": {"p50_ms": 3.0, "p90_ms": 3.5, "runs": 20}}, 1, "CPU A")
    assert store.stored_latency(root, "def", 1, "CPU A")["p50_ms"] == 3.0


def test_the_plot_draws_a_perfect_score_whose_stored_interval_ends_a_rounding_below_it():
    """search.json written before the Wilson fix holds high = 0.9999999999999999 for 144/144: the error bar must
    not go negative (matplotlib refused it and the chest X-ray search crashed at the plot)."""
    from edgetl.choose.plot import draw

    rows = [{"key": f"c{i}:float32", "id": f"c{i} float32", "candidate": f"c{i}", "backbone": "mobilenet",
             "alpha": 0.25, "input_size": 96 + 32 * i, "precision": "float32", "score": s, "low": s - 0.03,
             "high": h, "p50_ms": 0.2 + 0.2 * i, "size_mb": 0.5} for i, (s, h) in
            enumerate(((0.95, 0.97), (1.0, 0.9999999999999999)))]
    result = {"candidates": rows, "front": [r["key"] for r in rows], "pick": rows[1], "metric": "accuracy",
              "latency_device": "host",
              "config": {"budget_ms": 1.0, "folds": 5, "threads": 1, "max_mb": None, "latency_from": None}}
    draw(result).canvas.draw()
