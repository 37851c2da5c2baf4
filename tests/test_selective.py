"""Selective int8 (`quantize --keep-float`, issue 12 item 2) and the op coverage that motivates it."""
from __future__ import annotations

import numpy as np
import pytest

from edgetl.tflite.selective import split_keep_float


def test_keep_float_names_split_into_ops_and_tensors():
    assert split_keep_float(["HARD_SWISH,MEAN", "model/conv_1/Relu6", " "]) == (["HARD_SWISH", "MEAN"],
                                                                                 ["model/conv_1/Relu6"])
    assert split_keep_float(None) == ([], [])


@pytest.mark.slow
def test_int8_hard_swish_falls_back_and_keep_float_puts_it_back_in_xnnpack(tmp_path):
    from edgetl import _tf
    from edgetl.formats.contract import Contract
    from edgetl.tflite.converter import convert_tflite
    from edgetl.measure.ops import tflite_coverage

    keras = _tf.keras()
    _tf.set_seed(0)
    x = inp = keras.Input((32, 32, 3))
    for filters in (8, 16):
        x = keras.layers.Conv2D(filters, 3, padding="same")(x)
        x = x * keras.layers.ReLU(6.0)(x + 3.0) / 6.0  # hard-swish, as keras.applications.MobileNetV3 writes it
    x = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inp, x)
    c = Contract(labels=["a", "b", "c"], height=32, width=32, output_units=3)
    cal = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    convert_tflite(model, c, ["int8"], tmp_path / "plain", calibration=cal, keep_float=["none"])
    convert_tflite(model, c, ["int8"], tmp_path / "keep", calibration=cal, keep_float=["HARD_SWISH"])

    def fallback(path):
        cov = tflite_coverage(path)
        return [n["op"] for n in cov["nodes"] if n["partition"] is None], len(cov["partitions"])

    plain_fb, plain_parts = fallback(tmp_path / "plain" / "model_int8.tflite")
    keep_fb, keep_parts = fallback(tmp_path / "keep" / "model_int8.tflite")
    assert plain_fb.count("HARD_SWISH") == 2 and plain_parts >= 2
    assert "HARD_SWISH" not in keep_fb and keep_parts < plain_parts


# ---- quantize --auto (issue 12): the selection rule on fake evidence, then one real model -------------------

def _err(tensor, op, rmse_scale):
    return {"tensor": tensor, "op": op, "rmse_scale": rmse_scale, "scale": 0.1}


def test_auto_keeps_fallback_ops_but_never_the_quantize_ops_themselves():
    from edgetl.tflite.auto_float import select

    sel = select({"HARD_SWISH": 20, "QUANTIZE": 1, "DEQUANTIZE": 1, "MEAN": 0}, [])
    assert sel["keep_float"] == ["HARD_SWISH"] and sel["tensors"] == []
    assert "HARD_SWISH: 20 node(s) fall back" in sel["reasons"][0]


def test_auto_keeps_the_worst_tensors_above_the_threshold_up_to_the_cap():
    from edgetl.tflite.auto_float import select

    errors = [_err("a", "CONV_2D", 0.30), _err("b", "CONV_2D", 2.5), _err("c", "ADD", 0.71), _err("d", "MUL", 0.69),
              _err("e", "HARD_SWISH", 9.0), _err("f", "CONV_2D", 1.2), _err("nan", "CONV_2D", float("nan"))]
    sel = select({"HARD_SWISH": 2}, errors, threshold=0.7, max_tensors=2, top_n=4)
    # e is made by HARD_SWISH, already kept as an op: not counted against the cap
    assert sel["keep_float"] == ["HARD_SWISH", "b", "f"]
    assert any("1 more tensor(s) above 0.7" in r for r in sel["reasons"])  # c was over but capped
    assert [(e["tensor"], e["kept"]) for e in sel["layer_error"]] == [("e", True), ("b", True), ("f", True),
                                                                      ("c", False)]
    assert sel["tensors_measured"] == 6  # the nan row is not a measurement


def test_auto_with_nothing_to_fix_keeps_nothing_and_says_so():
    from edgetl.tflite.auto_float import select

    sel = select({"QUANTIZE": 1}, [_err("a", "CONV_2D", 0.3)])
    assert sel["keep_float"] == [] and "nothing to keep" in sel["reasons"][0]


def test_debugger_csv_gives_rmse_over_scale():
    from edgetl.tflite.auto_float import parse_layer_stats

    text = ("op_name,tensor_idx,num_elements,stddev,mean_error,max_abs_error,mean_squared_error,scale,zero_point,"
            "tensor_name\nCONV_2D,5,10,0.1,0.0,0.3,0.04,0.1,0,model/conv/BiasAdd\nADD,6,10,,,,bad,0.1,0,x\n")
    rows = parse_layer_stats(text)
    assert len(rows) == 1 and rows[0]["tensor"] == "model/conv/BiasAdd" and rows[0]["op"] == "CONV_2D"
    assert rows[0]["rmse_scale"] == pytest.approx(2.0)


def test_qat_error_is_rmse_of_dequantized_minus_float_over_the_scale():
    from edgetl.tflite.qat_error import rmse_scale, squared_error

    # int8 [10, 12, 14], zero point 10, scale 0.5 -> [0, 1, 2]; float [0, 1, 2.5]: errors 0, 0, -0.5
    sse, n, mx = squared_error(np.array([10, 12, 14], np.int8), np.array([0.0, 1.0, 2.5]), 0.5, 10)
    assert (sse, n, mx) == (pytest.approx(0.25), 3, pytest.approx(0.5))
    assert rmse_scale(sse, n, 0.5) == pytest.approx(np.sqrt(0.25 / 3) / 0.5)  # 0.577 steps
    sse2, n2, _ = squared_error(np.array([[11]], np.uint8), np.array([[0.0]]), 0.5, 10)  # a second image adds up
    assert rmse_scale(sse + sse2, n + n2, 0.5) == pytest.approx(np.sqrt(0.5 / 4) / 0.5)
    assert rmse_scale(0.0, 0, 0.5) is None and rmse_scale(1.0, 1, 0.0) is None


class _FakeInterpreter:
    """_get_ops_details/get_tensor_details of a TFLite interpreter: ops as (type, output index, shape, int8?)."""

    def __init__(self, ops):
        self.ops = ops

    def _get_ops_details(self):
        return [{"op_name": op, "outputs": [i]} for op, i, _, _ in self.ops]

    def get_tensor_details(self):
        return [{"index": i, "name": f"t{i}", "shape": shape, "dtype": np.int8 if q else np.float32,
                 "quantization_parameters": {"scales": np.array([0.1] if q else []), "zero_points": np.array([0])}}
                for _, i, shape, q in self.ops]


def test_qat_tensors_match_the_float_twin_by_op_order_within_each_type():
    from edgetl.tflite.qat_error import match

    q = _FakeInterpreter([("QUANTIZE", 0, [1, 4], True), ("CONV_2D", 1, [1, 4], True), ("ADD", 2, [1, 4], True),
                          ("CONV_2D", 3, [1, 2], True), ("CONV_2D", 4, [1, 3], False), ("MEAN", 5, [1, 3], True),
                          ("SOFTMAX", 6, [1, 3], True)])
    f = _FakeInterpreter([("CONV_2D", 10, [1, 4], False), ("CONV_2D", 11, [1, 9], False), ("ADD", 12, [1, 4], False),
                          ("CONV_2D", 13, [1, 3], False), ("SOFTMAX", 16, [1, 3], False)])
    pairs, unmatched = match(q, f)
    # CONV_2D #1 matches, #2 differs in shape, #3 is float in the int8 file (kept); ADD and SOFTMAX match;
    # MEAN has no op in the float file; QUANTIZE is the hand-over, never matched
    assert [(op, qd["index"], fi) for op, qd, fi in pairs] == [("CONV_2D", 1, 10), ("ADD", 2, 12), ("SOFTMAX", 6, 16)]
    assert unmatched == 2


def test_report_renders_the_auto_choice_and_the_error_table():
    from edgetl.report.markdown import error_table_markdown
    from edgetl.tflite.auto_float import select

    sel = select({"HARD_SWISH": 2}, [_err("model/conv/BiasAdd", "CONV_2D", 1.5), _err("ok", "ADD", 0.2)])
    md = "\n".join(error_table_markdown(sel))
    assert "kept in float: HARD_SWISH, model/conv/BiasAdd" in md
    assert "| model/conv/BiasAdd | CONV_2D | 1.50 |" in md and "| ok | ADD | 0.20 |" in md  # two decimals throughout


@pytest.mark.slow
def test_auto_keeps_the_fallback_op_in_float_and_the_file_passes_the_gate(tmp_path):
    from edgetl import _tf
    from edgetl.formats.contract import Contract
    from edgetl.measure.ops import tflite_coverage
    from edgetl.runtime.parity import Gate, load_records
    from edgetl.runtime.runners import KerasRunner
    from edgetl.stages.quantize import _auto_int8

    keras = _tf.keras()
    _tf.set_seed(0)
    x = inp = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, padding="same")(x)
    x = x * keras.layers.ReLU(6.0)(x + 3.0) / 6.0  # hard-swish, as keras.applications.MobileNetV3 writes it
    x = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inp, x)
    c = Contract(labels=["r", "g", "b"], height=32, width=32, output_units=3)
    rng = np.random.default_rng(0)  # class k: channel k bright; an easy task, so the gate has a clear answer
    y = rng.integers(0, 3, 600)
    pixels = rng.integers(0, 120, (600, 32, 32, 3)).astype(np.uint8)
    pixels[np.arange(600), :, :, y] += 120
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(c.normalize(pixels[:300]), y[:300], epochs=8, batch_size=32, verbose=0)
    gate = Gate(KerasRunner(tmp_path / "model.keras", c, model=model), pixels[300:], {"int8": 0.95},
                pixels[300:], y[300:], "synthetic")
    rec = _auto_int8(model, c, tmp_path, pixels[:64], "uint8", "model", gate, None, False, [])
    sel = rec["auto_keep_float"]
    assert "HARD_SWISH" in sel["keep_float"] and sel["fallback_ops"].get("HARD_SWISH") == 1
    assert sel["layer_error"] and all(e["rmse_scale"] >= 0 for e in sel["layer_error"])
    assert rec["gate"] == "pass", rec
    cov = tflite_coverage(tmp_path / "model_int8.tflite")
    assert "HARD_SWISH" not in [n["op"] for n in cov["nodes"] if n["partition"] is None]
    saved = load_records(tmp_path)["model_int8.tflite"]
    assert saved["gate"] == "pass" and saved["auto_keep_float"]["keep_float"] == sel["keep_float"]


# ---- the default int8 is the fast int8 (issue 19): --keep-float fallback ----------------------------------

def test_keep_float_keywords_resolve_to_the_rule_and_names():
    from edgetl.errors import EdgetlError
    from edgetl.formats.keep_float import resolve

    assert resolve(None) == (True, [])  # the default: QuantizeConfig.keep_float = ["fallback"]
    assert resolve(["none"]) == (False, [])
    assert resolve(["HARD_SWISH"]) == (False, ["HARD_SWISH"])  # names replace the default...
    assert resolve(["fallback,MEAN", "x/y"]) == (True, ["MEAN", "x/y"])  # ...unless it is named too
    with pytest.raises(EdgetlError, match="none means nothing in float"):
        resolve(["none", "MEAN"])


def test_only_fallback_ops_between_two_xnnpack_steps_cut_the_graph():
    from edgetl.tflite.keep_float import split_fallback

    steps = [{"kind": "fallback", "op": "QUANTIZE"}, {"kind": "XNNPACK", "op": "partition 0"},
             {"kind": "fallback", "op": "HARD_SWISH"}, {"kind": "XNNPACK", "op": "partition 1"},
             {"kind": "fallback", "op": "HARD_SWISH"}, {"kind": "XNNPACK", "op": "partition 2"},
             {"kind": "fallback", "op": "SOFTMAX"}, {"kind": "fallback", "op": "DEQUANTIZE"}]
    assert split_fallback(steps) == ({"HARD_SWISH": 2, "SOFTMAX": 1}, {"HARD_SWISH": 2})
    assert split_fallback([{"kind": "fallback", "op": "SOFTMAX"}]) == ({"SOFTMAX": 1}, {})


def test_fast_int8_converts_again_with_the_cutting_ops_in_float_and_says_why(monkeypatch):
    from edgetl.errors import EdgetlError
    from edgetl.tflite import keep_float as selective

    coverage = {b"plain": ({"HARD_SWISH": 3, "SOFTMAX": 1}, {"HARD_SWISH": 3}), b"kept": ({"SOFTMAX": 1}, {})}
    monkeypatch.setattr(selective, "fallback_ops", lambda data: coverage[data])
    calls = []

    def convert(names):
        calls.append(list(names))
        return b"kept" if "HARD_SWISH" in names else b"plain"

    data, rec = selective.fast_int8(convert, None)
    assert data == b"kept" and calls == [[], ["HARD_SWISH"]] and rec["keep_float"] == ["HARD_SWISH"]
    assert rec["fallback_ops_left"] == {"SOFTMAX": 1} and "HARD_SWISH: no int8 kernel in XNNPACK" in rec["reasons"][0]
    assert any(r.startswith("SOFTMAX:") and "left int8" in r for r in rec["reasons"])

    calls.clear()
    data, rec = selective.fast_int8(convert, ["none"])
    assert data == b"plain" and calls == [[]] and rec["keep_float"] == [] and rec["rule"] == "none"

    def refuses(names):  # e.g. a graph the debugger cannot denylist: the first file stays, said so
        if names:
            raise EdgetlError("denylisting failed")
        return b"plain"

    data, rec = selective.fast_int8(refuses, None)
    assert data == b"plain" and rec["keep_float"] == []
    assert any("could not keep HARD_SWISH in float (denylisting failed)" in r for r in rec["reasons"])


@pytest.mark.slow
def test_default_int8_of_mobilenet_v3_keeps_hard_swish_float_and_none_writes_the_plain_file(tmp_path):
    """A real MobileNetV3-Small (random weights, 32 px) through convert_tflite, the gate and LiteRT: the default
    int8 file has no HARD_SWISH outside XNNPACK and one partition; --keep-float none has them all outside."""
    import json

    from edgetl import _tf
    from edgetl.backbones.registry import build_base, get_backbone
    from edgetl.formats.contract import Contract
    from edgetl.tflite.converter import convert_tflite
    from edgetl.measure.ops import tflite_coverage
    from edgetl.runtime.parity import Gate, load_records
    from edgetl.runtime.runners import KerasRunner

    keras = _tf.keras()
    _tf.set_seed(0)
    base = build_base(get_backbone("mobilenet_v3_small"), 32, None, None)
    model = keras.Model(base.input, keras.layers.Dense(3, activation="softmax")(
        keras.layers.GlobalAveragePooling2D()(base.output)))
    c = Contract(labels=["a", "b", "c"], height=32, width=32, output_units=3)
    pixels = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
    files = {}
    for name, keep in (("default", None), ("plain", ["none"])):
        gate = Gate(KerasRunner(tmp_path / "model.keras", c, model=model), pixels, {"int8": 0.0}, pixels,
                    np.zeros(16, int), "synthetic")  # random weights: the gate runs, its threshold is not the point
        rec = convert_tflite(model, c, ["int8"], tmp_path / name, calibration=pixels[:8], gate=gate,
                             keep_float=keep)["int8"]
        cov = tflite_coverage(tmp_path / name / "model_int8.tflite")
        files[name] = (rec, [n["op"] for n in cov["nodes"] if n["partition"] is None], len(cov["partitions"]))
    rec, fallback, parts = files["default"]
    assert rec["keep_float"] == ["HARD_SWISH"] and rec["kept_float"]["fallback_ops"]["HARD_SWISH"] >= 10
    assert "HARD_SWISH" not in fallback and parts == 1 and rec["input_dtype"] == "uint8"  # --io is honoured
    contract = json.loads((tmp_path / "default" / "model_int8.json").read_text())
    assert contract["kept_float"]["keep_float"] == ["HARD_SWISH"] and "no int8 kernel" in contract["kept_float"]["reasons"][0]
    assert load_records(tmp_path / "default")["model_int8.tflite"]["keep_float"] == ["HARD_SWISH"]
    rec, fallback, parts = files["plain"]
    assert rec["keep_float"] == [] and fallback.count("HARD_SWISH") >= 10 and parts > 10


# ---- --max-drop (issue 19 item 2): the paired drop and the greedy put-back, on fake measurements ------------

def test_paired_drop_counts_points_on_the_same_images_with_an_interval():
    from edgetl.tflite.max_drop import paired_drop

    ref = np.array([1] * 90 + [0] * 10, bool)
    got = ref.copy()
    got[:4] = False  # four images right in float, wrong in int8
    got[95] = True  # one the other way
    d = paired_drop(ref, got)
    assert d["n"] == 100 and d["drop"] == pytest.approx(3.0) and d["low"] < 3.0 < d["high"]
    assert d["reference_acc"] == pytest.approx(0.9) and d["candidate_acc"] == pytest.approx(0.87)
    assert paired_drop(ref, ref)["drop"] == 0.0 and paired_drop(ref, ref)["high"] == 0.0


def _drop(points, half=1.0):
    return {"drop": points, "low": points - half, "high": points + half, "n": 200}


def test_max_drop_puts_back_the_worst_tensors_until_the_drop_fits():
    from edgetl.tflite.max_drop import control

    drops = {(): 3.0, ("t1",): 2.0, ("t1", "t2"): 0.5}
    asked = []
    res = control(lambda extra: _drop(drops[tuple(extra)]), lambda: asked.append(1) or ["t1", "t2", "t3"], 1.0)
    assert [s["kept"] for s in res["steps"]] == [[], ["t1"], ["t1", "t2"]] and res["best"] == 2
    assert res["verdict"] == "fits" and "after putting 2 tensor(s) back into float" in res["message"] and asked == [1]
    # within the limit at once: no ranking asked for, no step taken
    asked.clear()
    res = control(lambda extra: _drop(0.4), lambda: asked.append(1) or ["t1"], 1.0)
    assert len(res["steps"]) == 1 and res["verdict"] == "fits" and asked == []


def test_max_drop_that_cannot_fit_stops_at_the_cap_keeps_the_best_step_and_names_qat():
    from edgetl.tflite.max_drop import control

    drops = iter([4.0, 3.0, 3.5, 3.2])
    res = control(lambda extra: _drop(next(drops)), lambda: ["a", "b", "c", "d", "e"], 1.0, max_steps=3)
    assert len(res["steps"]) == 4 and res["best"] == 1 and res["steps"][1]["kept"] == ["a"]
    assert res["verdict"] == "exceeds" and "--mode qat" in res["message"] and "+3.0 points" in res["message"]
    wide = control(lambda extra: _drop(1.5, half=2.0), lambda: [], 1.0)  # nothing to put back; interval spans 1
    assert wide["verdict"] == "above" and "interval includes the limit" in wide["message"]


@pytest.mark.slow
def test_max_drop_measures_the_written_file_and_puts_back_ranked_tensors_for_real(tmp_path, monkeypatch):
    """A real untrained model (near-ties everywhere, so int8 flips many top-1s) judged against its own Keras
    decisions: the drop is 100 - agreement; the loop converts, runs and records each step with LiteRT."""
    import json

    from edgetl import _tf
    from edgetl.data.types import ImageSet, Splits
    from edgetl.formats.contract import Contract
    from edgetl.tflite.converter import convert_tflite
    from edgetl.runtime.parity import Gate, load_records
    from edgetl.runtime.runners import KerasRunner
    from edgetl.stages.quantize import _max_drop_int8

    keras = _tf.keras()
    _tf.set_seed(1)
    x = inp = keras.Input((32, 32, 3))
    for filters in (8, 16):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    x = keras.layers.Dense(4, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inp, x)
    c = Contract(labels=list("abcd"), height=32, width=32, output_units=4)
    pixels = np.random.default_rng(0).integers(0, 256, (120, 32, 32, 3), dtype=np.uint8)
    labels = c.decide(model.predict(c.normalize(pixels), verbose=0))  # float is right on every image
    val = ImageSet(pixels, labels)
    splits = Splits(train=val, val=val, test=val, class_names=c.labels, source="synthetic", data_hash="x")
    gate = Gate(KerasRunner(tmp_path / "model.keras", c, model=model), pixels, {"int8": 0.0}, pixels, labels,
                "synthetic")
    cal = pixels[:32]
    rec = convert_tflite(model, c, ["int8"], tmp_path, calibration=cal, gate=gate)["int8"]
    from edgetl.tflite import auto_float

    debugged = auto_float.Debugged(model, c, cal, "uint8")  # the run quantize_run makes once for the table

    def no_second_run(*a, **k):
        raise AssertionError("--max-drop ran the quantization debugger a second time")

    monkeypatch.setattr(auto_float, "measure", no_second_run)
    rec = _max_drop_int8(rec, model, c, tmp_path, cal, "uint8", "model", gate, splits, 0.0, None, debugged)
    md = rec["max_drop"]
    first = md["steps"][0]
    assert first["n"] == 120 and first["kept"] == [] and first["reference_acc"] == 1.0
    assert first["drop"] == pytest.approx(100 * (1 - first["candidate_acc"]))
    assert first["drop"] > 0, "an untrained 4-class model should flip some top-1s in int8"
    assert len(md["steps"]) >= 2 and all(len(s["kept"]) == i for i, s in enumerate(md["steps"]))
    assert all(s["kept"][:-1] == p["kept"] for p, s in zip(md["steps"], md["steps"][1:]))  # one tensor a step
    best = md["steps"][md["best"]]
    assert best["drop"] == min(s["drop"] for s in md["steps"])
    worst = [e["tensor"] for e in auto_float.ranked(debugged.layer_error)]
    assert md["steps"][-1].get("kept") == worst[:len(md["steps"]) - 1]  # the debugger's order, worst first
    assert set(best["kept"]) <= set(rec["keep_float"])  # the best step's file is the one written
    contract = json.loads((tmp_path / "model_int8.json").read_text())
    assert set(best["kept"]) <= set(contract.get("kept_float", {}).get("keep_float", []))
    assert load_records(tmp_path)["model_int8.tflite"]["max_drop"]["best"] == md["best"]
    assert (md["verdict"] == "fits") == (best["drop"] <= 0.0) and (md["verdict"] == "fits" or "--mode qat" in md["message"])


def test_max_drop_step_the_converter_refuses_is_recorded_and_ends_the_search():
    from edgetl.errors import EdgetlError
    from edgetl.tflite.max_drop import control

    def measure(extra):
        if extra:
            raise EdgetlError("int8 with --keep-float t1 failed (no such node)")
        return _drop(3.0)

    res = control(measure, lambda: ["t1", "t2"], 1.0)
    assert len(res["steps"]) == 2 and "no such node" in res["steps"][1]["error"] and res["best"] == 0
    assert res["verdict"] == "exceeds" and "--mode qat" in res["message"]
