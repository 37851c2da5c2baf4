"""A tiny run directory for the Android export/parity tests, converted by edgetl's own quantize API.

The Keras model is a small conv net (seconds to convert, not minutes), untrained: parity is about
arithmetic, not accuracy. Its contract is deliberately awkward so the Java twin is exercised where it
can go wrong: non-square input (64 x 80), BGR channel order, per-channel mean/std, logits out with
softmax applied by the consumer. Artifacts: float32 (float I/O) and int8 (uint8 I/O, calibrated on
real flower photos).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgetl.formats.contract import Contract
from edgetl.data.images import load_image

HEIGHT, WIDTH = 64, 80
MEAN = [103.939, 116.779, 123.68]
STD = [58.395, 57.12, 57.375]


def flower_files(flowers: Path, per_class: int) -> list:
    files = []
    for cdir in sorted(p for p in flowers.iterdir() if p.is_dir()):
        files += sorted(cdir.glob("*.jpg"))[:per_class]
    return files


def build_tiny_run(out: Path, flowers: Path) -> Path:
    from edgetl import _tf
    from edgetl.formats.tflite import convert_tflite

    keras = _tf.keras()
    _tf.set_seed(7)
    labels = sorted(p.name for p in flowers.iterdir() if p.is_dir())
    inp = keras.Input((HEIGHT, WIDTH, 3), name="input")
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inp)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    logits = keras.layers.Dense(len(labels), name="logits",
                                kernel_initializer=keras.initializers.RandomNormal(stddev=2.0, seed=3))(x)
    model = keras.Model(inp, logits)

    contract = Contract(labels=labels, height=HEIGHT, width=WIDTH, mean=MEAN, std=STD, channel_order="BGR",
                        output_units=len(labels), activation="softmax", backbone="tiny_test_cnn", artifact="keras")
    out.mkdir(parents=True, exist_ok=True)
    (out / "contract.json").write_text(contract.to_json(), encoding="utf-8")
    (out / "labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
    (out / "manifest.json").write_text(json.dumps({"note": "tiny run made by tests/android_models.py"}), encoding="utf-8")
    calibration = np.stack([load_image(f, HEIGHT, WIDTH) for f in flower_files(flowers, 6)])
    convert_tflite(model, contract, ["float32", "int8"], out, calibration=calibration, io="uint8")
    return out
