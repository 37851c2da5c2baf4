"""The artifact formats this stage writes: one registry, so file names and parity thresholds live in one place.

A *stem* names the Keras model an artifact comes from: ``model`` for RUN_DIR/model.keras,
``model_pruned`` for RUN_DIR/model_pruned.keras (see ``edgetl.stages.prune``). Artifacts are
``<stem>_<mode>.tflite`` (+ ``<stem>_<mode>.json``, the contract), ``<stem>.onnx`` and ``<stem>_int8.onnx``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from edgetl.errors import EdgetlError

FLOAT_AGREEMENT = 0.99  # float32 / float16 / dynamic TFLite, float ONNX: only rounding differs
QUANT_AGREEMENT = 0.95  # int8 / QAT: 8-bit activations may flip near-ties


@dataclass(frozen=True)
class ArtifactFormat:
    name: str  # e.g. "tflite:int8"
    suffix: str  # appended to the stem: "_int8.tflite"
    runtime: str  # "tflite" | "onnx" | "keras"
    mode: str  # "float32" | "dynamic" | "float16" | "int8" | "qat"
    min_agreement: float  # default parity threshold: top-1 agreement with the Keras model
    quantized_io: bool = False

    def file_name(self, stem: str = "model") -> str:
        return f"{stem}{self.suffix}"

    def path(self, out_dir: str | Path, stem: str = "model") -> Path:
        return Path(out_dir) / self.file_name(stem)


FORMATS: dict[str, ArtifactFormat] = {f.name: f for f in (
    ArtifactFormat("tflite:float32", "_float32.tflite", "tflite", "float32", FLOAT_AGREEMENT),
    ArtifactFormat("tflite:dynamic", "_dynamic.tflite", "tflite", "dynamic", FLOAT_AGREEMENT),
    ArtifactFormat("tflite:float16", "_float16.tflite", "tflite", "float16", FLOAT_AGREEMENT),
    ArtifactFormat("tflite:int8", "_int8.tflite", "tflite", "int8", QUANT_AGREEMENT, quantized_io=True),
    ArtifactFormat("tflite:qat", "_qat.tflite", "tflite", "qat", QUANT_AGREEMENT, quantized_io=True),
    ArtifactFormat("onnx:float32", ".onnx", "onnx", "float32", FLOAT_AGREEMENT),
    ArtifactFormat("onnx:int8", "_int8.onnx", "onnx", "int8", QUANT_AGREEMENT, quantized_io=True),
)}


def get_format(name: str) -> ArtifactFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise EdgetlError(f"unknown artifact format '{name}'; choose one of: {', '.join(FORMATS)}") from None


def tflite_format(mode: str) -> ArtifactFormat:
    return get_format(f"tflite:{mode}")


def threshold(fmt: ArtifactFormat, overrides: Optional[dict] = None) -> float:
    """The parity threshold of ``fmt``: an override by format name ("tflite:int8") or mode ("int8"), else the default."""
    overrides = overrides or {}
    for key in (fmt.name, fmt.mode if fmt.runtime == "tflite" else None):
        if key and key in overrides and overrides[key] is not None:
            return float(overrides[key])
    return fmt.min_agreement


def stem_of(model_path: str | Path) -> str:
    """RUN_DIR/model.keras -> "model"; RUN_DIR/model_pruned.keras -> "model_pruned"."""
    return Path(model_path).stem


def parse_agreement(values) -> dict:
    """["0.9"] (every artifact) or ["int8=0.9", "onnx:int8=0.9"]: parity-threshold overrides by mode or format."""
    out = {}
    for v in values or ():
        key, _, num = str(v).rpartition("=")
        try:
            f = float(num)
        except ValueError:
            f = -1.0
        if not 0.0 <= f <= 1.0:
            raise EdgetlError(f"--min-agreement {v} is not valid; pass a fraction like 0.95 or MODE=0.95 (e.g. int8=0.9)")
        if key and key not in FORMATS and key not in {fmt.mode for fmt in FORMATS.values()}:
            raise EdgetlError(f"--min-agreement {v}: unknown mode or format '{key}'; use one of "
                              f"{', '.join(sorted({fmt.mode for fmt in FORMATS.values()} | set(FORMATS)))}")
        for name in ([key] if key else FORMATS):
            out[name] = f
    return out
