"""One split's pixels, whichever pipeline holds them: decoded in memory (``Splits``) or as file lists
(``FileSplits``, decoded batch by batch).

Every consumer after training (calibration, the parity gate, test accuracy, QAT, pruning, compare)
reads a run's data through these functions, so a run that streamed in training streams there too:
memory stays bounded by the batch and by the samples they ask for (calibration, gate), never by the
data set. ``open_splits`` is the one place that decides the pipeline, for training and for the run
read back later.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from edgetl.data.sources import load_splits
from edgetl.data.stream import (FileSplits, batch_prep, choose_pipeline, decode_files, is_listable, list_splits,
                                materialize, predict_stream, stream_dataset)
from edgetl.data.types import DataOptions


def open_splits(opts: DataOptions, size: int, choice: str = "auto", progress=None):
    """(splits, "memory" | "stream"): folder sources are listed first (the split comes from the file list), then
    decoded whole (``memory``) or left as file lists (``stream``) by ``--input-pipeline`` ``choice``."""
    if is_listable(opts.source):
        files = list_splits(opts, size)
        pipeline = choose_pipeline(choice, opts.source, files.total(), size)
        return (materialize(files, size, progress) if pipeline == "memory" else files), pipeline
    choose_pipeline(choice, opts.source, 0, size)  # refuses "stream" for digits / tfds
    return load_splits(opts, size, progress), "memory"


def is_streamed(splits) -> bool:
    return isinstance(splits, FileSplits)


def split_labels(splits, name: str) -> np.ndarray:
    """The labels of split ``name`` (for file lists: of the files not yet found unreadable)."""
    part = splits.readable(name) if is_streamed(splits) else getattr(splits, name)
    return np.asarray(part.labels)


def split_pixels(splits, name: str, idx) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images, labels) of the items ``idx`` of split ``name`` (indices into ``split_labels``).

    Only those items are decoded; an unreadable file is dropped (with its label) and logged in the
    splits' skip log, as the stream does.
    """
    idx = np.asarray(idx, dtype=np.int64)
    if not is_streamed(splits):
        part = getattr(splits, name)
        return part.images[idx], np.asarray(part.labels)[idx]
    got = decode_files(splits.readable(name).take(idx), splits.size, splits.skips.add)
    return got.images, got.labels


def make_dataset(images, labels, contract, batch_size: int, *, shuffle=False, augment=False, seed=0, binary=False):
    """uint8 pixels -> (normalised float batch, label) with optional augmentation, normalisation per contract."""
    from edgetl import _tf

    tf = _tf.tf()
    y = labels.astype(np.float32)[:, None] if binary else labels
    ds = tf.data.Dataset.from_tensor_slices((images, y))
    if shuffle:
        ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    return ds.map(batch_prep(contract, augment, seed), num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)


def split_dataset(splits, name: str, contract, batch_size: int, **kw):
    """A split as batches, from memory (``Splits``) or streamed from files (``FileSplits``), the same pixels either way."""
    if is_streamed(splits):
        return stream_dataset(splits.readable(name), contract, batch_size, splits.skips, **kw)
    s = getattr(splits, name)
    return make_dataset(s.images, s.labels, contract, batch_size, **kw)


def predict_split(predict: Callable, splits, name: str, contract, batch_size: int = 32):
    """(probabilities, labels) of split ``name`` through ``predict(uint8 batch)`` (a runtime runner's); streamed
    batch by batch for ``FileSplits``."""
    if is_streamed(splits):
        return predict_stream(predict, splits.readable(name), contract, batch_size, splits.skips)
    s = getattr(splits, name)
    return predict(s.images), np.asarray(s.labels)
