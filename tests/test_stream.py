"""Issue 13: streaming input, the disk feature cache, and their bad input."""
from __future__ import annotations

import errno
import json

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import make_subset
from edgetl.cli import main
from edgetl.data.feature_cache import FeatureCache, cache_key
from edgetl.data.images import load_image
from edgetl.data.sources import DataOptions, load_splits
from edgetl.data.stream import choose_pipeline, list_splits
from edgetl.errors import EdgetlError
from edgetl.formats.contract import Contract


def _corrupt_subset(tmp_path):
    data = make_subset(tmp_path / "data", classes=["daisy", "roses", "tulips"], per_class=8)
    (data / "roses" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return data


# ---- fast: listing, the size rule, the cache entry ---------------------------------------------------

def test_split_comes_from_the_file_list_and_memory_decodes_the_same_lists(tmp_path, flowers):
    data = _corrupt_subset(tmp_path)
    opts = DataOptions(str(data), seed=5)
    files = list_splits(opts, 32)
    mem = load_splits(opts, 32)
    assert files.total() == 25  # the broken file is listed: nothing was decoded
    for name in ("train", "val", "test"):
        listed = getattr(files, name).files
        assert getattr(mem, name).files == [f for f in listed if not f.endswith("broken.jpg")]
    assert [f for f, _ in mem.skipped] == [str(data / "roses" / "broken.jpg")]
    assert files.data_hash == mem.data_hash
    assert list_splits(DataOptions(str(data), seed=6), 32).data_hash != files.data_hash
    assert list_splits(opts, 64).data_hash != files.data_hash  # the input size is part of the data as seen


def test_pipeline_choice_flag_and_size_rule():
    assert choose_pipeline("auto", "photos/", 1000, 224) == "memory"  # 150 MB of pixels
    assert choose_pipeline("auto", "photos/", 20000, 224) == "stream"  # 3 GB
    assert choose_pipeline("memory", "photos/", 20000, 224) == "memory"
    assert choose_pipeline("auto", "digits", 10 ** 6, 224) == "memory"
    with pytest.raises(EdgetlError, match="needs a data folder"):
        choose_pipeline("stream", "digits", 10, 32)


def _entry(tmp_path, **kw):
    c = Contract(labels=["a", "b"], height=32, width=32)
    args = dict(backbone="mobilenet_v2", alpha=0.35, size=32, weights_path=None, data_hash="d" * 64, contract=c)
    args.update(kw)
    return FeatureCache(tmp_path / "cache", *cache_key(**args))


def test_cache_key_covers_backbone_weights_size_data_and_preprocessing(tmp_path):
    w = tmp_path / "w.h5"
    w.write_bytes(b"weights-1")
    base = _entry(tmp_path, weights_path=str(w)).key
    assert _entry(tmp_path, weights_path=str(w)).key == base
    w2 = tmp_path / "w2.h5"
    w2.write_bytes(b"weights-2")
    others = [_entry(tmp_path, weights_path=str(w2)), _entry(tmp_path, weights_path=str(w), backbone="mobilenet"),
              _entry(tmp_path, weights_path=str(w), alpha=0.5), _entry(tmp_path, weights_path=str(w), size=64),
              _entry(tmp_path, weights_path=str(w), data_hash="e" * 64),
              _entry(tmp_path, weights_path=str(w), contract=Contract(labels=["a", "b"], height=32, width=32,
                                                                      mean=[0, 0, 0], std=[1, 1, 1]))]
    assert len({e.key for e in others} | {base}) == len(others) + 1


def test_cache_entry_round_trip_is_memory_mapped(tmp_path):
    e = _entry(tmp_path)
    e.check_writable()
    feats = np.arange(40, dtype=np.float32).reshape(10, 4)
    got = e.write({"train": iter([(feats[:6], np.arange(6)), (feats[6:], np.arange(6, 10))]), "val": iter([])},
                  lambda: [("x.jpg", "unreadable")])
    assert isinstance(got["train"][0], np.memmap) and np.array_equal(got["train"][0], feats)
    assert got["train"][1].tolist() == list(range(10)) and len(got["val"][0]) == 0
    assert got["skipped"] == [("x.jpg", "unreadable")]
    assert e.load()["train"][0].shape == (10, 4)


def test_full_cache_disk_is_one_clear_error_and_leaves_no_partial_entry(tmp_path):
    e = _entry(tmp_path)
    e.check_writable()

    def batches():
        yield np.zeros((4, 8), np.float32), np.zeros(4)
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(EdgetlError, match="is full .*--cache-dir"):
        e.write({"train": batches()}, lambda: [])
    assert list((tmp_path / "cache" / "features").iterdir()) == []  # no staging folder, no entry


def test_unwritable_cache_dir_exits_2_before_the_run_dir_is_touched(tmp_path, flowers):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    out = tmp_path / "run"
    r = CliRunner().invoke(main, ["train", "--data", str(flowers), "--cache-dir", str(blocker / "cache"),
                                  "--out", str(out)])
    assert r.exit_code == 2
    assert "cannot write the feature cache" in r.output and "--cache-dir" in r.output
    assert "Traceback" not in r.output and not out.exists()


def test_calibration_and_gate_samples_decode_only_the_files_they_take(tmp_path, flowers, monkeypatch):
    """Streamed runs hand calibration and the parity gate the same pixels as in-memory runs, decoding only those."""
    from edgetl.data import access
    from edgetl.data.stream import materialize
    from edgetl.runtime.parity import gate_sample
    from edgetl.rundir import RunDir

    clean = make_subset(tmp_path / "clean", classes=["daisy", "roses", "tulips"], per_class=10)
    files = list_splits(DataOptions(str(clean), seed=3), 32)
    mem = materialize(files, 32)
    from edgetl.data import stream

    decoded = []
    real = stream.load_image  # the one decoder of file lists (stream.decode_files)
    monkeypatch.setattr(stream, "load_image", lambda f, h, w: decoded.append(f) or real(f, h, w))
    cal = RunDir.calibration(files, 5, seed=1)
    assert len(decoded) == 5 and cal.shape == (5, 32, 32, 3)  # five files decoded, not the whole split
    assert np.array_equal(cal, RunDir.calibration(mem, 5, seed=1))
    idx = gate_sample(access.split_labels(files, "val"), 3)
    assert np.array_equal(access.split_pixels(files, "val", idx)[0], access.split_pixels(mem, "val", idx)[0])

    broken = list_splits(DataOptions(str(_corrupt_subset(tmp_path)), seed=5), 32)
    name = next(n for n in ("train", "val", "test") if any(f.endswith("broken.jpg") for f in getattr(broken, n).files))
    labels = access.split_labels(broken, name)
    px, got = access.split_pixels(broken, name, np.arange(len(labels)))
    keep = [i for i, f in enumerate(getattr(broken, name).files) if not f.endswith("broken.jpg")]
    assert len(px) == len(keep) and np.array_equal(got, labels[keep])  # the label leaves with its image
    assert [f for f, _ in broken.skipped] == [str(tmp_path / "data" / "roses" / "broken.jpg")]
    assert len(access.split_labels(broken, name)) == len(keep)  # known now: no longer offered


# ---- slow: the same figures from both pipelines, cache reuse, identical pixels -------------------------

@pytest.mark.slow
def test_streamed_pixels_are_the_decoders_bytes_and_unreadable_files_are_counted(tmp_path, flowers):
    from edgetl.data.stream import pixel_dataset

    fs = list_splits(DataOptions(str(_corrupt_subset(tmp_path))), 48)
    got = list(pixel_dataset(fs.train, 48, fs.skips).as_numpy_iterator())
    readable = [f for f in fs.train.files if not f.endswith("broken.jpg")]
    assert len(got) == len(readable)
    for (px, lab), f, want in zip(got, readable, [lab for f, lab in zip(fs.train.files, fs.train.labels)
                                                  if not f.endswith("broken.jpg")]):
        assert np.array_equal(px, load_image(f, 48, 48)) and lab == want
    assert ("broken.jpg" in fs.skipped[0][0]) == any(f.endswith("broken.jpg") for f in fs.train.files)


@pytest.mark.slow
def test_memory_and_stream_give_the_same_split_and_figures_and_a_second_run_reuses_the_cache(tmp_path, flowers,
                                                                                            weights_dir):
    from edgetl.stages.train import TrainConfig, train

    data = _corrupt_subset(tmp_path)
    common = dict(data=str(data), backbone="mobilenet_v2", alpha=0.35, input_size=64, epochs=3, fine_tune_epochs=1,
                  unfreeze=10, batch_size=8, weights_dir=str(weights_dir), seed=7)
    res = {}
    for name, pipe, cache in (("memory", "memory", "none"), ("stream", "stream", tmp_path / "cache"),
                              ("again", "stream", tmp_path / "cache")):
        res[name] = train(TrainConfig(input_pipeline=pipe, cache_dir=str(cache), out=str(tmp_path / name), **common),
                          log=lambda m: None)
    m, s, again = res["memory"], res["stream"], res["again"]
    assert m["input_pipeline"] == "memory" and s["input_pipeline"] == "stream"
    assert m["data"] == s["data"] == again["data"]  # same split, counts, hash and skipped file
    assert m["data"]["skipped"] == 1 and m["data"]["skipped_files"][0].startswith(str(data / "roses" / "broken.jpg"))
    for k in ("accuracy", "loss"):
        assert s["test"][k] == pytest.approx(m["test"][k], abs=1e-5)
    assert np.array_equal(m["test"]["confusion_matrix"], s["test"]["confusion_matrix"])
    h1, h2 = s["history"]["phase1"], again["history"]["phase1"]
    assert h1["feature_store"] == "disk" and not h1["feature_cache_reused"] and h2["feature_cache_reused"]
    assert h1["feature_cache_dir"] == h2["feature_cache_dir"]
    assert str(tmp_path / "cache") in h1["feature_cache_dir"]
    assert h1["loss"] == pytest.approx(h2["loss"], rel=1e-5)  # the same features
    manifest = json.loads((tmp_path / "stream" / "manifest.json").read_text())
    assert manifest["input_pipeline"] == "stream" and manifest["feature_cache"] == h1["feature_cache_dir"]
    assert not any(p.name.startswith(".staging") for p in (tmp_path / "stream").iterdir())  # nothing half-written

    # After training, a streamed run stays streamed: calibration, the parity gate and test accuracy read files.
    from edgetl.data.access import is_streamed
    from edgetl.rundir import RunDir
    from edgetl.config.stages import PruneConfig, QuantizeConfig
    from edgetl.stages.prune import prune_run
    from edgetl.stages.quantize import quantize_run

    assert is_streamed(RunDir(tmp_path / "stream").splits()) and not is_streamed(RunDir(tmp_path / "memory").splits())
    q = {name: quantize_run(QuantizeConfig(run=str(tmp_path / name), modes=["int8"], max_drop=None))[0] for name in ("memory", "stream")}
    for k in ("agreement", "parity_images", "accuracy", "accuracy_n", "keras_accuracy"):
        assert q["stream"][k] == q["memory"][k], k
    assert q["stream"]["accuracy_n"] == m["data"]["test"]  # the readable test images, streamed
    qat = quantize_run(QuantizeConfig(run=str(tmp_path / "stream"), modes=["qat"], qat_epochs=1,
                                      min_agreement=["qat=0.5"], max_drop=None))[0]
    assert qat.get("artifact") and qat["accuracy_n"] == m["data"]["test"]
    pruned = prune_run(PruneConfig(run=str(tmp_path / "stream"), sparsity=0.5, epochs=1))
    assert pruned["sparsity"] == pytest.approx(0.5, abs=0.02) and pruned["accuracy"] is not None


def test_staging_folders_of_killed_runs_are_removed_by_the_next_write(tmp_path):
    import socket

    e = _entry(tmp_path)
    e.check_writable()
    base = tmp_path / "cache" / "features"
    dead = base / f".tmp-{e.key}-{socket.gethostname()}-999999999-abcd1234"  # no such process
    dead.mkdir()
    e.write({"train": iter([(np.ones((2, 3), np.float32), np.arange(2))])}, lambda: [])
    assert not dead.exists() and [p.name for p in base.iterdir()] == [e.key]
