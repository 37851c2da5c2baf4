"""The one fine-tuning routine of train, prune and QAT: compile with Adam and the loss of the output, then fit.

A single sigmoid unit is a binary classifier (binary cross-entropy on float labels); otherwise
softmax over the classes (sparse categorical cross-entropy on integer labels).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from edgetl import _tf
from edgetl.data.access import is_streamed, split_dataset, split_labels

# Tracing the training step of a model wrapped layer by layer (pruning / fake-quant) costs ~45 s on 2 cores;
# for a few dozen steps, eager execution is faster (measured: 9 steps at 96 px, 17.5 s eager vs 53.6 s traced).
EAGER_MAX_STEPS = 30


def is_binary(model) -> bool:
    return int(model.output_shape[-1]) == 1


def loss_for(model, label_smoothing: float = 0.0):
    """The loss of ``model``'s output; with ``label_smoothing`` > 0 the targets are smoothed towards uniform
    (integer labels are one-hot encoded inside the loss, so the data pipeline stays the same)."""
    if not label_smoothing:
        return "binary_crossentropy" if is_binary(model) else "sparse_categorical_crossentropy"
    keras = _tf.keras()
    if is_binary(model):
        return keras.losses.BinaryCrossentropy(label_smoothing=float(label_smoothing))
    tf, n = _tf.tf(), int(model.output_shape[-1])

    def smoothed_crossentropy(y_true, y_pred):
        y = tf.one_hot(tf.reshape(tf.cast(y_true, tf.int32), [-1]), n)
        return keras.losses.categorical_crossentropy(y, y_pred, label_smoothing=float(label_smoothing))

    return smoothed_crossentropy


def targets(model, labels: np.ndarray) -> np.ndarray:
    """Integer class labels as ``model``'s loss takes them (float 0/1 for a single sigmoid unit)."""
    return np.asarray(labels).astype(np.float32) if is_binary(model) else np.asarray(labels)


def compile_model(model, lr: float, *, steps: Optional[int] = None, label_smoothing: float = 0.0) -> None:
    """Adam at ``lr``, the loss of the output, accuracy; eager when ``steps`` (fit steps) are few enough."""
    keras = _tf.keras()
    eager = steps is not None and steps <= EAGER_MAX_STEPS
    model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss_for(model, label_smoothing), metrics=["accuracy"],
                  **({"run_eagerly": True} if eager else {}))


def fine_tune(model, splits, contract, *, lr: float, epochs: int, batch_size: int, callbacks: Sequence = (),
              seed: int = 42):
    """Compile ``model`` and fit it ``epochs`` times on the training split of ``splits``; returns it.

    In-memory splits are fitted from their uint8 arrays (normalised per ``contract``); streamed ones
    (``data.access``) batch by batch from their files, repeated so every epoch has its full number of
    steps (a pruning schedule counts on it), memory bounded by the batch.
    """
    n = len(split_labels(splits, "train"))
    steps_per_epoch = int(np.ceil(n / batch_size))
    compile_model(model, lr, steps=steps_per_epoch * int(epochs))
    if epochs <= 0 or not n:
        return model
    if is_streamed(splits):
        ds = split_dataset(splits, "train", contract, batch_size, shuffle=True, seed=seed, binary=is_binary(model))
        model.fit(ds.repeat(), steps_per_epoch=steps_per_epoch, epochs=int(epochs), verbose=0,
                  callbacks=list(callbacks))
    else:
        images, labels = splits.train.images, splits.train.labels
        model.fit(contract.normalize(images), targets(model, labels), batch_size=batch_size, epochs=int(epochs),
                  verbose=0, shuffle=True, callbacks=list(callbacks))
    return model
