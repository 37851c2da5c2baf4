"""The one progress adapter: long work reports to a rich-like view (``add_task`` / ``update`` / ``advance``) or to nothing.

``progress`` is anything with rich.progress.Progress's task methods, or None (an API call, a pipe):
stages never test for it themselves. The CLI makes the view (``progress_bar`` in cli/progress.py).
"""
from __future__ import annotations

from typing import Callable, Optional


def steps(progress, title: str = "") -> Optional[Callable[[str, int, int], None]]:
    """A ``(description, done, total)`` callback driving one task of ``progress`` (None without a view).

    The task is made on the first call; ``title`` prefixes every description ("quantize: tflite int8").
    """
    if progress is None:
        return None
    state: dict = {}

    def update(description: str, done: int, total: int) -> None:
        text = f"{title}: {description}" if title else description
        if "task" not in state:
            state["task"] = progress.add_task(text, total=total)
        progress.update(state["task"], description=text, completed=done, total=total)

    return update


def keras_callback(progress, description: str, epochs: int, steps_per_epoch: int):
    """A Keras callback driving one task of ``progress``: a step per batch, loss and val_acc after each epoch."""
    from edgetl import _tf

    keras = _tf.keras()

    class ProgressCallback(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.task = progress.add_task(description, total=epochs * steps_per_epoch) if progress else None

        def on_train_batch_end(self, batch, logs=None):
            if progress:
                progress.advance(self.task)

        def on_epoch_end(self, epoch, logs=None):
            if progress:
                logs = logs or {}
                progress.update(self.task, completed=(epoch + 1) * steps_per_epoch,
                                description=f"{description} {epoch + 1}/{epochs} "
                                            f"loss {logs.get('loss', 0):.3f} val_acc {logs.get('val_accuracy', 0):.3f}")

    return ProgressCallback()
