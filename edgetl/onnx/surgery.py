"""Graph surgery on a quantized ONNX graph: its int8 tensors shifted to uint8, exactly."""
from __future__ import annotations

import numpy as np


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
