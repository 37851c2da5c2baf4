"""Data layouts, refusals, images as they come, binary decisions: fast tests on tiny generated images."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgetl.data import images as imgmod
from edgetl.data.layouts import find_leakage, resolve_layout
from edgetl.data.sources import DataOptions, check_source, load_splits
from edgetl.errors import EdgetlError
from edgetl.formats.contract import Contract
from edgetl.metrics import classification_metrics, decide, threshold_for_recall


def img(path: Path, seed: int, size=(24, 20), fmt=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format=fmt)
    return path


def class_tree(root: Path, classes=("a", "b"), n=5, seed=0, ext="png") -> Path:
    for ci, c in enumerate(classes):
        for k in range(n):
            img(root / c / f"{c}{k}.{ext}", seed * 1000 + ci * 100 + k)
    return root


# ---- split folders ----------------------------------------------------------------------------

def test_train_val_only_carves_early_stopping_from_train_and_tests_on_val(tmp_path):
    class_tree(tmp_path / "train", ("ants", "bees"), n=10, seed=1)
    class_tree(tmp_path / "VAL", ("ants", "bees"), n=4, seed=2)
    lay = resolve_layout(tmp_path)
    assert lay.kind == "split-folders" and lay.class_names == ["ants", "bees"]
    assert lay.counts() == {"train": 16, "val": 4, "test": 8}
    assert lay.test_from == "VAL/ folder" and "train/" in lay.val_from
    assert all("/VAL/" in f for f, _ in lay.splits["test"])
    assert not {f for f, _ in lay.splits["train"]} & {f for f, _ in lay.splits["val"]}


@pytest.mark.parametrize("val_name", ["val", "valid", "Validation"])
def test_train_val_test_used_as_given(tmp_path, val_name):
    for split, n, seed in (("Train", 6, 1), (val_name, 2, 2), ("test", 3, 3)):
        class_tree(tmp_path / split, n=n, seed=seed)
    lay = resolve_layout(tmp_path)
    assert lay.counts() == {"train": 12, "val": 4, "test": 6}
    assert lay.test_from == "test/ folder" and lay.val_from == f"{val_name}/ folder"


def test_train_test_carves_val(tmp_path):
    class_tree(tmp_path / "train", n=10, seed=1)
    class_tree(tmp_path / "test", n=3, seed=2)
    lay = resolve_layout(tmp_path, val_ratio=0.2)
    assert lay.counts() == {"train": 16, "val": 4, "test": 6} and lay.test_from == "test/ folder"


@pytest.mark.parametrize("case, needle", [
    ("train_only", "only train/"),
    ("mixed", "look like split names"),
    ("val_test_no_train", "only"),
    ("differing", "lacks ['b']"),
    ("extra", "has extra ['c']"),
    ("split_named_class", "named like splits"),
    ("two_vals", "both"),
])
def test_ambiguous_layouts_are_refused(tmp_path, case, needle):
    if case == "train_only":
        class_tree(tmp_path / "train")
    elif case == "mixed":
        class_tree(tmp_path / "train")
        class_tree(tmp_path / "cats" / "x", ("y",), n=1)
    elif case == "val_test_no_train":
        class_tree(tmp_path / "val")
        class_tree(tmp_path / "test")
    elif case == "differing":
        class_tree(tmp_path / "train")
        class_tree(tmp_path / "val", ("a", "c"))
    elif case == "extra":
        class_tree(tmp_path / "train")
        class_tree(tmp_path / "val", ("a", "b", "c"))
    elif case == "split_named_class":
        class_tree(tmp_path / "train", ("a", "test"))
        class_tree(tmp_path / "val", ("a", "test"))
    elif case == "two_vals":
        for s in ("train", "val", "valid"):
            class_tree(tmp_path / s)
    with pytest.raises(EdgetlError) as e:
        check_source(str(tmp_path))
    assert needle in str(e.value) and "\n" not in str(e.value)


# ---- class folders ----------------------------------------------------------------------------

def test_class_folders_split_by_seed_on_file_lists(tmp_path):
    class_tree(tmp_path, ("a", "b", "c"), n=20)
    a = resolve_layout(tmp_path, seed=1)
    assert a.kind == "class-folders" and a.counts() == {"train": 42, "val": 9, "test": 9}
    assert a.splits == resolve_layout(tmp_path, seed=1).splits != resolve_layout(tmp_path, seed=2).splits
    assert "random 15%" in a.test_from
    limited = resolve_layout(tmp_path, limit_per_class=5)
    assert sum(limited.counts().values()) == 15


def test_class_level_symlink_loop_is_not_a_class(tmp_path):
    class_tree(tmp_path, n=4)
    os.symlink(".", tmp_path / "loopclass")
    os.symlink("..", tmp_path / "a" / "up")  # a loop below a class too
    os.symlink(str(tmp_path / "b"), tmp_path / "a" / "b_again")  # a class read twice
    lay = resolve_layout(tmp_path)
    assert lay.class_names == ["a", "b"] and sum(lay.counts().values()) == 8
    assert len(lay.ignored) == 3 and any("folder link" in w for w in lay.warnings)


def test_folder_link_out_of_the_root_is_followed(tmp_path):
    class_tree(tmp_path / "elsewhere", ("b",), n=4, seed=7)
    class_tree(tmp_path / "data", ("a",), n=4)
    os.symlink(tmp_path / "elsewhere" / "b", tmp_path / "data" / "b")
    assert resolve_layout(tmp_path / "data").counts() == {"train": 4, "val": 2, "test": 2}


def test_leakage_same_bytes_in_two_splits_is_counted(tmp_path):
    class_tree(tmp_path / "train", n=6, seed=1)
    class_tree(tmp_path / "test", n=3, seed=2)
    for k in range(2):  # two training images copied into test
        (tmp_path / "test" / "a" / f"copy{k}.png").write_bytes((tmp_path / "train" / "a" / f"a{k}.png").read_bytes())
    lay = resolve_layout(tmp_path)
    assert lay.leakage["count"] == 2 and any("more than one split" in w for w in lay.warnings)
    assert find_leakage({"train": lay.splits["train"]})["count"] == 0


# ---- labels CSV -------------------------------------------------------------------------------

def csv_set(tmp_path, n=6, header="id,breed", with_ext=False):
    d = tmp_path / "imgs"
    rows = [header]
    for k in range(n):
        img(d / f"img{k:02d}.jpg", k, fmt="JPEG")
        rows.append(f"img{k:02d}{'.jpg' if with_ext else ''},{'pug' if k % 2 else 'collie'}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    return d, tmp_path / "labels.csv"


@pytest.mark.parametrize("header, with_ext", [("id,breed", False), ("file,label", True), ("photo,kind", True)])
def test_labels_csv_layout(tmp_path, header, with_ext):
    d, csv_file = csv_set(tmp_path, header=header, with_ext=with_ext)
    img(d / "unlabelled.png", 99)
    lay = resolve_layout(d, csv_file)
    assert lay.kind == "labels-csv" and lay.class_names == ["collie", "pug"]
    assert sum(lay.counts().values()) == 6 and len(lay.ignored) == 1 and "not in labels.csv" in lay.warnings[0]


@pytest.mark.parametrize("content, needle", [
    ("name,x,y\nimg00,a,b\n", "no id/file column"),
    ("id,z,y\nimg00,a,b\n", "no label column"),
    ("id,label\nimg00,\nimg01,b\n", "empty label"),
    ("id,label\nimg00,a\nnope,b\n", "have no image"),
    ("id,label\nimg00.png,a\nimg01,b\n", "have no image"),
    ("id,label\nimg00,a\nimg00,b\n", "twice"),
    ("id,label\nimg00,a\nimg01,a\n", "single label"),
    ("id,label\n", "no data rows"),
])
def test_bad_labels_csv_is_refused(tmp_path, content, needle):
    d, _ = csv_set(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    with pytest.raises(EdgetlError) as e:
        check_source(str(d), str(bad))
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_labels_csv_needs_a_folder(tmp_path):
    with pytest.raises(EdgetlError, match="needs --data DIR"):
        check_source("digits", str(tmp_path / "x.csv"))
    with pytest.raises(EdgetlError, match="not found"):
        check_source(str(csv_set(tmp_path)[0]), str(tmp_path / "missing.csv"))


def test_load_splits_records_layout_counts_and_skips(tmp_path):
    d, csv_file = csv_set(tmp_path, n=12)
    s = load_splits(DataOptions(str(d), labels_csv=str(csv_file)), 16)
    summary = s.summary()
    assert summary["layout"] == "labels-csv" and "random 15%" in summary["test_from"]
    assert sum(sum(c.values()) for c in summary["class_counts"].values()) == 12
    assert summary["class_counts"]["test"] == {"collie": 1, "pug": 1}


# ---- images as they come ------------------------------------------------------------------------

def test_tiny_and_huge_images_are_skipped_with_their_reason(tmp_path, monkeypatch):
    class_tree(tmp_path, n=4)
    img(tmp_path / "a" / "pixel.png", 1, size=(1, 1))
    img(tmp_path / "b" / "big.png", 2, size=(400, 300))
    img(tmp_path / "b" / "big.jpg", 3, size=(400, 300), fmt="JPEG")  # decoded at 1/4 scale: allowed
    (tmp_path / "a" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    monkeypatch.setattr(imgmod, "MAX_DECODE_PIXELS", 100 * 100)
    s = load_splits(DataOptions(str(tmp_path)), 16)
    reasons = {Path(f).name: r.split(" ")[0] + " " + r.split(" ")[1] for f, r in s.skipped}
    assert reasons == {"pixel.png": "too small", "big.png": "too large", "broken.jpg": "UnidentifiedImageError: cannot"}
    assert s.summary()["skipped_reasons"] == {"too small": 1, "too large": 1, "unreadable": 1}
    assert any(f.endswith("big.jpg") for f in s.train.files + s.val.files + s.test.files)


def test_jpeg_is_decoded_with_a_size_hint(tmp_path):
    f = img(tmp_path / "x.jpg", 0, size=(1600, 1200), fmt="JPEG")
    assert imgmod.decode_rgb(f).shape == (1200, 1600, 3)
    assert imgmod.decode_rgb(f, (96, 96)).shape == (300, 400, 3)  # 1/4: still >= twice the hint
    assert imgmod.load_image(f, 96, 96).shape == (96, 96, 3)


def test_decompression_bomb_is_too_large_not_unreadable(tmp_path, monkeypatch):
    f = img(tmp_path / "x.png", 0, size=(64, 64))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # PIL refuses > 2x this outright
    with pytest.raises(imgmod.ImageTooLarge, match="too large"):
        imgmod.decode_rgb(f)


# ---- binary decisions ----------------------------------------------------------------------------

def test_decision_threshold_and_target_recall():
    probs = np.array([[0.9, 0.1], [0.7, 0.3], [0.6, 0.4], [0.2, 0.8], [0.55, 0.45], [0.1, 0.9]])
    labels = np.array([0, 0, 1, 1, 1, 1])
    assert decide(probs).tolist() == [0, 0, 0, 1, 0, 1]
    assert decide(probs, 1, 0.35).tolist() == [0, 0, 1, 1, 1, 1]
    assert decide(probs, 0, 0.65).tolist() == [0, 0, 1, 1, 1, 1]
    t = threshold_for_recall(probs, labels, 1, 1.0)
    assert t["threshold"] == 0.4 and t["val_recall"] == 1.0 and t["val_precision"] == 1.0
    assert threshold_for_recall(probs, labels, 1, 0.5)["threshold"] == 0.8
    m = classification_metrics(probs, labels, ["ok", "sick"], 1, 0.4)
    assert m["recall"] == 1.0 and m["accuracy"] == 1.0 and m["positive_class"] == "sick" and m["auc"] == 1.0
    assert m["roc"]["fpr"][0] == 0.0 and m["roc"]["tpr"][-1] == 1.0
    m0 = classification_metrics(probs, labels, ["ok", "sick"], 0, None)
    assert m0["positive_class"] == "ok" and m0["recall"] == 1.0 and m0["precision"] == pytest.approx(2 / 4)
    with pytest.raises(EdgetlError, match="no image of the positive class"):
        threshold_for_recall(probs, np.zeros(6, np.int64), 1, 0.9)


def test_contract_carries_the_decision():
    c = Contract(labels=["NORMAL", "PNEUMONIA"], height=8, width=8, output_units=1)
    assert "decision" not in c.to_dict()
    d = c.replace(positive_label="PNEUMONIA", threshold=0.25)
    back = Contract.from_json(d.to_json())
    assert back.positive_label == "PNEUMONIA" and back.threshold == 0.25 and back.positive_index() == 1
    assert back.decide(np.array([[0.7, 0.3], [0.8, 0.2]])).tolist() == [1, 0]


def test_predict_and_evaluate_refuse_missing_inputs_fast(tmp_path):
    from click.testing import CliRunner

    from edgetl.cli import main

    r = CliRunner().invoke(main, ["predict", str(tmp_path / "none.tflite"), str(tmp_path)])
    assert r.exit_code == 2 and "does not exist" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["evaluate", str(tmp_path / "none.tflite"), "--data", str(tmp_path / "nodata")])
    assert r.exit_code == 2 and "not a folder" in r.output
