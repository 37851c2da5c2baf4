"""The frozen base's pooled features of the train and validation splits, computed once (from/to the feature cache)."""
from __future__ import annotations

import numpy as np

from edgetl import _tf
from edgetl.data.access import is_streamed, split_dataset
from edgetl.formats.contract import Contract
from edgetl.training.model import TransferModel


def pooled_features(tm: TransferModel, splits, contract: Contract, batch_size: int, cache=None, progress=None):
    """({"train": (features, labels), "val": ...}, reused?) of the frozen base + pooling; from/to ``cache`` if given."""
    tf, keras = _tf.tf(), _tf.keras()
    feat_model = keras.Model(tm.base.input, tm.head_layers[0](tm.base.output))
    spec = tf.TensorSpec([None, contract.height, contract.width, 3], tf.float32)
    fn = tf.function(lambda x: feat_model(x, training=False), input_signature=[spec])

    def batches(name):
        n = len(getattr(splits, name))
        task = progress.add_task(f"frozen-base features ({name})", total=int(np.ceil(n / batch_size))) if progress and n else None
        for x, y in split_dataset(splits, name, contract, batch_size):
            yield fn(x).numpy(), y.numpy()
            if task is not None:
                progress.advance(task)

    if cache is not None:
        hit = cache.load()
        reused = hit is not None
        if not reused:
            hit = cache.write({"train": batches("train"), "val": batches("val")}, lambda: splits.skipped)
        if is_streamed(splits):
            for f, why in hit["skipped"]:
                splits.skips.add(f, why)
        return {n: hit[n] for n in ("train", "val")}, reused
    out = {}
    for name in ("train", "val"):
        parts = list(batches(name))
        dim = int(feat_model.output.shape[-1])
        out[name] = ((np.concatenate([f for f, _ in parts]), np.concatenate([y for _, y in parts])) if parts
                     else (np.zeros((0, dim), np.float32), np.zeros((0,), np.int64)))
    return out, False
