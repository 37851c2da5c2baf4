"""Selective int8 (`quantize --keep-float`, issue 12 item 2) and the op coverage that motivates it."""
from __future__ import annotations

import numpy as np
import pytest

from edgetl.stages.selective import split_keep_float


def test_keep_float_names_split_into_ops_and_tensors():
    assert split_keep_float(["HARD_SWISH,MEAN", "model/conv_1/Relu6", " "]) == (["HARD_SWISH", "MEAN"],
                                                                                 ["model/conv_1/Relu6"])
    assert split_keep_float(None) == ([], [])


@pytest.mark.slow
def test_int8_hard_swish_falls_back_and_keep_float_puts_it_back_in_xnnpack(tmp_path):
    from edgetl import _tf
    from edgetl.formats.contract import Contract
    from edgetl.formats.tflite import convert_tflite
    from edgetl.measure.ops import tflite_coverage

    keras = _tf.keras()
    _tf.set_seed(0)
    x = inp = keras.Input((32, 32, 3))
    for filters in (8, 16):
        x = keras.layers.Conv2D(filters, 3, padding="same")(x)
        x = x * keras.layers.ReLU(6.0)(x + 3.0) / 6.0  # hard-swish, as keras.applications.MobileNetV3 writes it
    x = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inp, x)
    c = Contract(labels=["a", "b", "c"], height=32, width=32, output_units=3)
    cal = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    convert_tflite(model, c, ["int8"], tmp_path / "plain", calibration=cal)
    convert_tflite(model, c, ["int8"], tmp_path / "keep", calibration=cal, keep_float=["HARD_SWISH"])

    def fallback(path):
        cov = tflite_coverage(path)
        return [n["op"] for n in cov["nodes"] if n["partition"] is None], len(cov["partitions"])

    plain_fb, plain_parts = fallback(tmp_path / "plain" / "model_int8.tflite")
    keep_fb, keep_parts = fallback(tmp_path / "keep" / "model_int8.tflite")
    assert plain_fb.count("HARD_SWISH") == 2 and plain_parts >= 2
    assert "HARD_SWISH" not in keep_fb and keep_parts < plain_parts
