"""Streaming input: file lists per split, decoded batch by batch with ``tf.data``.

The split is decided from the file list (``layouts.resolve_layout``: every layout, stratified and
seeded), before any image is decoded; the in-memory path decodes the same lists (``materialize``). Pixels come from the one
decoder, ``images.load_image`` (PIL decode + the integer resize the contract records), called
through ``tf.numpy_function``: the streamed pixels are byte-identical to the in-memory ones.
Unreadable files are dropped from the stream and counted in a ``SkipLog``, never a crash mid-epoch.
"""
from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from edgetl.data.images import UnreadableImage, load_image
from edgetl.data.types import DIGITS, SPLIT_NAMES, DataOptions, ImageSet, Splits
from edgetl.errors import EdgetlError

INPUT_PIPELINES = ("auto", "memory", "stream")
# auto: in memory up to this many decoded bytes (uint8 pixels of every split), streamed beyond.
AUTO_MEMORY_BYTES = 1 << 30


@dataclass
class FileSet:
    files: list  # str paths
    labels: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, idx) -> "FileSet":
        idx = np.asarray(idx, dtype=np.int64)
        return FileSet([self.files[i] for i in idx], self.labels[idx])


@dataclass
class FileSplits:
    train: FileSet
    val: FileSet
    test: FileSet
    class_names: list
    source: str
    data_hash: str
    split_from: str = "random"
    skips: "SkipLog" = field(default_factory=lambda: SkipLog())  # unreadable files met while streaming
    layout: Optional[object] = None  # edgetl.data.layouts.Layout: where each split came from, warnings, leakage
    size: int = 0  # the square decode size of every image

    def total(self) -> int:
        return len(self.train) + len(self.val) + len(self.test)

    @property
    def skipped(self) -> list:
        return self.skips.items()

    def readable(self, name: str) -> FileSet:
        """Split ``name`` without the files already found unreadable (same order)."""
        s = getattr(self, name)
        keep = [i for i, f in enumerate(s.files) if f not in self.skips]
        return s if len(keep) == len(s) else s.take(keep)

    def summary(self) -> dict:
        """The record ``Splits.summary`` gives, counting readable images as the in-memory path does."""
        from edgetl.data.layouts import class_counts, skip_reasons

        sk = self.skipped
        sets = {k: self.readable(k) for k in SPLIT_NAMES}
        return {"source": self.source, "classes": self.class_names, **{k: len(v) for k, v in sets.items()},
                **(self.layout.summary() if self.layout is not None else {}),
                "class_counts": class_counts({k: v.labels for k, v in sets.items()}, self.class_names),
                "skipped": len(sk), "skipped_reasons": skip_reasons(sk),
                "skipped_files": [f"{f}: {r}" for f, r in sk[:20]],
                "split_from": self.split_from, "data_hash": self.data_hash}


def is_listable(source: str) -> bool:
    """Folder sources stream; digits and tfds are small in-memory sets by nature."""
    src = str(source)
    return src != DIGITS and not src.startswith("tfds:")


def choose_pipeline(choice: str, source: str, n_images: int, size: int) -> str:
    """``memory`` or ``stream`` for ``--input-pipeline auto|memory|stream``."""
    if choice not in INPUT_PIPELINES:
        raise EdgetlError(f"--input-pipeline must be one of {', '.join(INPUT_PIPELINES)}, got '{choice}'")
    if not is_listable(source):
        if choice == "stream":
            raise EdgetlError(f"--input-pipeline stream needs a data folder, not '{source}'; use auto or memory")
        return "memory"
    if choice != "auto":
        return choice
    return "memory" if n_images * size * size * 3 <= AUTO_MEMORY_BYTES else "stream"


# ---- listing and splitting ----------------------------------------------------------------------

def list_splits(opts: DataOptions, size: int) -> FileSplits:
    """The train/val/test file lists of a folder source (``layouts.resolve_layout``), before any decoding."""
    from edgetl.data.layouts import resolve_layout

    if not 0 <= opts.val_ratio < 1 or not 0 < opts.test_ratio < 1 or opts.val_ratio + opts.test_ratio >= 0.9:
        raise EdgetlError("split ratios must satisfy 0 <= --val-ratio, 0 < --test-ratio and their sum < 0.9")
    lay = resolve_layout(str(opts.source), getattr(opts, "labels_csv", None), val_ratio=opts.val_ratio,
                         test_ratio=opts.test_ratio, seed=opts.seed, limit_per_class=opts.limit_per_class)
    sets = {name: FileSet([str(f) for f, _ in lay.splits.get(name, [])],
                          np.asarray([c for _, c in lay.splits.get(name, [])], np.int64)) for name in SPLIT_NAMES}
    root = Path(lay.root)
    return FileSplits(sets["train"], sets["val"], sets["test"], list(lay.class_names), str(root),
                      files_hash(sets, lay.class_names, size, root), lay.split_from, layout=lay, size=int(size))


def files_hash(sets: dict, classes, size: int, root: Path) -> str:
    """sha256 over class names, input size, each split's (relative path, label, file bytes): no decoding needed."""
    h = hashlib.sha256()
    h.update(("\n".join(classes) + f"\nsize={size}\nresize=integer-bilinear-v1\n").encode())
    for name in SPLIT_NAMES:
        if name not in sets:
            continue
        h.update(name.encode())
        for f, lab in zip(sets[name].files, sets[name].labels.tolist()):
            try:
                rel = str(Path(f).relative_to(root))
            except ValueError:
                rel = Path(f).name
            h.update(os.fsencode(rel) + f"\0{lab}\0".encode())  # a name that is not UTF-8 hashes as its bytes
            try:
                with open(f, "rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        h.update(chunk)
            except OSError as e:
                h.update(f"unreadable:{e.errno}".encode())
    return h.hexdigest()


# ---- decoding -----------------------------------------------------------------------------------

class SkipLog:
    """Unreadable files met while streaming (thread-safe: tf.data decodes in parallel)."""

    def __init__(self, known: Optional[list] = None):
        self._lock = threading.Lock()
        self._items = dict(known or [])

    def add(self, file: str, reason: str) -> None:
        with self._lock:
            self._items.setdefault(file, reason)

    def items(self) -> list:
        with self._lock:
            return sorted(self._items.items())

    def __contains__(self, file) -> bool:
        with self._lock:
            return file in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


def skip_reason(e: UnreadableImage) -> str:
    """The short reason an unreadable file is recorded with (the decoder's message without the path)."""
    return str(e).split(": ", 1)[-1][:120]


def decode_files(fs: FileSet, size: int, skip: Callable[[str, str], None], advance: Optional[Callable] = None) -> ImageSet:
    """Decode every file of ``fs`` (same order) into uint8 arrays; an unreadable file is left out with its label and
    reported to ``skip(file, reason)``. ``advance()`` is called after each file (progress)."""
    images, labels, files = [], [], []
    for f, c in zip(fs.files, fs.labels.tolist()):
        try:
            images.append(load_image(f, size, size))
            labels.append(c)
            files.append(f)
        except UnreadableImage as e:
            skip(f, skip_reason(e))
        if advance is not None:
            advance()
    arr = np.stack(images) if images else np.zeros((0, size, size, 3), np.uint8)
    return ImageSet(arr, np.asarray(labels, np.int64), files)


def materialize(fs: FileSplits, size: int, progress=None) -> Splits:
    """The in-memory path: decode every split of ``fs`` into uint8 arrays (same files, same order as streaming)."""
    sets, skipped = {}, []
    for name in SPLIT_NAMES:
        s = getattr(fs, name)
        task = progress.add_task(f"decoding {name}", total=len(s)) if progress and len(s) else None
        sets[name] = decode_files(s, size, lambda f, why: skipped.append((f, why)),
                                  (lambda: progress.advance(task)) if task is not None else None)
    _check_classes_readable(sets["train"].labels, fs.class_names, fs.source)
    return Splits(sets["train"], sets["val"], sets["test"], fs.class_names, fs.source, fs.data_hash, skipped,
                  fs.split_from, layout=fs.layout)


def _check_classes_readable(labels: np.ndarray, classes: list, source: str) -> None:
    present = set(np.asarray(labels).tolist())
    for ci, name in enumerate(classes):
        if ci not in present:
            raise EdgetlError(f"class '{name}' of {source} has no readable training image; "
                              "replace its corrupt files or remove the folder")


def _decoder(size: int, skips: SkipLog):
    def decode(path):
        p = os.fsdecode(path) if isinstance(path, bytes) else str(path)
        try:
            return load_image(p, size, size), np.bool_(True)
        except UnreadableImage as e:
            skips.add(p, skip_reason(e))
            return np.zeros((size, size, 3), np.uint8), np.bool_(False)

    return decode


def pixel_dataset(fs: FileSet, size: int, skips: SkipLog, *, shuffle: bool = False, seed: int = 0, binary: bool = False):
    """Unbatched (uint8 HxWx3, label) from files; unreadable files are skipped and logged in ``skips``."""
    tf = _tf_mod()
    y = fs.labels.astype(np.float32)[:, None] if binary else fs.labels
    # bytes, not str: a file name that is not UTF-8 (surrogate-escaped in Python) reaches the decoder intact
    ds = tf.data.Dataset.from_tensor_slices((np.array([os.fsencode(f) for f in fs.files], dtype=bytes), y))
    if shuffle and len(fs):
        ds = ds.shuffle(len(fs), seed=seed, reshuffle_each_iteration=True)
    decode = _decoder(size, skips)

    def read(path, lab):
        img, ok = tf.numpy_function(decode, [path], [tf.uint8, tf.bool], stateful=False)
        img.set_shape([size, size, 3])
        ok.set_shape([])
        return img, ok, lab

    ds = ds.map(read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.filter(lambda img, ok, lab: ok).map(lambda img, ok, lab: (img, lab))


def batch_prep(contract, augment: bool = False, seed: int = 0):
    """(uint8 batch, label) -> (normalised float batch, label), optional augmentation: both pipelines use it."""
    tf = _tf_mod()
    mean = tf.constant(contract.mean, tf.float32)
    std = tf.constant(contract.std, tf.float32)
    bgr = contract.channel_order == "BGR"
    aug = _augmenter(seed) if augment else None

    def prep(x, lab):
        x = tf.cast(x, tf.float32)
        if aug is not None:
            x = tf.clip_by_value(aug(x, training=True), 0.0, 255.0)
        if bgr:
            x = x[..., ::-1]
        return (x - mean) / std, lab

    return prep


def stream_dataset(fs: FileSet, contract, batch_size: int, skips: SkipLog, *, shuffle=False, augment=False, seed=0,
                   binary=False, drop_remainder=False):
    """Files -> decoded, resized, batched, normalised, prefetched: memory bounded by batch and buffers."""
    tf = _tf_mod()
    ds = pixel_dataset(fs, contract.height, skips, shuffle=shuffle, seed=seed, binary=binary)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    return ds.map(batch_prep(contract, augment, seed), num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def predict_stream(model_fn, fs: FileSet, contract, batch_size: int, skips: SkipLog):
    """(probabilities, labels) of the readable files of ``fs``, batch by batch, through ``model_fn(x)``."""
    probs, labels = [], []
    ds = pixel_dataset(fs, contract.height, skips).batch(batch_size).prefetch(2)
    for x, y in ds.as_numpy_iterator():
        probs.append(model_fn(x))
        labels.append(y)
    if not probs:
        return np.zeros((0, len(contract.labels)), np.float32), np.zeros((0,), np.int64)
    return np.concatenate(probs), np.concatenate(labels).astype(np.int64)


def _augmenter(seed: int):
    from edgetl import _tf

    keras = _tf.keras()
    return keras.Sequential([
        keras.layers.RandomFlip("horizontal", seed=seed),
        keras.layers.RandomRotation(0.1, seed=seed),
        keras.layers.RandomZoom(0.1, seed=seed),
        keras.layers.RandomContrast(0.1, seed=seed),
    ], name="augment")


def _tf_mod():
    from edgetl import _tf

    return _tf.tf()
