"""The ONNX exporters: float ONNX (tf2onnx; in segments above SEGMENT_PARAMS), int8 ONNX from the int8 TFLite, and
int8 ONNX by onnxruntime's calibration.

Every ONNX file carries its contract in ``metadata_props[ONNX_CONTRACT_KEY]`` and is
written through the parity gate to a temporary name first: a refused or failed export leaves no file.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from edgetl import _tf
from edgetl.errors import EdgetlError
from edgetl.formats.contract import Contract, TensorSpec
from edgetl.formats.registry import ONNX_CONTRACT_KEY, get_format
from edgetl.fsutil import atomic_path, gzip_mb
from edgetl.onnx.calibration import calibration_reader, quantize_qdq
from edgetl.onnx.segments import SEGMENT_PARAMS, chain_layers, segmented_proto
from edgetl.measure.onnx_weights import uint8_weights
from edgetl.onnx.surgery import int8_tensors_to_uint8
from edgetl.runtime.runners import OnnxRunner


def supported_opsets() -> range:
    from tf2onnx import constants

    return range(13, max(constants.OPSET_TO_IR_VERSION) + 1)


def check_opset(opset: int) -> int:
    ok = supported_opsets()
    if int(opset) not in ok:
        raise EdgetlError(f"--opset {opset} is not supported by tf2onnx here; choose {ok.start}..{ok.stop - 1} (default 17)")
    return int(opset)


def _with_contract(proto, contract: Contract):
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = ONNX_CONTRACT_KEY, contract.to_json()
    return proto


def write_onnx(proto, fmt, contract: Contract, out_path, *, gate=None, seconds: float = 0.0) -> dict:
    """Write an ONNX ModelProto with its contract, atomically, after it passed ``gate`` (if any)."""
    final = Path(out_path)
    data = _with_contract(proto, contract).SerializeToString()
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)
        runner = OnnxRunner(tmp)  # reads the contract back from the file's metadata, as every consumer will
        runner.display_name = final.name
        rec = {"artifact": str(final), "file": final.name, "format": fmt.name, "mode": fmt.mode, "runtime": "onnx",
               "size_mb": len(data) / 1e6, "gzip_mb": gzip_mb(data), "seconds": seconds,
               "input_dtype": contract.input.dtype, "output_dtype": contract.output.dtype}
        if gate is not None:
            rec.update(gate.check(fmt, runner))
    return rec


def export_onnx(model, contract: Contract, out_path, opset: int = 17, *, gate=None,
                max_params: int = SEGMENT_PARAMS) -> dict:
    """Float ONNX through tf2onnx.convert.from_keras with an explicit (None, H, W, 3) float32 input signature.

    A chain model (each layer feeds the next: VGG16/19, a transfer head on them) above ``max_params``
    parameters is exported in segments: each Dense on a flat input written to ONNX by hand, the layers
    between them through tf2onnx, the graphs joined. Why: tf2onnx keeps many copies of every folded
    constant, so VGG16 (138 M params, 120 M in fc1/fc2) in one piece peaks above 22 GB, and tf2onnx's
    large_model=True and the float TFLite route (from_tflite) were both killed at 10 GB; in segments it
    peaks near 6 GB (benchmarks/bench_convert.py --memory). One .onnx file, no external data: VGG16 float
    is ~553 MB, far under protobuf's 2 GB.
    """
    import tf2onnx

    tf = _tf.tf()
    opset = check_opset(opset)
    fmt = get_format("onnx:float32")
    t = time.perf_counter()
    sig = (tf.TensorSpec((None, contract.height, contract.width, 3), tf.float32, name="input"),)
    try:
        if model.count_params() > max_params and chain_layers(model) is not None:
            proto = segmented_proto(model, contract, opset)
        else:
            proto, _ = tf2onnx.convert.from_keras(model, input_signature=sig, opset=opset)
    except Exception as e:  # tf2onnx raises many types
        raise EdgetlError(f"ONNX export failed at opset {opset} ({str(e).splitlines()[0][:160]}); try --opset 17") from e
    c = contract.replace(artifact=fmt.name, input=TensorSpec("float32"), output=TensorSpec("float32"))
    return write_onnx(proto, fmt, c, out_path, gate=gate, seconds=time.perf_counter() - t)


def export_onnx_int8(tflite_path, contract: Contract, out_path, opset: int = 17, *, gate=None) -> dict:
    """Int8 ONNX from the int8 TFLite (tf2onnx.convert.from_tflite): the same integer graph, scales and zero points.

    ``contract`` is the int8 TFLite's contract (its ``.json``): the ONNX file takes the same
    uint8/int8 input, so an app feeds it exactly what it feeds the TFLite file.
    """
    import tf2onnx

    opset = check_opset(opset)
    fmt = get_format("onnx:int8")
    tflite_path = Path(tflite_path)
    if not tflite_path.is_file():
        raise EdgetlError(f"{tflite_path} not found; run `edgetl quantize RUN_DIR --mode int8` first")
    t = time.perf_counter()
    try:
        proto, _ = tf2onnx.convert.from_tflite(str(tflite_path), opset=opset)
    except Exception as e:
        raise EdgetlError(f"int8 ONNX export failed ({str(e).splitlines()[0][:160]}); try --opset 17") from e
    c = contract.replace(artifact=fmt.name)
    shift, why = uint8_weights()
    rec = write_onnx(int8_tensors_to_uint8(proto, weights=shift), fmt, c, out_path, gate=gate,
                     seconds=time.perf_counter() - t)
    return {**rec, "int8_weights": why}


def export_onnx_int8_ort(float_onnx_path, contract: Contract, out_path, calibration: np.ndarray, *, gate=None) -> dict:
    """The int8 ONNX of ``--int8-method ort``: onnxruntime static QDQ quantization of the float ONNX,
    float input kept; speed and accuracy against ``export_onnx_int8`` in docs/quantize.md.
    """
    fmt = get_format("onnx:int8")
    x = contract.normalize(calibration).astype(np.float32)
    reader = calibration_reader(float_onnx_path, x)
    t = time.perf_counter()
    shift, why = uint8_weights()
    proto = int8_tensors_to_uint8(quantize_qdq(float_onnx_path, reader), weights=shift)
    c = contract.replace(artifact=fmt.name, input=TensorSpec("float32"), output=TensorSpec("float32"))
    return {**write_onnx(proto, fmt, c, out_path, gate=gate, seconds=time.perf_counter() - t), "int8_weights": why}
