"""Fixtures of the benchmark/compare tests: one tiny real model as Keras run dir, TFLite and ONNX.

The model is built and converted once per session (a few seconds): a 96-px conv net with three
labels, written the way edgetl writes artifacts (contract beside the TFLite file, inside the ONNX).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from shared_data import CORAL, CORAL_MNV2, need
# test image -> the ImageNet label Google's MobileNetV2 gives it (shared/README.md); "hotdog" is a synonym
CORAL_IMAGES = {"cat.bmp": "Egyptian cat", "parrot.jpg": "macaw", "grace_hopper.bmp": "military uniform",
                "hot_dog.jpg": "hotdog"}
LABELS = ["ant", "bee", "cat"]
SIZE = 96


def need_coral():
    need(CORAL_MNV2, "Google's Coral model")


def coral_data(dest: Path) -> Path:
    """DIR/<label>/<image>: the Coral test images filed under the labels the model must give them."""
    need_coral()
    for name, label in CORAL_IMAGES.items():
        (dest / label).mkdir(parents=True, exist_ok=True)
        (dest / label / name).symlink_to(CORAL / name)
    return dest


def tiny_contract():
    from edgetl.formats.contract import Contract

    return Contract(labels=list(LABELS), height=SIZE, width=SIZE, output_units=len(LABELS), backbone="tiny",
                    weights_source="random", artifact="keras")


def build_tiny_model():
    from edgetl import _tf

    keras = _tf.keras()
    _tf.set_seed(0)
    L = keras.layers
    inp = keras.Input((SIZE, SIZE, 3), name="input")
    x = L.Conv2D(8, 3, strides=2, activation="relu")(inp)
    x = L.DepthwiseConv2D(3, strides=2, activation="relu")(x)
    x = L.Conv2D(16, 1, activation="relu")(x)
    x = L.GlobalAveragePooling2D()(x)
    out = L.Dense(len(LABELS), activation="softmax")(x)
    return keras.Model(inp, out)


def write_onnx(model, contract, path: Path) -> Path:
    """float32 ONNX with the contract in metadata_props (what edgetl.onnx.export writes)."""
    import onnx
    import tf2onnx

    from edgetl import _tf

    tf = _tf.tf()
    spec = (tf.TensorSpec((1, contract.height, contract.width, 3), tf.float32, name="input"),)
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=17)
    c = contract.replace(artifact="onnx:float32")
    onnx.helper.set_model_props(proto, {"edgetl_contract": c.to_json()})
    onnx.save(proto, str(path))
    return path


@pytest.fixture(scope="session")
def tiny_artifacts(tmp_path_factory):
    """{"dir", "keras", "tflite", "onnx"}: a run-like folder holding model.keras + contract.json, a float32
    TFLite (+ sidecar contract, via edgetl.stages.quantize) and an ONNX file."""
    import numpy as np

    from edgetl.tflite.converter import convert_tflite
    from edgetl.fsutil import write_text

    d = tmp_path_factory.mktemp("tiny_run")
    model = build_tiny_model()
    c = tiny_contract()
    model.save(d / "model.keras")
    write_text(d / "contract.json", c.to_json() + "\n")
    rec = convert_tflite(model, c, ["float32"], d, stem="model",
                         calibration=np.zeros((1, SIZE, SIZE, 3), np.uint8))
    onnx_path = write_onnx(model, c, d / "model.onnx")
    return {"dir": d, "keras": d / "model.keras", "tflite": Path(rec["float32"]["artifact"]), "onnx": onnx_path}
