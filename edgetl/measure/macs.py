"""Multiply-accumulates per inference (batch 1) of an artifact, counted from its own graph.

Counted: convolutions (regular, depthwise, transposed), fully-connected layers and matrix
products: the ops that do the arithmetic. Element-wise ops, pooling and activations are left out
(they are memory-bound and a few percent of the MACs), as usual for MAC counts of CNNs.
``precision`` says which peak the MACs run against: "int8" when the convolutions take 8-bit
activations (int8/uint8 TFLite, QDQ or QLinear ONNX), else "float32" (float, float16 and dynamic
range files: their activations are float).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from edgetl.runtime import registry

_INT8 = ("int8", "uint8")


def count(runner, entry=None) -> dict:
    """{"macs": int, "precision": "int8" | "float32"} of an opened runtime.Runner, by its runtime's MAC counter
    (``entry``: its registry entry, found from the runner's file when not given)."""
    return _counter(entry or registry.runtime_for(runner.path))(runner.path, runner)


def count_file(path) -> dict:
    """MACs of an artifact file without the caller opening it."""
    return _counter(registry.runtime_for(path))(Path(path), None)


def _counter(entry):
    if entry.count_macs is None:
        raise ValueError(f"runtime {entry.name} has no MAC counter")
    return entry.count_macs


def tflite_macs(path) -> dict:
    """MACs of a .tflite file from its operators and tensor shapes (the graph before any delegate)."""
    by_op, int8 = _tflite_count(path)
    return {"macs": int(sum(by_op.values())), "precision": "int8" if int8 else "float32"}


def tflite_op_macs(path) -> dict:
    """{op type: MACs} of a .tflite file (``tflite_macs`` split by op; benchmarks/bench_int8.py part 4)."""
    return dict(_tflite_count(path)[0])


def _tflite_count(path):
    from collections import Counter

    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    by_op, int8 = Counter(), False

    def shape(i):
        return [int(d) for d in tensors[int(i)]["shape"]] if int(i) >= 0 else []

    for op in it._get_ops_details():  # noqa: SLF001 - the interpreter's only per-op view
        name, ins, outs = op["op_name"], list(op["inputs"]), list(op["outputs"])
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "BATCH_MATMUL", "CONV_3D"):
            continue
        out = shape(outs[0])
        out_n = int(np.prod(out)) if out else 0
        if name == "CONV_2D":
            w = shape(ins[1])  # [O, kh, kw, I/groups]
            by_op[name] += out_n * int(np.prod(w[1:]))
        elif name == "DEPTHWISE_CONV_2D":
            w = shape(ins[1])  # [1, kh, kw, C * multiplier]
            by_op[name] += out_n * w[1] * w[2]
        elif name == "FULLY_CONNECTED":
            by_op[name] += out_n * shape(ins[1])[-1]  # weights [units, in]
        elif name == "TRANSPOSE_CONV":
            w, x = shape(ins[1]), shape(ins[2])  # weights [O, kh, kw, I], input NHWC
            by_op[name] += int(np.prod(x[:-1])) * w[0] * w[1] * w[2] * w[3]
        elif name == "BATCH_MATMUL":
            by_op[name] += out_n * shape(ins[0])[-1]
        elif name == "CONV_3D":
            w = shape(ins[1])  # [kd, kh, kw, I, O]
            by_op[name] += out_n * int(np.prod(w[:-1]))
        act = np.dtype(tensors[int(ins[0])]["dtype"]).name if name != "TRANSPOSE_CONV" else np.dtype(tensors[int(ins[2])]["dtype"]).name
        int8 = int8 or act in _INT8
    return by_op, int8


def onnx_macs(path) -> dict:
    """MACs of an .onnx file after shape inference (a symbolic batch counts as 1)."""
    import onnx
    from onnx import numpy_helper, shape_inference

    model = shape_inference.infer_shapes(onnx.load(str(path)))
    g = model.graph
    shapes = {}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        dims = vi.type.tensor_type.shape.dim
        shapes[vi.name] = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1 for d in dims]
    for init in g.initializer:
        shapes[init.name] = list(init.dims)
    producer = {o: n for n in g.node for o in n.output}

    def weight_shape(name):
        """The shape of a weight, looking through DequantizeLinear (QDQ graphs)."""
        if name in shapes:
            return shapes[name]
        n = producer.get(name)
        return weight_shape(n.input[0]) if n is not None and n.op_type == "DequantizeLinear" else None

    total, int8 = 0, False
    for n in g.node:
        op = n.op_type
        if op in ("QuantizeLinear", "QLinearConv", "ConvInteger", "QLinearMatMul", "MatMulInteger"):
            int8 = True
        if op not in ("Conv", "QLinearConv", "ConvInteger", "Gemm", "MatMul", "QLinearMatMul", "MatMulInteger",
                      "ConvTranspose"):
            continue
        out = shapes.get(n.output[0])
        w_in = {"QLinearConv": 3, "QLinearMatMul": 3}.get(op, 1)
        w = weight_shape(n.input[w_in]) if len(n.input) > w_in else None
        if out is None or w is None:
            continue
        out_n = int(np.prod(out))
        if op in ("Conv", "QLinearConv", "ConvInteger"):
            total += out_n * int(np.prod(w[1:]))  # W [O, I/groups, kh, kw]
        elif op == "ConvTranspose":
            x = shapes.get(n.input[0])
            if x:
                total += int(np.prod(x)) * int(np.prod(w[1:]))  # W [I, O/groups, kh, kw]
        elif op == "Gemm":
            trans_b = next((a.i for a in n.attribute if a.name == "transB"), 0)
            total += out_n * (w[1] if trans_b else w[0])
        else:  # MatMul family: [.., M, K] x [K, N]
            total += out_n * w[-2]
    del numpy_helper
    return {"macs": int(total), "precision": "int8" if int8 else "float32"}


def keras_macs(model) -> dict:
    """MACs of a tf_keras model from its Conv/DepthwiseConv/Dense layers (nested models included)."""
    total = 0
    for layer in _layers(model):
        kind = type(layer).__name__
        if kind not in ("Conv2D", "DepthwiseConv2D", "Dense", "SeparableConv2D", "Conv2DTranspose"):
            continue
        out = [int(d) if d else 1 for d in _shape(layer.output_shape)]
        out_n = int(np.prod(out))
        if kind == "Dense":
            total += out_n * int(layer.kernel.shape[0])
        elif kind == "DepthwiseConv2D":
            kh, kw = layer.kernel_size
            total += out_n * kh * kw
        elif kind == "Conv2D":
            kh, kw, cin_g, _ = layer.kernel.shape
            total += out_n * int(kh) * int(kw) * int(cin_g)
        elif kind == "SeparableConv2D":
            kh, kw = layer.kernel_size
            cin = int(layer.depthwise_kernel.shape[2])
            spatial = out_n // out[-1]
            total += spatial * cin * int(layer.depthwise_kernel.shape[3]) * kh * kw + out_n * int(layer.pointwise_kernel.shape[2])
        elif kind == "Conv2DTranspose":
            inp = [int(d) if d else 1 for d in _shape(layer.input_shape)]
            kh, kw, cout, cin = layer.kernel.shape
            total += int(np.prod(inp[:-1])) * int(kh) * int(kw) * int(cout) * int(cin)
    return {"macs": int(total), "precision": "float32"}


def _layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            yield from _layers(layer)
        else:
            yield layer


def _shape(s):
    return s[0] if isinstance(s, list) else s


def gmacs(macs: Optional[int], ms: Optional[float]) -> Optional[float]:
    """Effective GMAC/s: MACs per inference over the time of one inference (p50)."""
    if not macs or not ms or ms <= 0:
        return None
    return macs / (ms * 1e-3) / 1e9


def _keras_count(path, runner) -> dict:
    from edgetl.runtime.runners import load_keras_model

    return keras_macs(runner.model if runner is not None else load_keras_model(path))


# the MAC counters of the built-in runtimes, on their registry entries: hook(path, opened runner or None) -> dict
registry.attach("tflite", count_macs=lambda path, runner: tflite_macs(path))
registry.attach("onnx", count_macs=lambda path, runner: onnx_macs(path))
registry.attach("keras", count_macs=_keras_count)
