"""`edgetl benchmark --ops` (issue 12, item 1): op coverage and time shares on small real files."""
from __future__ import annotations

import json

import pytest

from edgetl.measure import ops, peak


def test_tflite_coverage_of_a_fully_delegated_model(tmp_path):
    f = tmp_path / "fc.tflite"
    f.write_bytes(peak.fc_model(8, 16, 32, "int8"))
    prof = ops.profile(f)
    assert prof["nodes"] == 1 and prof["delegated"] == 1 and prof["fallback"] == 0 and prof["partitions"] == 1
    assert prof["delegated_ops"] == {"FULLY_CONNECTED": 1} and prof["delegated_share"] == pytest.approx(1.0)
    row = ops.table_row(prof)
    assert row["fallback_summary"] == "none" and row["top_ops"].startswith("FULLY_CONNECTED x1 100%")


def test_without_xnnpack_every_node_falls_back(tmp_path):
    f = tmp_path / "fc.tflite"
    f.write_bytes(peak.fc_model(8, 16, 32, "float32"))
    prof = ops.profile(f, xnnpack=False)
    assert prof["delegated"] == 0 and prof["fallback"] == 1 and prof["partitions"] == 0
    assert prof["fallback_ops"] == {"FULLY_CONNECTED": 1} and prof["steps"][0]["ms"] > 0


def test_onnx_node_profile(tmp_path):
    from test_macs import _onnx_conv_gemm

    f = tmp_path / "m.onnx"
    _onnx_conv_gemm(f, qdq=True)
    prof = ops.profile(f, runs=5)
    kinds = {o["op"] for o in prof["by_op"]}
    assert {"Conv", "Gemm", "QuantizeLinear"} <= kinds
    assert prof["providers"] == {"CPUExecutionProvider": prof["nodes"]}
    assert sum(o["share"] for o in prof["by_op"]) == pytest.approx(1.0)


@pytest.mark.slow
def test_benchmark_ops_on_google_uint8_file_finds_the_fallback_ops(tmp_path):
    from conftest import CORAL, need
    from edgetl.config.stages import BenchmarkConfig
    from edgetl.measure.bench import benchmark

    need(CORAL)
    f = CORAL / "mobilenet_v1_0.25_128_quant.tflite"
    result = benchmark([f], BenchmarkConfig(runs=3, min_seconds=0.05, warmup=1, rounds=1), ops=True, measure_peak=False)
    (prof,) = result["ops"]
    # the uint8 graph: XNNPACK takes the convolutions, TFLite's own kernels run the uint8 pool and softmax
    assert prof["fallback_ops"] == {"AVERAGE_POOL_2D": 1, "SOFTMAX": 1} and prof["partitions"] == 2
    assert prof["delegated_ops"]["CONV_2D"] >= 14 and prof["delegated_share"] > 0.5
    assert result["results"][0]["macs"] == 13_570_304 and result["results"][0]["precision"] == "int8"
    json.dumps(result)  # the JSON output carries it
