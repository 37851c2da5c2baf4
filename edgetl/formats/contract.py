"""The input/output contract of a model artifact: what an app must feed it and how to read its output.

One JSON document, the same for every artifact and every consumer (runtime layer, parity gate,
benchmark, Android app). Pixels are uint8 RGB, the whole image stretched with ``edgetl.data.images.resize_rgb`` (MediaPipe's
sampling, ``input.resize``); then

    x = (pixel[channel_order] - mean) / std                      # float input
    q = clip(round(x / input.scale + input.zero_point))           # quantized input (uint8/int8)
    p = (q_out - output.zero_point) * output.scale                # quantized output
    probabilities = p            if output.activation == "none"   (the model applies softmax/sigmoid)
                    softmax(p)   if "softmax";   sigmoid(p) if "sigmoid"

A single output unit is binary: it is the probability of ``labels[1]``.

A binary model may carry a decision (``decision`` in the JSON): ``positive_label`` and a
``threshold`` chosen at training time (``edgetl train --target-recall``). An image is that
class when its probability is >= threshold; without a decision the top-scoring class wins.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from edgetl.data.images import RESIZE_METHOD
from edgetl.errors import RETRAIN_FIX, EdgetlError

CONTRACT_FORMAT = "edgetl-contract/1"
_DTYPE_RANGES = {"uint8": (0, 255), "int8": (-128, 127)}


@dataclass
class TensorSpec:
    dtype: str = "float32"
    scale: Optional[float] = None
    zero_point: Optional[int] = None

    @property
    def quantized(self) -> bool:
        return self.dtype in _DTYPE_RANGES


@dataclass
class Contract:
    labels: list
    height: int
    width: int
    mean: list = field(default_factory=lambda: [127.5, 127.5, 127.5])
    std: list = field(default_factory=lambda: [127.5, 127.5, 127.5])
    channel_order: str = "RGB"
    input: TensorSpec = field(default_factory=TensorSpec)
    output: TensorSpec = field(default_factory=TensorSpec)
    output_units: int = 0
    activation: str = "none"  # what the consumer applies to the (dequantized) output: none|softmax|sigmoid
    backbone: Optional[str] = None
    alpha: Optional[float] = None
    weights_source: Optional[str] = None
    artifact: Optional[str] = None  # e.g. "keras", "tflite:int8", "onnx:float32"
    positive_label: Optional[str] = None  # binary decision: this class when its probability >= threshold
    threshold: Optional[float] = None
    source_model: Optional[dict] = None  # {"file", "sha256"} of the Keras model this artifact came from (RunDir)
    kept_float: Optional[dict] = None  # int8: {"keep_float": ops/tensors left in float, "reasons": why} (selective)

    # ---- serialisation -------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "format": CONTRACT_FORMAT,
            "artifact": self.artifact,
            "labels": list(self.labels),
            "input": {
                "height": self.height,
                "width": self.width,
                "channels": 3,
                "layout": "NHWC",
                "channel_order": self.channel_order,
                "value_range": [0, 255],
                "resize": RESIZE_METHOD,
                "mean": [float(m) for m in self.mean],
                "std": [float(s) for s in self.std],
                **_tensor_dict(self.input),
            },
            "output": {
                "units": self.output_units or len(self.labels),
                "activation": self.activation,
                **_tensor_dict(self.output),
            },
            "backbone": self.backbone,
            "alpha": self.alpha,
            "weights_source": self.weights_source,
            **({"decision": {"positive_label": self.positive_label, "threshold": float(self.threshold)}}
               if self.threshold is not None else {}),
            **({"source_model": dict(self.source_model)} if self.source_model else {}),
            **({"kept_float": dict(self.kept_float)} if self.kept_float is not None else {}),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, d: dict) -> "Contract":
        try:
            return cls._parse(d)
        except _Shape as e:
            raise EdgetlError(f"not an edgetl contract ({e}); re-export the artifact with edgetl") from e

    @classmethod
    def _parse(cls, d) -> "Contract":
        """The contract in ``d``, every field checked for type and range; ``_Shape`` says what is wrong."""
        if not isinstance(d, dict):
            raise _Shape(f"a JSON {type(d).__name__}, not an object")
        if d.get("format") != CONTRACT_FORMAT:
            raise _Shape(f"format is {d.get('format')!r}, not {CONTRACT_FORMAT!r}")
        i, o = d.get("input"), d.get("output")
        if not isinstance(i, dict) or not isinstance(o, dict):
            raise _Shape("'input' and 'output' must be objects")
        labels = d.get("labels")
        if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
            raise _Shape("'labels' must be a non-empty list of class names")
        decision = d.get("decision") or {}
        if not isinstance(decision, dict):
            raise _Shape("'decision' must be an object")
        try:
            c = cls(
                labels=list(labels),
                height=_positive_int(i["height"], "input.height"),
                width=_positive_int(i["width"], "input.width"),
                mean=_floats3(i["mean"], "input.mean"),
                std=_floats3(i["std"], "input.std", nonzero=True),
                channel_order=i.get("channel_order", "RGB"),
                input=_tensor(i, "input"),
                output=_tensor(o, "output"),
                output_units=_positive_int(o.get("units", len(labels)), "output.units"),
                activation=o.get("activation", "none"),
                backbone=d.get("backbone"),
                alpha=d.get("alpha"),
                weights_source=d.get("weights_source"),
                artifact=d.get("artifact"),
                positive_label=decision.get("positive_label"),
                threshold=decision.get("threshold"),
                source_model=d.get("source_model") if isinstance(d.get("source_model"), dict) else None,
                kept_float=d.get("kept_float") if isinstance(d.get("kept_float"), dict) else None,
            )
        except KeyError as e:
            raise _Shape(f"missing field {e}") from e
        if c.channel_order not in ("RGB", "BGR"):
            raise _Shape(f"input.channel_order is {c.channel_order!r}, not RGB or BGR")
        if c.activation not in ("none", "softmax", "sigmoid"):
            raise _Shape(f"output.activation is {c.activation!r}, not none, softmax or sigmoid")
        if c.threshold is not None and (isinstance(c.threshold, bool) or not isinstance(c.threshold, (int, float))):
            raise _Shape("decision.threshold must be a number")
        return c

    @classmethod
    def from_json(cls, text: str) -> "Contract":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise EdgetlError(f"contract is not valid JSON ({e}); re-export the artifact with edgetl") from e

    @classmethod
    def load(cls, path: str | Path) -> "Contract":
        """A contract file: a run's ``contract.json`` or an artifact's sidecar. Unreadable, not JSON or the wrong
        shape: one ``damaged`` line naming the file (fix: retrain for a run's contract, else re-export)."""
        from edgetl.fsutil import read_checked_json

        path = Path(path)
        if not path.is_file():
            raise EdgetlError(f"contract file {path} not found; re-export the artifact with edgetl")
        fix = RETRAIN_FIX if path.name == "contract.json" else "re-export the artifact with edgetl or restore it"
        parsed = {}

        def shape(doc):
            try:
                parsed["c"] = cls._parse(doc)
            except _Shape as e:
                return f"not an edgetl contract: {e}"
            return None

        read_checked_json(path, shape, fix)
        return parsed["c"]

    def replace(self, **changes) -> "Contract":
        return dataclasses.replace(self, **changes)

    # ---- the arithmetic every consumer shares ------------------------------------------
    def normalize(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 NHWC RGB pixels (already resized) -> float32 model input."""
        x = np.asarray(pixels, dtype=np.float32)
        if self.channel_order == "BGR":
            x = x[..., ::-1]
        return (x - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)

    def to_input(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 NHWC RGB pixels -> the exact tensor the artifact's input takes."""
        x = self.normalize(pixels)
        if not self.input.quantized:
            return x.astype(np.float32)
        lo, hi = _DTYPE_RANGES[self.input.dtype]
        q = np.round(x / np.float32(self.input.scale) + np.float32(self.input.zero_point))
        return np.clip(q, lo, hi).astype(self.input.dtype)

    def to_probabilities(self, raw: np.ndarray) -> np.ndarray:
        """The artifact's output tensor (N, units) -> class probabilities (N, len(labels))."""
        y = np.asarray(raw)
        if self.output.quantized:
            y = (y.astype(np.float32) - np.float32(self.output.zero_point)) * np.float32(self.output.scale)
        y = y.astype(np.float32).reshape(y.shape[0], -1)
        if self.activation == "softmax":
            e = np.exp(y - y.max(axis=1, keepdims=True))
            y = e / e.sum(axis=1, keepdims=True)
        elif self.activation == "sigmoid":
            y = 1.0 / (1.0 + np.exp(-y))
        if y.shape[1] == 1:
            y = np.concatenate([1.0 - y, y], axis=1)
        return y

    def decide(self, probs: np.ndarray) -> np.ndarray:
        """Class index per row of ``probs`` (N, len(labels)): the decision's threshold if any, else the top class."""
        from edgetl.metrics import decide

        return decide(probs, self.positive_index(), self.threshold)

    def positive_index(self) -> Optional[int]:
        if self.positive_label is None:
            return None
        if self.positive_label not in self.labels:
            raise EdgetlError(f"contract's positive label '{self.positive_label}' is not one of its labels {self.labels}; "
                              "re-export the artifact with edgetl")
        return list(self.labels).index(self.positive_label)

    def check_labels(self) -> None:
        units = self.output_units or len(self.labels)
        expected = 2 if units == 1 else units
        if expected != len(self.labels):
            raise EdgetlError(
                f"contract has {len(self.labels)} labels but the model outputs {units} unit(s); "
                "the labels file does not belong to this model"
            )


class _Shape(ValueError):
    """What is wrong with a contract document."""


def _positive_int(v, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise _Shape(f"{name} is {v!r}, not a positive integer")
    return v


def _floats3(v, name: str, nonzero: bool = False) -> list:
    if (not isinstance(v, list) or len(v) != 3
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)):
        raise _Shape(f"{name} is {v!r}, not three numbers")
    if nonzero and any(x == 0 for x in v):
        raise _Shape(f"{name} holds a zero")
    return [float(x) for x in v]


def _tensor(d: dict, name: str) -> TensorSpec:
    dtype = d["dtype"]
    if not isinstance(dtype, str):
        raise _Shape(f"{name}.dtype is {dtype!r}, not a type name such as float32 or int8")
    t = TensorSpec(dtype, d.get("scale"), d.get("zero_point"))
    if t.quantized:
        if isinstance(t.scale, bool) or not isinstance(t.scale, (int, float)) or not t.scale > 0:
            raise _Shape(f"{name}.scale is {t.scale!r}, not a positive number")
        if isinstance(t.zero_point, bool) or not isinstance(t.zero_point, int):
            raise _Shape(f"{name}.zero_point is {t.zero_point!r}, not an integer")
    return t


def _tensor_dict(t: TensorSpec) -> dict:
    d = {"dtype": t.dtype}
    if t.quantized:
        d["scale"] = float(t.scale)
        d["zero_point"] = int(t.zero_point)
    return d


def read_labels(path: str | Path) -> list:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return [ln.strip() for ln in lines]
