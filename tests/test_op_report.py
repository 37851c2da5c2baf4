"""report.md's op coverage table, the dynamic-range speed verdict and the --auto section (issue 12), on fake figures."""
from __future__ import annotations


def _row(name, kind, p50, size=4.0, threads=1, folder="/runs/a"):
    return {"artifact": f"{folder}/{name}", "name": name, "kind": kind, "p50_ms": p50, "size_mb": size,
            "threads": threads, "error": None}


def test_dynamic_slower_than_float_is_said_plainly_from_the_measured_rows():
    from edgetl.measure.verdicts import speed_notes

    rows = [_row("model_float32.tflite", "tflite:float32", 6.94, 8.9), _row("model_dynamic.tflite", "tflite:dynamic", 13.29, 2.3),
            _row("model_int8.tflite", "tflite:int8", 3.31, 2.7)]
    (note,) = speed_notes(rows)
    assert "model_dynamic.tflite (dynamic range) is 1.9x slower than model_float32.tflite" in note
    assert "trades speed for size" in note and "3.9x smaller" in note
    assert "For speed use int8 (model_int8.tflite: p50 3.31 ms, 2.1x as fast as float32)" in note


def test_no_verdict_when_dynamic_is_measured_faster_or_has_no_float_peer():
    from edgetl.measure.verdicts import speed_notes

    assert speed_notes([_row("f.tflite", "tflite:float32", 10.0), _row("d.tflite", "tflite:dynamic", 8.0)]) == []
    assert speed_notes([_row("d.tflite", "tflite:dynamic", 8.0)]) == []
    # within the float32 file's own spread (p50 below its p90): no verdict
    assert speed_notes([{**_row("f.tflite", "tflite:float32", 7.0), "p90_ms": 8.5}, _row("d.tflite", "tflite:dynamic", 8.0)]) == []
    # the float32 at another thread count is no peer
    assert speed_notes([_row("f.tflite", "tflite:float32", 5.0, threads=2), _row("d.tflite", "tflite:dynamic", 8.0)]) == []


def _tflite_profile(name, fallback_ops, partitions, per_op=False):
    fb = sum(fallback_ops.values())
    return {"artifact": f"/runs/a/{name}", "runtime": "tflite", "per_op": per_op, "nodes": 60, "delegated": 60 - fb,
            "fallback": fb, "partitions": partitions, "delegated_share": 0.6, "steps_ms_sum": 10.0,
            "fallback_ops": fallback_ops, "fallback_time_ms": {op: 4.0 for op in fallback_ops}, "by_op": []}


def test_report_has_an_op_coverage_table_per_artifact_the_verdict_and_the_auto_choice():
    from edgetl.report.markdown import measured_notes_markdown
    from edgetl.tflite.auto_float import select

    sel = select({"HARD_SWISH": 20, "QUANTIZE": 2}, [{"tensor": "model/conv/BiasAdd", "op": "CONV_2D",
                                                      "rmse_scale": 1.4, "scale": 0.02}])
    results = {
        "benchmark": {"results": [_row("model_float32.tflite", "tflite:float32", 7.0),
                                  _row("model_dynamic.tflite", "tflite:dynamic", 13.0)],
                      "ops": [_tflite_profile("model_int8.tflite", {"HARD_SWISH": 20, "QUANTIZE": 2}, 21),
                              _tflite_profile("model_float32.tflite", {}, 1)]},
        "quantize": {"artifacts": [{"file": "model_int8.tflite", "auto_keep_float": sel}]},
    }
    md = "\n".join(measured_notes_markdown(results))
    assert "**Note:** model_dynamic.tflite (dynamic range) is 1.9x slower" in md
    assert "## Op coverage" in md and "op types inside a partition were not timed" in md
    assert "| model_int8.tflite | tflite | 60 | 38 | 22 | 21 | 60% | HARD_SWISH x20 (40%), QUANTIZE x2 (40%) | - |" in md
    assert "| model_float32.tflite | tflite | 60 | 60 | 0 | 1 | 60% | none | - |" in md
    assert "## int8 `--auto`: model_int8.tflite" in md
    assert "kept in float: HARD_SWISH, model/conv/BiasAdd" in md and "| model/conv/BiasAdd | CONV_2D | 1.40 |" in md


def test_report_without_benchmark_ops_or_auto_adds_nothing():
    from edgetl.report.markdown import measured_notes_markdown

    assert measured_notes_markdown({"benchmark": {"results": [_row("m.tflite", "tflite:int8", 3.0)]}}) == []


def test_report_shows_what_int8_kept_in_float_and_the_max_drop_steps():
    from edgetl.report.markdown import measured_notes_markdown
    from edgetl.tflite.max_drop import control

    drops = iter([2.5, 0.8])
    res = control(lambda extra: {"drop": next(drops), "low": 0.1, "high": 3.0, "n": 225}, lambda: ["m/conv;x"], 1.0)
    rec = {"file": "model_int8.tflite", "max_drop": res,
           "kept_float": {"keep_float": ["HARD_SWISH", "m/conv;x"], "reasons": ["HARD_SWISH: no int8 kernel in XNNPACK"]}}
    md = "\n".join(measured_notes_markdown({"quantize": {"artifacts": [rec]}}))
    assert "model_int8.tflite keeps in float: HARD_SWISH, m/conv" in md and "  - HARD_SWISH: no int8 kernel" in md
    assert "## int8 `--max-drop 1`: model_int8.tflite" in md
    assert "0. the file as converted: drop +2.5 points [+0.1, +3.0], n = 225" in md
    assert "1. m/conv: drop +0.8 points [+0.1, +3.0], n = 225 (written)" in md and "**fits:**" in md
