"""Segmented float ONNX export of a big chain model: each Dense written to ONNX by hand, the layers between them
through tf2onnx, the graphs joined into one (why: ``export.export_onnx``)."""
from __future__ import annotations

from typing import Optional

import numpy as np

from edgetl import _tf
from edgetl.formats.contract import Contract

SEGMENT_PARAMS = 20_000_000  # chain models above this many parameters are exported in segments (see export_onnx)


def chain_layers(model) -> Optional[list]:
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


def segmented_proto(model, contract: Contract, opset: int):
    """A chain model in segments: each big Dense written by hand, each run of other layers through tf2onnx
    (a fresh Input feeding the same layers and weights), the ONNX graphs then joined."""
    import tf2onnx

    tf, keras = _tf.tf(), _tf.keras()
    protos, shape = [], (contract.height, contract.width, 3)
    for i, seg in enumerate(_segments(chain_layers(model))):
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
