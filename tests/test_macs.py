"""MAC counting and the GEMM peak model (issue 12, item 5): tiny real files, fast."""
from __future__ import annotations

import numpy as np
import pytest

from edgetl.measure import macs, peak


def test_tflite_fully_connected_macs_and_precision(tmp_path):
    for precision in ("float32", "int8"):
        f = tmp_path / f"fc_{precision}.tflite"
        f.write_bytes(peak.fc_model(4, 8, 16, precision))
        got = macs.tflite_macs(f)
        assert got == {"macs": 4 * 8 * 16, "precision": precision}


def test_the_peak_model_computes_a_real_matmul():
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=peak.fc_model(3, 5, 7, "float32", seed=2))
    it.allocate_tensors()
    x = np.arange(15, dtype=np.float32).reshape(3, 5)
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    w = np.random.default_rng(2).standard_normal((7, 5)).astype(np.float32) * 0.05
    np.testing.assert_allclose(it.get_tensor(it.get_output_details()[0]["index"]), x @ w.T, rtol=1e-5, atol=1e-5)


def _onnx_conv_gemm(path, qdq=False):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((8, 3, 3, 3), np.float32), "W")
    b = numpy_helper.from_array(np.ones((4, 8 * 16 * 16), np.float32), "B")
    shape = numpy_helper.from_array(np.array([1, -1], np.int64), "shape")
    nodes, inits, x = [], [w, b, shape], "x"
    if qdq:
        inits += [numpy_helper.from_array(np.array(0.1, np.float32), "s"), numpy_helper.from_array(np.array(0, np.uint8), "z")]
        nodes += [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
                  helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"])]
        x = "xd"
    nodes += [helper.make_node("Conv", [x, "W"], ["c"], pads=[1, 1, 1, 1]),
              helper.make_node("Reshape", ["c", "shape"], ["r"]),
              helper.make_node("Gemm", ["r", "B"], ["y"], transB=1)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 16, 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))


@pytest.mark.parametrize("qdq", [False, True])
def test_onnx_conv_and_gemm_macs(tmp_path, qdq):
    f = tmp_path / "m.onnx"
    _onnx_conv_gemm(f, qdq)
    got = macs.onnx_macs(f)
    conv = 8 * 16 * 16 * 3 * 3 * 3  # output elements x (I/groups x kh x kw)
    gemm = 4 * 8 * 16 * 16
    assert got == {"macs": conv + gemm, "precision": "int8" if qdq else "float32"}


def test_gmacs_and_percent_of_peak():
    assert macs.gmacs(300_000_000, 3.0) == pytest.approx(100.0)
    assert macs.gmacs(None, 3.0) is None and macs.gmacs(10, 0) is None
    top, pct = peak.percent_of_peak(20.0, "int8", 2, {"float32": 30.0, "int8": 40.0})
    assert top == 80.0 and pct == pytest.approx(25.0)
    assert peak.percent_of_peak(20.0, None, 1, {"float32": 30.0, "int8": 40.0}) == (None, None)
