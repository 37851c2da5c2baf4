"""What an artifact file says about itself: embedded metadata, input/output tensors (shape, dtype,
quantization), op counts. For ``.tflite`` (edgetl's, Google's Coral files, any other) and ``.onnx``; each is
the ``inspect`` of its runtime's entry in the runtime registry, which picks the reader by the file.

Read from the file alone (the flatbuffer / protobuf), never from a sidecar, so ``edgetl inspect``
shows what a client that only has the file sees.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from edgetl.errors import EdgetlError


# ---- TFLite --------------------------------------------------------------------------------------

def _type_names(schema) -> dict:
    return {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}


def _op_names(schema) -> dict:
    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def tflite_op_names(data: bytes) -> list:
    """The builtin op names (CONV_2D, HARD_SWISH, ...) a TFLite flatbuffer's operators use, sorted."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(data, 0)
    ops = _op_names(schema)
    codes = [model.OperatorCodes(i) for i in range(model.OperatorCodesLength())]
    names = [ops.get(max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode()), "") for oc in codes]
    used = set()
    for g in range(model.SubgraphsLength()):
        sub = model.Subgraphs(g)
        used.update(names[sub.Operators(i).OpcodeIndex()] for i in range(sub.OperatorsLength()))
    return sorted(n for n in used if n)


def _tensor(t, types) -> dict:
    d = {"name": t.Name().decode("utf-8", "replace") if t.Name() else "",
         "shape": [int(x) for x in (t.ShapeAsNumpy() if t.ShapeLength() else [])],
         "dtype": types.get(t.Type(), str(t.Type()))}
    q = t.Quantization()
    if q is not None and q.ScaleLength():
        scales = [float(x) for x in q.ScaleAsNumpy()]
        zps = [int(x) for x in q.ZeroPointAsNumpy()] if q.ZeroPointLength() else [0] * len(scales)
        if len(scales) == 1:
            d["scale"], d["zero_point"] = scales[0], zps[0]
        else:  # per-channel (weights)
            d["scale"] = {"channels": len(scales), "min": min(scales), "max": max(scales)}
            d["quantized_dimension"] = int(q.QuantizedDimension())
    return d


def inspect_tflite(path: Path) -> dict:
    from ai_edge_litert import schema_py_generated as schema

    from edgetl.formats import metadata as tflite_metadata

    data = path.read_bytes()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise EdgetlError(f"{path} is not a TFLite file (no TFL3 identifier); re-export it with `edgetl quantize`")
    try:
        model = schema.Model.GetRootAs(data, 0)
        types, ops = _type_names(schema), _op_names(schema)
        codes = []
        for i in range(model.OperatorCodesLength()):
            oc = model.OperatorCodes(i)
            code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
            name = ops.get(code, str(code))
            if name == "CUSTOM" and oc.CustomCode():
                name = "CUSTOM:" + oc.CustomCode().decode("utf-8", "replace")
            codes.append(name)
        sub = model.Subgraphs(0)
        tensors = [_tensor(sub.Tensors(i), types) for i in range(sub.TensorsLength())]
        counts = Counter(codes[sub.Operators(i).OpcodeIndex()] for i in range(sub.OperatorsLength()))
        inputs = [tensors[int(i)] for i in sub.InputsAsNumpy()]
        outputs = [tensors[int(i)] for i in sub.OutputsAsNumpy()]
        subgraphs = model.SubgraphsLength()
    except EdgetlError:
        raise
    except Exception as e:  # a corrupt flatbuffer raises struct/index errors from deep inside
        raise EdgetlError(f"{path}: the TFLite flatbuffer does not parse ({type(e).__name__}); re-export it") from None
    meta = tflite_metadata.read(data)
    if meta is not None:
        files = meta.pop("files")
        meta["packed_files"] = {n: len(b) for n, b in files.items()}
        labels = tflite_metadata.labels({**meta, "files": files})
        meta["labels"] = {"count": len(labels), "first": labels[:5]} if labels else None
        contract = files.get(tflite_metadata.CONTRACT_FILE)
        meta["edgetl_contract"] = json.loads(contract.decode("utf-8")) if contract else None
    return {"file": str(path), "format": "tflite", "bytes": len(data), "metadata": meta,
            "inputs": inputs, "outputs": outputs, "subgraphs": subgraphs,
            "tensors": {"count": len(tensors), "quantized": sum(1 for t in tensors if "scale" in t)},
            "ops": dict(counts.most_common()), "op_count": sum(counts.values())}


# ---- ONNX ----------------------------------------------------------------------------------------

def _onnx_io(v, elem_types) -> dict:
    tt = v.type.tensor_type
    shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim]
    return {"name": v.name, "shape": shape, "dtype": elem_types.get(tt.elem_type, str(tt.elem_type))}


def inspect_onnx(path: Path) -> dict:
    import onnx

    from edgetl.formats.registry import ONNX_CONTRACT_KEY

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # protobuf decode errors
        raise EdgetlError(f"{path} is not a valid ONNX model ({type(e).__name__}); re-export it with `edgetl convert`") \
            from None
    elem_types = {v: k.lower() for k, v in onnx.TensorProto.DataType.items()}
    g = model.graph
    init = {t.name for t in g.initializer}
    inputs = [_onnx_io(v, elem_types) for v in g.input if v.name not in init]
    outputs = [_onnx_io(v, elem_types) for v in g.output]
    consts = {t.name: t for t in g.initializer}
    # the quantization of the graph's input/output, where a QuantizeLinear/DequantizeLinear touches them
    for node in g.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") and len(node.input) >= 2:
            for io in inputs + outputs:
                if io["name"] in (node.input[0], node.output[0]) and node.input[1] in consts:
                    scale = onnx.numpy_helper.to_array(consts[node.input[1]])
                    io["scale"] = float(scale.reshape(-1)[0])
                    if len(node.input) > 2 and node.input[2] in consts:
                        io["zero_point"] = int(onnx.numpy_helper.to_array(consts[node.input[2]]).reshape(-1)[0])
    props = {p.key: p.value for p in model.metadata_props}
    meta = {"metadata_props": {k: (v if len(v) <= 200 else f"<{len(v)} chars>") for k, v in props.items()},
            "producer": f"{model.producer_name} {model.producer_version}".strip(),
            "opsets": {o.domain or "ai.onnx": o.version for o in model.opset_import}}
    if ONNX_CONTRACT_KEY in props:
        try:
            meta["edgetl_contract"] = json.loads(props[ONNX_CONTRACT_KEY])
        except ValueError:
            meta["edgetl_contract"] = None
    counts = Counter(n.op_type for n in g.node)
    return {"file": str(path), "format": "onnx", "bytes": path.stat().st_size, "metadata": meta,
            "inputs": inputs, "outputs": outputs, "subgraphs": 1,
            "tensors": {"count": len(g.initializer) + len(g.value_info) + len(inputs) + len(outputs),
                        "initializers": len(g.initializer)},
            "ops": dict(counts.most_common()), "op_count": sum(counts.values())}
