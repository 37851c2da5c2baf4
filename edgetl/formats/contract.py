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
from edgetl.errors import EdgetlError

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
            if d.get("format") != CONTRACT_FORMAT:
                raise KeyError("format")
            i, o = d["input"], d["output"]
            return cls(
                labels=list(d["labels"]),
                height=int(i["height"]),
                width=int(i["width"]),
                mean=[float(x) for x in i["mean"]],
                std=[float(x) for x in i["std"]],
                channel_order=i.get("channel_order", "RGB"),
                input=TensorSpec(i["dtype"], i.get("scale"), i.get("zero_point")),
                output=TensorSpec(o["dtype"], o.get("scale"), o.get("zero_point")),
                output_units=int(o.get("units", len(d["labels"]))),
                activation=o.get("activation", "none"),
                backbone=d.get("backbone"),
                alpha=d.get("alpha"),
                weights_source=d.get("weights_source"),
                artifact=d.get("artifact"),
                positive_label=(d.get("decision") or {}).get("positive_label"),
                threshold=(d.get("decision") or {}).get("threshold"),
                source_model=d.get("source_model") if isinstance(d.get("source_model"), dict) else None,
                kept_float=d.get("kept_float") if isinstance(d.get("kept_float"), dict) else None,
            )
        except (KeyError, TypeError, ValueError) as e:
            raise EdgetlError(f"not an edgetl contract (missing or bad field {e}); re-export the artifact with edgetl") from e

    @classmethod
    def from_json(cls, text: str) -> "Contract":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise EdgetlError(f"contract is not valid JSON ({e}); re-export the artifact with edgetl") from e

    @classmethod
    def load(cls, path: str | Path) -> "Contract":
        path = Path(path)
        if not path.is_file():
            raise EdgetlError(f"contract file {path} not found; re-export the artifact with edgetl")
        return cls.from_json(path.read_text(encoding="utf-8"))

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
