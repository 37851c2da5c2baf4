"""A tiny run directory for the Android export/parity tests, converted by edgetl's own quantize API.

The Keras model is a small conv net (seconds to convert, not minutes), untrained: parity is about
arithmetic, not accuracy. Its contract is deliberately awkward so the Java twin is exercised where it
can go wrong: non-square input (64 x 80), BGR channel order, per-channel mean/std, logits out with
softmax applied by the consumer. Artifacts: float32 (float I/O) and int8 (uint8 I/O, calibrated on
real flower photos).

``binary=True``: two flower classes, one logit with sigmoid applied by the consumer, and a decision whose
positive class is the FIRST label (not the default second) at a threshold chosen so that the decision and
the top class disagree on some photos (the median positive probability on the calibration photos).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgetl.data.sources import DataOptions
from edgetl.formats.contract import Contract
from edgetl.rundir import RunDir
from edgetl.data.images import load_image

HEIGHT, WIDTH = 64, 80
MEAN = [103.939, 116.779, 123.68]
STD = [58.395, 57.12, 57.375]


def flower_files(flowers: Path, per_class: int) -> list:
    files = []
    for cdir in sorted(p for p in flowers.iterdir() if p.is_dir()):
        files += sorted(cdir.glob("*.jpg"))[:per_class]
    return files


def build_tiny_run(out: Path, flowers: Path, binary: bool = False) -> Path:
    from edgetl import _tf
    from edgetl.tflite.converter import convert_tflite

    keras = _tf.keras()
    _tf.set_seed(7)
    labels = sorted(p.name for p in flowers.iterdir() if p.is_dir())
    if binary:
        labels = labels[:2]
    units = 1 if binary else len(labels)
    inp = keras.Input((HEIGHT, WIDTH, 3), name="input")
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inp)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    logits = keras.layers.Dense(units, name="logits",
                                kernel_initializer=keras.initializers.RandomNormal(stddev=2.0, seed=3))(x)
    model = keras.Model(inp, logits)

    contract = Contract(labels=labels, height=HEIGHT, width=WIDTH, mean=MEAN, std=STD, channel_order="BGR",
                        output_units=units, activation="sigmoid" if binary else "softmax", backbone="tiny_test_cnn",
                        artifact="keras")
    calibration = np.stack([load_image(f, HEIGHT, WIDTH) for f in flower_files(flowers, 6)])
    if binary:
        probs = contract.to_probabilities(model.predict(contract.normalize(calibration), verbose=0))
        contract = contract.replace(positive_label=labels[0], threshold=round(float(np.median(probs[:, 0])), 4))
    out.mkdir(parents=True, exist_ok=True)
    (out / "contract.json").write_text(contract.to_json(), encoding="utf-8")
    (out / "labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
    # a run RunDir accepts: checked manifest, model.keras, artifacts stamped with its provenance (not stale)
    (out / "manifest.json").write_text(json.dumps({"edgetl_run": 1, "note": "tiny run made by tests/android_models.py",
                                                   "data": {"options": DataOptions(source=str(flowers)).to_dict()}}),
                                       encoding="utf-8")
    model.save(out / "model.keras")
    contract = RunDir(out).contract_for(out / "model.keras")
    convert_tflite(model, contract, ["float32", "int8"], out, calibration=calibration, io="uint8")
    return out
