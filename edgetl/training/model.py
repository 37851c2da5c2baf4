"""The transfer model: a backbone's base plus a new head (pooling -> dropout -> dense), as one flat Keras model and
as head-only models sharing the head's layers; freezing and compiling it, and its probabilities on a split."""
from __future__ import annotations

from edgetl import _tf
from edgetl.backbones.registry import BackboneSpec, build_base
from edgetl.backbones.weights import ResolvedWeights
from edgetl.data.access import predict_split as predict_split_with
from edgetl.formats.contract import Contract
from edgetl.training.finetune import compile_model


class TransferModel:
    """A flat functional classifier (base layers + head layers) plus a head-only model sharing the head's layers."""

    def __init__(self, spec: BackboneSpec, size: int, alpha, weights: ResolvedWeights, n_classes: int, dropout: float,
                 base=None, label_smoothing: float = 0.0):
        keras = _tf.keras()
        self.spec, self.n_classes, self.label_smoothing = spec, n_classes, label_smoothing
        self.base = base if base is not None else build_base(spec, size, alpha, weights.path)
        self.binary = n_classes == 2
        units, act = (1, "sigmoid") if self.binary else (n_classes, "softmax")
        self.head_layers = [
            keras.layers.GlobalAveragePooling2D(name="head_pool"),
            keras.layers.Dropout(dropout, name="head_dropout"),
            keras.layers.Dense(units, activation=act, name="head_dense"),
        ]
        self.model = keras.Model(self.base.input, self._apply_head(self.base.output), name=f"edgetl_{spec.name}")
        feat_in = keras.Input(self.base.output.shape[1:], name="features")
        self.head = keras.Model(feat_in, self._apply_head(feat_in), name="head")
        # Pooling has no weights: phase 1 trains on pooled features (C floats an image), the rest of the head shared.
        pooled_in = keras.Input((self.base.output.shape[-1],), name="pooled_features")
        x = pooled_in
        for layer in self.head_layers[1:]:
            x = layer(x)
        self.pooled_head = keras.Model(pooled_in, x, name="pooled_head")

    def _apply_head(self, x):
        for layer in self.head_layers:
            x = layer(x)
        return x

    @property
    def base_layers(self):
        return [layer for layer in self.base.layers if not isinstance(layer, _tf.keras().layers.InputLayer)]

    def freeze_base(self, frozen: bool = True) -> None:
        for layer in self.base_layers:
            layer.trainable = not frozen

    def unfreeze_top(self, n: int) -> list:
        """Unfreeze the top ``n`` layers of the base, BatchNorm excepted; return the unfrozen layers' names."""
        bn = _tf.keras().layers.BatchNormalization
        self.freeze_base(True)
        names = []
        for layer in self.base_layers[-n:] if n > 0 else []:
            if not isinstance(layer, bn):
                layer.trainable = True
                names.append(layer.name)
        return names

    def compile(self, model, lr: float) -> None:
        # the fine-tuning set-up shared with prune and QAT (training.finetune)
        compile_model(model, lr, label_smoothing=self.label_smoothing)


def predict_split(model, splits, name: str, contract: Contract, batch_size: int = 32):
    """(probabilities, labels) of split ``name`` through the runtime layer's Keras runner; streamed for file lists."""
    from edgetl.runtime.runners import KerasRunner

    runner = KerasRunner(".", contract, model=model)
    return predict_split_with(lambda x: runner.predict(x, batch_size), splits, name, contract, batch_size)
