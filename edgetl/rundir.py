"""A run directory: what `edgetl train --out DIR` writes and every later stage reads.

    DIR/model.keras      trained tf_keras model (flat functional; float32 NHWC input, normalised per contract)
    DIR/contract.json    the Keras model's contract (labels, size, mean/std, channel order, ...)
    DIR/labels.txt       one class name per line, in output order
    DIR/history.json     per-epoch metrics of both phases
    DIR/metrics.json     {"test": {accuracy, loss, per_class, confusion_matrix[, auc]}}
    DIR/manifest.json    versions, seed, data options and hash, the command, weights source
    DIR/model_<mode>.tflite + model_<mode>.json, model.onnx, ...   (later stages)
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from edgetl.formats.contract import Contract
from edgetl.errors import EdgetlError
from edgetl.measure.runtime import RUN_CONTRACT_FILE, RUN_MODEL_FILE, load_keras_model

MANIFEST_FILE = "manifest.json"


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_dir() or not (self.path / RUN_CONTRACT_FILE).is_file() or not (self.path / MANIFEST_FILE).is_file():
            raise EdgetlError(f"{self.path} is not an edgetl run directory (no {RUN_CONTRACT_FILE}/{MANIFEST_FILE}); "
                              "pass the --out folder of `edgetl train`")

    @property
    def model_path(self) -> Path:
        return self.path / RUN_MODEL_FILE

    def contract(self) -> Contract:
        return Contract.load(self.path / RUN_CONTRACT_FILE)

    def manifest(self) -> dict:
        return json.loads((self.path / MANIFEST_FILE).read_text(encoding="utf-8"))

    def load_model(self, path: Optional[Path] = None):
        return load_keras_model(path or self.model_path)

    def splits(self, data: Optional[str] = None, limit_per_class: Optional[int] = None):
        """The run's own data, split exactly as in training (same options and seed); ``data`` overrides the source."""
        from edgetl.data.sources import DataOptions, load_splits

        m = self.manifest()
        opts = DataOptions(**m["data"]["options"])
        if data:
            opts.source = data
        if limit_per_class:
            opts.limit_per_class = limit_per_class
        src = opts.source
        if src != "digits" and not src.startswith("tfds:") and not Path(src).is_dir():
            raise EdgetlError(f"this run's data folder {src} is gone; pass --data DIR (the same class folders) to use it")
        c = self.contract()
        splits = load_splits(opts, c.height)
        if splits.class_names != list(c.labels):
            raise EdgetlError(f"--data {src} has classes {splits.class_names} but the run's labels are {c.labels}; "
                              "pass the data the run was trained on")
        return splits
