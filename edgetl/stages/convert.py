"""ONNX export (float through tf2onnx, int8 from the int8 TFLite) and the `edgetl convert` run-level step.

Every ONNX file carries its contract in ``metadata_props[ONNX_CONTRACT_KEY]`` and is
written through the parity gate to a temporary name first: a refused or failed export leaves no file.
"""
from __future__ import annotations

import contextlib
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from edgetl import _tf
from edgetl.config.stages import INT8_ONNX_METHODS, ConvertConfig
from edgetl.formats.registry import (ONNX_CONTRACT_KEY, check_targets, get_format, parse_agreement, stem_of,
                                    target_formats)
from edgetl.measure.onnx_weights import uint8_weights
from edgetl.formats.contract import Contract, TensorSpec
from edgetl.errors import EdgetlError
from edgetl.fsutil import atomic_path, gzip_mb
from edgetl.runtime.runners import OnnxRunner
from edgetl.rundir import RunDir, locks_run


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


SEGMENT_PARAMS = 20_000_000  # chain models above this many parameters are exported in segments (see export_onnx)
# ORT's calibrator keeps every tensor of every calibration image until it computes ranges (VGG16: ~60 MB an
# image, 12 GB for 200); folding min/max every this many images keeps it bounded and gives the same ranges.
CALIBRATION_BATCH = 16


def int8_tensors_to_uint8(proto, weights: bool = True):
    """Shift every int8 tensor of a QDQ graph to uint8 (value + 128, zero point + 128): exact, and needed on x86.

    onnxruntime runs uint8 x int8 products on x86 CPUs without VNNI (AVX2, AVX-512F) with VPMADDUBSW,
    whose int16 pair sums saturate (onnxruntime's quantization docs), and it turns int8 activations into
    uint8 to get there (its QDQS8ToU8Transformer). Full-range int8 weights then overflow: on this
    project's CI machine the tf2onnx int8 graph agreed with the int8 TFLite on 73% of top-1s. With
    uint8 weights too it takes the U8U8 kernels, which do not saturate: 100% agreement, and faster.
    ``weights=False`` shifts the activations only (``measure.onnx_weights``: on VNNI hosts U8S8 is exact and
    U8U8 2-3x slower).
    """
    from onnx import TensorProto, numpy_helper

    graph = proto.graph
    inits = {t.name: t for t in graph.initializer}
    io = {v.name for v in (*graph.input, *graph.output)}
    at_io, inner = [], []
    for n in graph.node:
        if n.op_type in ("QuantizeLinear", "DequantizeLinear"):
            (at_io if n.input[0] in io or n.output[0] in io else inner).append(n)
    if not weights:  # weight DQs (data is an initializer) keep int8, on private zero points if shared
        kept = [n for n in inner if n.input[0] in inits]
        inner = [n for n in inner if n.input[0] not in inits]
        shared = {n.input[2] for n in inner if len(n.input) > 2} & {n.input[2] for n in kept if len(n.input) > 2}
        for i, node in enumerate(n for n in kept if len(n.input) > 2 and n.input[2] in shared):
            pinned = numpy_helper.from_array(numpy_helper.to_array(inits[node.input[2]]), f"edgetl_w_zero_point_{i}")
            graph.initializer.append(pinned)
            node.input[2] = pinned.name
    inside = {n.input[k] for n in inner for k in (0, 2) if len(n.input) > k}
    for i, node in enumerate(at_io):  # the graph's own int8 input/output stays int8, with its zero point
        if len(node.input) > 2 and node.input[2] in inits and node.input[2] in inside:  # shared: a private copy
            pinned = numpy_helper.from_array(numpy_helper.to_array(inits[node.input[2]]), f"edgetl_io_zero_point_{i}")
            graph.initializer.append(pinned)
            node.input[2] = pinned.name
    names = {name for name in inside if name in inits and inits[name].data_type == TensorProto.INT8}
    for name in names:
        shifted = numpy_helper.to_array(inits[name]).astype(np.int16) + 128
        inits[name].CopyFrom(numpy_helper.from_array(shifted.astype(np.uint8), name))
    int8_info = [v for v in graph.value_info if v.type.tensor_type.elem_type == TensorProto.INT8]
    for info in int8_info:  # intermediate types are inferred again when the model loads
        graph.value_info.remove(info)
    return proto


@contextlib.contextmanager
def _folding_minmax_calibration():
    """Make ORT's MinMax calibrator fold the ranges of each batch of CalibMaxIntermediateOutputs images.

    onnxruntime 1.32's ``MinMaxCalibrater.collect_data`` *drops* the collected outputs when that limit is reached
    (``clear_collected_data`` without ``compute_data``), so only the last partial batch would set the ranges
    (and a count that is a multiple of the limit fails with "No data is collected"). Here the batch is folded into
    the running min/max first, exactly what ``compute_data`` + ``merge_range`` do at the end.
    """
    from onnxruntime.quantization.calibrate import MinMaxCalibrater

    original = MinMaxCalibrater.clear_collected_data

    def fold_then_clear(self):
        if self.intermediate_outputs:
            self.compute_data()  # merges this batch into self.calibrate_tensors_range
        original(self)

    MinMaxCalibrater.clear_collected_data = fold_then_clear
    try:
        yield
    finally:
        MinMaxCalibrater.clear_collected_data = original


def _chain_layers(model) -> Optional[list]:
    """The model's layers (no InputLayer) if it is one chain, each layer fed by the previous one only; else None."""
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    if len(model.inputs) != 1 or len(model.outputs) != 1 or not layers:
        return None
    try:
        prev = model.inputs[0]
        for layer in layers:
            if layer.get_input_at(0) is not prev:
                return None
            prev = layer.get_output_at(0)
    except (AttributeError, ValueError, RuntimeError):  # multi-input layers, nested models
        return None
    return layers if model.outputs[0] is prev else None


_DENSE_ACTIVATIONS = {"linear": None, "relu": "Relu", "softmax": "Softmax", "sigmoid": "Sigmoid"}


def _direct_dense(layer) -> bool:
    """A Dense layer on a (batch, features) input with a plain activation: written to ONNX by hand."""
    return (type(layer).__name__ == "Dense" and len(layer.get_input_shape_at(0)) == 2
            and getattr(layer.activation, "__name__", "") in _DENSE_ACTIVATIONS)


def _segments(layers: list) -> list:
    """Runs of a chain's layers: a lone hand-written Dense, or consecutive other layers for tf2onnx; Dropout
    (identity at inference) is left out."""
    out = []
    for layer in layers:
        if type(layer).__name__ == "Dropout":
            continue
        if _direct_dense(layer) or not out or _direct_dense(out[-1][-1]):
            out.append([layer])
        else:
            out[-1].append(layer)
    return out


def _dense_proto(layer, opset: int, name: str):
    """Dense as MatMul + Add (+ activation), its weights as initializers: no TF graph, no constant folding."""
    from onnx import TensorProto, helper, numpy_helper

    kernel, *bias = layer.get_weights()
    units, n = kernel.shape[1], layer.name
    inits = [numpy_helper.from_array(np.ascontiguousarray(kernel, np.float32), f"{n}/kernel")]
    nodes = [helper.make_node("MatMul", [name, f"{n}/kernel"], [f"{n}/matmul"], name=f"{n}/MatMul")]
    last = f"{n}/matmul"
    if bias:
        inits.append(numpy_helper.from_array(bias[0].astype(np.float32), f"{n}/bias"))
        nodes.append(helper.make_node("Add", [last, f"{n}/bias"], [f"{n}/add"], name=f"{n}/Add"))
        last = f"{n}/add"
    act = _DENSE_ACTIVATIONS[layer.activation.__name__]
    if act:
        kw = {"axis": -1} if act == "Softmax" else {}
        nodes.append(helper.make_node(act, [last], [f"{n}/{act.lower()}"], name=f"{n}/{act}", **kw))
        last = f"{n}/{act.lower()}"
    graph = helper.make_graph(nodes, n, [helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, kernel.shape[0]])],
                              [helper.make_tensor_value_info(last, TensorProto.FLOAT, [None, units])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _rename_edge(graph, old: str, new: str) -> None:
    for node in graph.node:
        node.input[:] = [new if x == old else x for x in node.input]
        node.output[:] = [new if x == old else x for x in node.output]
    for v in list(graph.input) + list(graph.output):
        if v.name == old:
            v.name = new


def _chain_protos(protos: list):
    """One ModelProto from segment protos where segment i's single output feeds segment i+1's single input."""
    import onnx
    from onnx import compose

    first = protos[0]
    graph = onnx.GraphProto(name=first.graph.name)
    prev_out = first.graph.input[0].name  # the joined model keeps the first segment's input name
    for i, p in enumerate(protos):
        g = p.graph
        compose.add_prefix_graph(g, f"s{i}/", inplace=True)
        _rename_edge(g, g.input[0].name, prev_out)
        if i == 0:
            graph.input.extend(g.input)
        prev_out = g.output[0].name
        graph.node.extend(g.node)
        graph.initializer.extend(g.initializer)
        del g.node[:], g.initializer[:]
    graph.output.extend(protos[-1].graph.output)
    opsets = {}
    for p in protos:
        for o in p.opset_import:
            opsets[o.domain] = max(opsets.get(o.domain, 0), o.version)
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid(d, v) for d, v in opsets.items()],
                                   producer_name=first.producer_name, producer_version=first.producer_version)
    model.ir_version = first.ir_version
    return model


def _segmented_keras(model, contract: Contract, opset: int):
    """A chain model in segments: each big Dense written by hand, each run of other layers through tf2onnx
    (a fresh Input feeding the same layers and weights), the ONNX graphs then joined."""
    import tf2onnx

    tf, keras = _tf.tf(), _tf.keras()
    protos, shape = [], (contract.height, contract.width, 3)
    for i, seg in enumerate(_segments(_chain_layers(model))):
        name = "input" if i == 0 else f"segment{i}"
        if _direct_dense(seg[0]):
            protos.append(_dense_proto(seg[0], opset, name))
            shape = (seg[0].units,)
            continue
        inp = keras.Input(shape, name=name)
        x = inp
        for layer in seg:
            x = layer(x)
        sub = keras.Model(inp, x)
        sig = (tf.TensorSpec((None, *shape), tf.float32, name=name),)
        proto, _ = tf2onnx.convert.from_keras(sub, input_signature=sig, opset=opset)
        protos.append(proto)
        shape = tuple(sub.output_shape[1:])
        del sub, proto
    return _chain_protos(protos)


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
        if model.count_params() > max_params and _chain_layers(model) is not None:
            proto = _segmented_keras(model, contract, opset)
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
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    fmt = get_format("onnx:int8")
    x = contract.normalize(calibration).astype(np.float32)
    name = onnx.load(str(float_onnx_path), load_external_data=False).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter(x[i:i + 1] for i in range(len(x)))

        def get_next(self):
            item = next(self._it, None)
            return None if item is None else {name: item}

    t = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=".edgetl-ort-") as tmpdir:
        raw = Path(tmpdir) / "int8.onnx"
        try:
            with _folding_minmax_calibration():
                quantize_static(str(float_onnx_path), str(raw), Reader(), quant_format=QuantFormat.QDQ,
                                per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                                extra_options={"CalibMaxIntermediateOutputs": CALIBRATION_BATCH})
        except Exception as e:  # onnxruntime.quantization raises many types
            raise EdgetlError(f"onnxruntime int8 quantization failed ({str(e).splitlines()[0][:160]}); "
                              "try --int8-method tflite") from e
        shift, why = uint8_weights()
        proto = int8_tensors_to_uint8(onnx.load(str(raw)), weights=shift)
    c = contract.replace(artifact=fmt.name, input=TensorSpec("float32"), output=TensorSpec("float32"))
    return {**write_onnx(proto, fmt, c, out_path, gate=gate, seconds=time.perf_counter() - t), "int8_weights": why}


@locks_run("edgetl convert")
def convert_run(cfg: ConvertConfig, *, progress=None, keep_going: bool = False) -> list:
    """`edgetl convert`: every format of each ``cfg.to`` target in the registry (every parameter, its default and
    its help is ``ConvertConfig``'s): float TFLite
    (``<stem>_float32.tflite``), float ONNX (``<stem>.onnx``) and int8 ONNX (``<stem>_int8.onnx``).

    ``int8_method``: "tflite" (default; tf2onnx from ``<stem>_int8.tflite``, written and gated by
    `edgetl quantize --mode int8`: the same integer graph, uint8 input, top-1 identical to the TFLite file) or
    "ort" (onnxruntime static QDQ quantization of the float ONNX, calibrated on the run's training images,
    float input; see docs/quantize.md). Both write uint8 activations inside (``int8_tensors_to_uint8``; the
    weights' type by ``measure.onnx_weights``).
    ``keep_going``: a format that fails or is refused by the gate gets a record with "error" and the
    others go on (`edgetl run` uses this), as in ``quantize_run``.
    """
    to, opset, int8_method, calibration_images = cfg.to, cfg.opset, cfg.int8_method, cfg.calibration_images
    model, data, parity_images, agreement = cfg.model, cfg.data, cfg.parity_images, parse_agreement(cfg.min_agreement)
    run = RunDir(cfg.run)
    model_path = run.resolve_model(model)  # before the slow imports the opset check needs
    to = check_targets(to)
    if int8_method not in INT8_ONNX_METHODS:
        raise EdgetlError(f"--int8-method {int8_method} is unknown; choose one of: {', '.join(INT8_ONNX_METHODS)}")
    fmts = [f for t in to for f in target_formats(t)]
    opset = check_opset(opset) if any(f.runtime == "onnx" for f in fmts) else opset
    contract = run.contract_for(model_path)  # every artifact records the model it came from
    keras_model = run.load_model(model_path)
    ctx = _ConvertJob(run, keras_model, contract, stem_of(model_path), run.splits_or_none(data, False, why=""),
                      opset, int8_method, calibration_images, None)
    ctx.gate = run.gate(keras_model, model_path, contract, ctx.splits, agreement, parity_images)
    records = []
    for i, fmt in enumerate(fmts):
        if progress:
            progress(f"{fmt.name}" + (f" ({int8_method})" if fmt.name == "onnx:int8" else ""), i, len(fmts))
        try:
            rec = writer_of(fmt)(ctx, fmt)
        except EdgetlError as e:
            if not keep_going:
                raise
            rec = {"artifact": None, "file": fmt.file_name(ctx.stem), "format": fmt.name, "mode": fmt.mode,
                   "runtime": fmt.runtime, "error": str(e)}
        records.append(rec)
    if progress:
        progress("done", len(fmts), len(fmts))
    for r in records:
        r["model"] = str(model_path)
    return records


@dataclass
class _ConvertJob:
    run: object
    model: object
    contract: Contract
    stem: str
    splits: object
    opset: int
    int8_method: str
    calibration_images: int
    gate: object


# The writers of the formats `convert --to` makes: fn(job, fmt) -> record (``writer_of`` picks one).

def tflite_mode(job: _ConvertJob, fmt) -> dict:
    from edgetl.tflite.converter import convert_tflite

    return convert_tflite(job.model, job.contract, [fmt.mode], job.run.path, stem=job.stem, gate=job.gate)[fmt.mode]


def onnx_float(job: _ConvertJob, fmt) -> dict:
    return export_onnx(job.model, job.contract, fmt.path(job.run.path, job.stem), job.opset, gate=job.gate)


def onnx_int8(job: _ConvertJob, fmt) -> dict:
    from edgetl.runtime.runners import sidecar_path
    from edgetl.rundir import stale_reason

    out = fmt.path(job.run.path, job.stem)
    float_onnx = get_format("onnx:float32").path(job.run.path, job.stem)
    int8_tflite = get_format("tflite:int8").path(job.run.path, job.stem)
    if job.int8_method == "ort" and job.splits is not None and float_onnx.is_file():
        rec = export_onnx_int8_ort(float_onnx, job.contract, out, job.run.calibration(job.splits, job.calibration_images),
                                   gate=job.gate)
    elif (job.int8_method == "tflite" and int8_tflite.is_file() and sidecar_path(int8_tflite).is_file()
          and not stale_reason(int8_tflite)):
        rec = export_onnx_int8(int8_tflite, Contract.load(sidecar_path(int8_tflite)), out, job.opset, gate=job.gate)
    else:
        why = ((stale_reason(int8_tflite) if int8_tflite.is_file() else None)
               or f"no {int8_tflite.name}: run `edgetl quantize {job.run.path} --mode int8` first"
               if job.int8_method == "tflite" else
               f"no {float_onnx.name} (its export failed)" if job.splits is not None else
               "the run's data folder is gone (calibration needs it): pass --data DIR")
        rec = {"format": fmt.name, "file": out.name, "skipped": why}
    rec["int8_method"] = job.int8_method
    return rec


def writer_of(fmt) -> Callable:
    """The function that writes ``fmt``: ONNX has one writer per format; every TFLite mode goes through the one
    converter path. The stage owns this mapping; the format registry only describes formats."""
    writers = {"onnx:float32": onnx_float, "onnx:int8": onnx_int8}
    if fmt.name in writers:
        return writers[fmt.name]
    if fmt.runtime == "tflite":
        return tflite_mode
    raise EdgetlError(f"convert cannot write {fmt.name}: add its writer to writer_of in stages/convert.py")
