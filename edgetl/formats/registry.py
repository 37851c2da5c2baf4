"""The artifact formats: ONE table, one entry per kind of file edgetl writes. Every stage reads it.

An entry says everything the road needs to know about a format: its name and file name, how the
TFLite converter is configured for it (``configure``), which runtime opens it, what is quantized,
the parity gate's default threshold, the input/output types it accepts, whether it needs
calibration images or training, which `convert --to` target writes it, whether it is in the
`compare` table (and under which label) and whether `export android` can ship it. quantize,
convert, benchmark, compare, report, export and the CLI choices are all derived from this table.

Adding a format = one ``ArtifactFormat`` entry (+ its ``configure`` function below for a TFLite
mode) + a test; a new runtime also needs its runner in the runtime layer (runtime/runners.py).

A *stem* names the Keras model an artifact comes from: ``model`` for RUN_DIR/model.keras,
``model_pruned`` for RUN_DIR/model_pruned.keras (written by the prune stage). Artifacts are
``<stem>_<mode>.tflite`` (+ ``<stem>_<mode>.json``, the contract), ``<stem>.onnx`` and ``<stem>_int8.onnx``.
TensorFlow is never imported here: ``configure`` receives the ``tf`` module.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from edgetl.errors import EdgetlError, check_choices

FLOAT_AGREEMENT = 0.99  # float32 / float16 / dynamic TFLite, float ONNX: only rounding differs
QUANT_AGREEMENT = 0.95  # int8 / QAT: 8-bit activations may flip near-ties
INT16_AGREEMENT = 0.97  # int16 activations: far finer than int8, a little coarser than float

IO_TYPES = ("uint8", "int8", "float32")  # every --io choice; each format lists the ones it accepts
FLOAT_IO = IO_TYPES[2:]  # float32 in, float32 out
DEFAULT_IO = IO_TYPES[0]  # uint8: raw camera pixels go in
ONNX_CONTRACT_KEY = "edgetl_contract"  # an ONNX file carries its contract in metadata_props under this key


# ---- TFLite converter settings, one function per mode ---------------------------------------------
# configure(conv, tf, io, representative) sets a tf.lite.TFLiteConverter up for the mode.

def _float32(conv, tf, io, representative):
    return conv


def _dynamic(conv, tf, io, representative):
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    return conv


def _float16(conv, tf, io, representative):
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.target_spec.supported_types = [tf.float16]
    return conv


def _int8(conv, tf, io, representative):
    # int8: calibrates every activation range; qat: the ranges come from the fake-quant layers, TFLite still
    # needs a representative dataset for full-integer ops without one (e.g. the input).
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if io != "float32":
        conv.inference_input_type = getattr(tf, io)
        conv.inference_output_type = getattr(tf, io)
    return conv


def _int16x8(conv, tf, io, representative):
    # int16 activations, int8 weights: calibrated like int8, 256x finer activation steps; float32 in/out.
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    return conv


@dataclass(frozen=True)
class ArtifactFormat:
    name: str  # "<runtime>:<mode>", e.g. "tflite:int8"
    suffix: str  # appended to the stem: "_int8.tflite"
    runtime: str  # the runtime that opens it: "tflite" | "onnx" (runtime/runners.py)
    mode: str  # "float32" | "dynamic" | ... ; for TFLite also the `quantize --mode` name
    min_agreement: float  # default parity threshold: top-1 agreement with the Keras model
    quantization: str  # what is quantized, in words (help texts, report)
    configure: Optional[Callable] = None  # TFLite converter settings; None: not a `quantize --mode`
    io: tuple = FLOAT_IO  # accepted --io types; the first is used when the requested one is not accepted
    calibration: bool = False  # needs calibration images (the run's training images)
    training: bool = False  # needs a fine-tune (QAT) before converting
    target: Optional[str] = None  # the `convert --to` target that writes it
    compare_label: Optional[str] = None  # a column of `edgetl compare`'s table, under this label
    default_quantize: bool = False  # in a recipe's default `quantize:` list
    android: bool = False  # `export android` can ship it (the app runs LiteRT)
    refusal_hint: str = "use a float mode"  # what to try when the parity gate refuses a file of this format
    int8_kernels: bool = False  # runs XNNPACK's int8 kernels: ops without one stay float by default (--keep-float)

    def file_name(self, stem: str = "model") -> str:
        return f"{stem}{self.suffix}"

    def path(self, out_dir: str | Path, stem: str = "model") -> Path:
        return Path(out_dir) / self.file_name(stem)

    @property
    def compare_key(self) -> str:
        """The key prefix of this format's figures in compare rows: "tflite_int8" (float ONNX: "onnx")."""
        return "onnx" if self.name == "onnx:float32" else self.name.replace(":", "_")

    def io_for(self, io: str) -> str:
        """The input/output type this format gets when ``--io io`` was asked for."""
        return io if io in self.io else self.io[0]


_F32_HINT = "a float file should agree: its contract or conversion is wrong, re-run `edgetl convert`/`quantize`"
_INT8_HINT = "calibrate on more images (--calibration-images) or use a float mode (float16)"

FORMATS: dict[str, ArtifactFormat] = {f.name: f for f in (
    ArtifactFormat("tflite:float32", "_float32.tflite", "tflite", "float32", FLOAT_AGREEMENT, "nothing (float32)",
                   _float32, target="tflite", compare_label="f32", default_quantize=True, android=True,
                   refusal_hint=_F32_HINT),
    ArtifactFormat("tflite:dynamic", "_dynamic.tflite", "tflite", "dynamic", FLOAT_AGREEMENT,
                   "int8 weights, float activations (dynamic range)", _dynamic, default_quantize=True, android=True,
                   refusal_hint="dynamic range quantizes weights only, so calibration cannot help: use float16, or "
                                "int8 with calibration"),
    ArtifactFormat("tflite:float16", "_float16.tflite", "tflite", "float16", FLOAT_AGREEMENT, "float16 weights",
                   _float16, default_quantize=True, android=True,
                   refusal_hint="use float32 (float16 rounding moved near-ties)"),
    ArtifactFormat("tflite:int8", "_int8.tflite", "tflite", "int8", QUANT_AGREEMENT,
                   "int8 weights and activations (full integer)", _int8, io=IO_TYPES, calibration=True,
                   compare_label="int8", default_quantize=True, android=True, refusal_hint=_INT8_HINT,
                   int8_kernels=True),
    ArtifactFormat("tflite:qat", "_qat.tflite", "tflite", "qat", QUANT_AGREEMENT,
                   "int8 weights and activations after quantization-aware training", _int8, io=IO_TYPES,
                   calibration=True, training=True, android=True,
                   refusal_hint="fine-tune longer (--qat-epochs) or use --mode int8", int8_kernels=True),
    ArtifactFormat("tflite:int16x8", "_int16x8.tflite", "tflite", "int16x8", INT16_AGREEMENT,
                   "int16 activations, int8 weights (when int8 loses too much accuracy)", _int16x8, calibration=True,
                   android=True, refusal_hint="calibrate on more images (--calibration-images) or use float16"),
    ArtifactFormat("onnx:float32", ".onnx", "onnx", "float32", FLOAT_AGREEMENT, "nothing (float32)",
                   target="onnx", compare_label="ONNX",
                   refusal_hint=_F32_HINT),
    ArtifactFormat("onnx:int8", "_int8.onnx", "onnx", "int8", QUANT_AGREEMENT, "int8 weights and activations (QDQ)",
                   io=IO_TYPES, target="onnx",
                   refusal_hint="re-quantize the int8 TFLite file it is converted from on more images "
                                "(`edgetl quantize RUN --mode int8 --calibration-images N`) and convert again; with "
                                "--int8-method ort, calibrate on more images or use the default tflite route"),
)}

# Derived choices: nothing else in edgetl lists formats, modes or targets.
MODES = tuple(f.mode for f in FORMATS.values() if f.configure is not None)  # `quantize --mode`
DEFAULT_MODES = tuple(f.mode for f in FORMATS.values() if f.default_quantize)
CONVERT_TARGETS = tuple(dict.fromkeys(f.target for f in FORMATS.values() if f.target))  # `convert --to`
COMPARE_FORMATS = tuple(f.name for f in FORMATS.values() if f.compare_label)  # `compare`'s default columns


def get_format(name: str) -> ArtifactFormat:
    try:
        return FORMATS[name]
    except KeyError as err:
        raise EdgetlError(f"unknown artifact format '{name}'; choose one of: {', '.join(FORMATS)}") from err


def tflite_format(mode: str) -> ArtifactFormat:
    return get_format(f"tflite:{mode}")


def mode_formats(modes) -> list:
    """`--mode` values -> their formats, checked (unknown or repeated modes: one-line error)."""
    return [tflite_format(m) for m in check_choices(modes, MODES, "--mode", "quantization mode")]


def target_formats(target: str) -> list:
    """The formats one `convert --to` target writes, in table order."""
    return [f for f in FORMATS.values() if f.target == target]


def check_targets(to) -> list:
    return check_choices(to, CONVERT_TARGETS, "--to", "--to target")


def check_io(io: str) -> str:
    if io not in IO_TYPES:
        raise EdgetlError(f"--io {io} is not supported; choose one of: {', '.join(IO_TYPES)}")
    return io


def mode_help() -> str:
    """`--mode` help, from the table."""
    return "; ".join(f"{f.mode}: {f.quantization}" for f in FORMATS.values() if f.configure) + ". Repeat for several."


def io_help() -> str:
    """`--io` help, from the table."""
    takers = [f.mode for f in FORMATS.values() if f.configure and len(f.io) > 1]
    return (f"Input/output type of {'/'.join(takers)} files ({DEFAULT_IO}: raw camera pixels go in); "
            f"the other modes keep {FLOAT_IO[0]}.")


def threshold(fmt: ArtifactFormat, overrides: Optional[dict] = None) -> float:
    """The parity threshold of ``fmt``: an override by format name ("tflite:int8") or mode ("int8"), else the default."""
    overrides = overrides or {}
    for key in (fmt.name, fmt.mode if fmt.runtime == "tflite" else None):
        if key and key in overrides and overrides[key] is not None:
            return float(overrides[key])
    return fmt.min_agreement


def threshold_help() -> str:
    """The default thresholds in words, grouped: "0.99 tflite:float32/..., 0.95 ..."."""
    by = {}
    for f in FORMATS.values():
        by.setdefault(f.min_agreement, []).append(f.name)
    return ", ".join(f"{v:g} {'/'.join(names)}" for v, names in sorted(by.items(), reverse=True))


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
