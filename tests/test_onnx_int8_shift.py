"""Int8 ONNX files hold uint8 tensors inside: the shift is exact and keeps onnxruntime's x86 kernels from saturating."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgetl.onnx.surgery import int8_tensors_to_uint8

CHANNELS = 16


def _qdq_conv() -> onnx.ModelProto:
    """int8 input -> DQ -> Conv(DQ(full-range per-channel int8 weights)) -> Q(int8) -> DQ -> Relu -> Q -> int8 output.

    (onnxruntime does not fuse this small graph into QLinearConv, so the saturation itself is shown by
    tests/test_quantize.py::test_int8_onnx_agrees_with_int8_tflite on a real tf2onnx graph.)
    """
    rng = np.random.default_rng(0)
    signs = np.where(np.arange(4) % 2 == 0, 1, -1).astype(np.int8)
    w = (signs[:, None, None, None] * 127 * np.ones((4, CHANNELS, 1, 1))).astype(np.int8)
    inits = [numpy_helper.from_array(w, "w_q"),
             numpy_helper.from_array(rng.uniform(0.001, 0.01, 4).astype(np.float32), "w_scale"),
             numpy_helper.from_array(np.zeros(4, np.int8), "w_zp"),
             numpy_helper.from_array(np.float32(0.05), "x_scale"), numpy_helper.from_array(np.int8(-3), "x_zp"),
             numpy_helper.from_array(np.float32(0.2), "a_scale"), numpy_helper.from_array(np.int8(5), "a_zp"),
             numpy_helper.from_array(np.float32(0.1), "y_scale"), numpy_helper.from_array(np.int8(-128), "y_zp")]
    nodes = [helper.make_node("DequantizeLinear", ["x", "x_scale", "x_zp"], ["x_f"]),
             helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zp"], ["w_f"], axis=0),
             helper.make_node("Conv", ["x_f", "w_f"], ["c"]),
             helper.make_node("QuantizeLinear", ["c", "a_scale", "a_zp"], ["c_q"]),
             helper.make_node("DequantizeLinear", ["c_q", "a_scale", "a_zp"], ["c_f"]),
             helper.make_node("Relu", ["c_f"], ["r"]),
             helper.make_node("QuantizeLinear", ["r", "y_scale", "y_zp"], ["y"])]
    graph = helper.make_graph(nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.INT8, [1, CHANNELS, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.INT8, [1, 4, 4, 4])], inits)
    graph.value_info.append(helper.make_tensor_value_info("c_q", TensorProto.INT8, [1, 4, 4, 4]))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _run(model: onnx.ModelProto, x: np.ndarray, optimize: bool) -> np.ndarray:
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                     else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def _inputs() -> np.ndarray:
    return np.random.default_rng(1).integers(100, 128, (1, CHANNELS, 4, 4)).astype(np.int8)


def test_the_shift_keeps_the_graph_io_int8_and_leaves_no_other_int8_tensor():
    shifted = int8_tensors_to_uint8(_qdq_conv())
    onnx.checker.check_model(shifted)
    graph = shifted.graph
    assert graph.input[0].type.tensor_type.elem_type == TensorProto.INT8
    assert graph.output[0].type.tensor_type.elem_type == TensorProto.INT8
    io_zero_points = {n.input[2] for n in graph.node if n.input[0] == "x" or n.output[0] == "y"}
    int8 = {t.name for t in graph.initializer if t.data_type == TensorProto.INT8}
    assert int8 == io_zero_points == {"x_zp", "y_zp"}
    w = numpy_helper.to_array(next(t for t in graph.initializer if t.name == "w_q"))
    assert w.dtype == np.uint8 and set(np.unique(w)) == {1, 255}  # -127 + 128, 127 + 128


def test_a_zero_point_shared_by_the_output_and_an_inner_tensor_is_split():
    model = _qdq_conv()
    out_q = next(n for n in model.graph.node if n.output[0] == "y")
    out_q.input[1], out_q.input[2] = "a_scale", "a_zp"  # the output now shares its zero point with c_q
    x = _inputs()
    reference = _run(model, x, optimize=False)
    shifted = int8_tensors_to_uint8(model)
    inits = {t.name: t for t in shifted.graph.initializer}
    assert inits["a_zp"].data_type == TensorProto.UINT8 and inits[out_q.input[2]].data_type == TensorProto.INT8
    np.testing.assert_array_equal(_run(shifted, x, optimize=True), reference)


def test_the_shifted_graph_computes_exactly_the_reference_with_every_onnxruntime_optimization():
    x = _inputs()
    reference = _run(_qdq_conv(), x, optimize=False)  # the ONNX operators' own arithmetic, no fused kernels
    np.testing.assert_array_equal(_run(int8_tensors_to_uint8(_qdq_conv()), x, optimize=False), reference)
    np.testing.assert_array_equal(_run(int8_tensors_to_uint8(_qdq_conv()), x, optimize=True), reference)


def test_on_a_vnni_host_only_the_activations_are_shifted_and_the_weights_stay_int8():
    """Issue 19: uint8 weights force onnxruntime's U8U8 kernels, which have no VNNI path (slower than float ONNX
    there); U8S8 with int8 weights is exact on VNNI. A zero point shared by a weight and an activation is split."""
    model = _qdq_conv()
    w_dq = next(n for n in model.graph.node if n.input[0] == "w_q")
    a_nodes = [n for n in model.graph.node if len(n.input) > 2 and n.input[2] == "a_zp"]
    model.graph.initializer.extend([numpy_helper.from_array(np.zeros((), np.int8), "zero"),
                                    numpy_helper.from_array(np.float32(0.004), "w_scale1")])
    w_dq.input[1], w_dq.input[2] = "w_scale1", "zero"  # per-tensor weights, zero point shared below with c_q
    del w_dq.attribute[:]
    for n in a_nodes:
        n.input[2] = "zero"
    x = _inputs()
    reference = _run(model, x, optimize=False)
    shifted = int8_tensors_to_uint8(model, weights=False)
    onnx.checker.check_model(shifted)
    inits = {t.name: t for t in shifted.graph.initializer}
    w_dq = next(n for n in shifted.graph.node if n.input[0] == "w_q")
    assert inits["w_q"].data_type == TensorProto.INT8 and inits[w_dq.input[2]].data_type == TensorProto.INT8
    assert w_dq.input[2] != "zero" and inits["zero"].data_type == TensorProto.UINT8  # the activation's, shifted
    assert numpy_helper.to_array(inits["zero"]) == 128 and numpy_helper.to_array(inits[w_dq.input[2]]) == 0
    np.testing.assert_array_equal(_run(shifted, x, optimize=False), reference)
    np.testing.assert_array_equal(_run(shifted, x, optimize=True), reference)


def test_the_weight_type_follows_the_int8_dot_product_of_the_converting_cpu():
    from edgetl.measure.onnx_weights import uint8_weights

    assert uint8_weights({"machine": "x86_64", "avx2": True, "vnni": False})[0] is True  # U8S8 saturates there
    assert uint8_weights({"machine": "x86_64", "avx2": True, "vnni": True})[0] is False
    assert uint8_weights({"machine": "x86_64", "amx": True})[0] is False
    assert uint8_weights({"machine": "aarch64"})[0] is True  # as before issue 19: int8 not measured there
    assert "VNNI" in uint8_weights({"machine": "x86_64", "vnni": False})[1]
