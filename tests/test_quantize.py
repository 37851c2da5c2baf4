"""Issue 3: TFLite modes, QAT, pruning, ONNX, the parity gate, contracts, the runtime layer, bad input."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from fixtures_quantize import CORAL, PTQ, TEST_AGREEMENT, copy_run_without_model, need
from edgetl.cli import main
from edgetl.errors import EdgetlError

pytestmark = pytest.mark.slow


def run_cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def assert_user_error(result, *words):
    """Exit 2, one line on stderr naming the problem, no traceback."""
    assert result.exit_code == 2, result.output
    err = result.stderr.strip()
    assert "Traceback" not in result.output
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    for w in words:
        assert w.lower() in lines[0].lower(), lines[0]


def hidden_tmp_files(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".") and ".tmp" in p.name]


# ---- TFLite modes and the gate ------------------------------------------------------------------

EXPECTED_IO = {"float32": "float32", "dynamic": "float32", "float16": "float32", "int8": "uint8", "qat": "uint8"}


def _check_tflite(rec, qrun):
    from ai_edge_litert.interpreter import Interpreter

    from edgetl.runtime import parity

    path = qrun / rec["file"]
    assert path.is_file() and path.with_suffix(".json").is_file()
    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    assert np.dtype(inp["dtype"]).name == EXPECTED_IO[rec["mode"]] == rec["input_dtype"]
    assert np.dtype(out["dtype"]).name == EXPECTED_IO[rec["mode"]] == rec["output_dtype"]
    assert list(inp["shape"]) == [1, 96, 96, 3] and out["shape"][-1] == 5
    assert rec["gate"] in ("pass", "inconclusive") and rec["agreement_high"] >= rec["min_agreement"]
    assert rec["parity_source"] == "val" and rec["parity_images"] > 10
    assert parity.record_for(path)["gate"] == rec["gate"]  # saved in the run, for report/compare/inspect
    assert 0.0 <= rec["accuracy"] <= 1.0 and rec["size_mb"] > 0 and rec["gzip_mb"] > 0 and rec["seconds"] > 0


@pytest.mark.parametrize("mode", PTQ)
def test_every_ptq_mode_loads_in_litert_with_its_dtypes_and_passes_the_gate(ptq_records, qrun, mode):
    rec = ptq_records[mode]
    _check_tflite(rec, qrun)
    if mode in ("float32", "float16"):  # gated at the default threshold
        assert rec["min_agreement"] == 0.99
    if mode == "float32":
        assert rec["agreement"] == 1.0 and rec["max_abs_diff"] < 1e-4


def test_qat_writes_a_full_integer_file_that_passes_the_gate(qat_record, qrun):
    _check_tflite(qat_record, qrun)
    assert qat_record["file"] == "model_qat.tflite" and qat_record["qat_epochs"] == 1


def test_every_int8_file_records_its_per_layer_error_and_inspect_shows_it(ptq_records, qat_record, qrun):
    """Issue 19: the quantization debugger's worst tensors, for the default int8 (no --auto, no --max-drop)."""
    from edgetl.runtime import parity
    from edgetl.tflite.auto_float import short
    from edgetl.tflite.selective import split_keep_float

    rec = ptq_records["int8"]
    le = rec["layer_error"]
    rows = le["rows"]
    assert 0 < len(rows) <= 10 and le["tensors_measured"] >= len(rows) and le["images"] == 64
    errs = [r["rmse_scale"] for r in rows]
    assert errs == sorted(errs, reverse=True) and all(np.isfinite(e) and e >= 0 for e in errs)
    ops, nodes = split_keep_float(rec["keep_float"])
    assert all(r["kept"] == (r["op"] in ops or r["tensor"] in nodes) for r in rows)
    assert le["cpu_seconds"] > 0 and "error" not in le
    assert parity.record_for(qrun / "model_int8.tflite")["layer_error"] == le  # beside the max-drop steps
    for mode in ("float32", "float16", "dynamic"):
        assert "layer_error" not in ptq_records[mode]
    r = run_cli("inspect", qrun / "model_int8.tflite")
    assert r.exit_code == 0, r.output
    assert "quantization debugger on 64 images" in r.stdout and short(rows[0]["tensor"])[:30] in r.stdout


def test_the_qat_file_records_its_per_layer_error_against_its_float_twin(qat_record, qrun):
    """Issue 19: QAT files carry the same table, measured against the float twin (the debugger cannot run)."""
    from edgetl.runtime import parity
    from edgetl.tflite.auto_float import short

    le = qat_record["layer_error"]
    assert "error" not in le, le.get("error")
    rows = le["rows"]
    assert 0 < len(rows) <= 10 and le["tensors_measured"] >= len(rows) and le["images"] == 64
    assert le["method"] == "float twin" and le["cpu_seconds"] > 0
    assert le["tensors_measured"] > 10 * le["unmatched"]  # op-order matching pairs (nearly) every tensor
    errs = [r["rmse_scale"] for r in rows]
    assert errs == sorted(errs, reverse=True) and all(np.isfinite(e) and e >= 0 for e in errs)
    assert all(r["scale"] > 0 and r["op"] not in ("QUANTIZE", "DEQUANTIZE") for r in rows)
    assert parity.record_for(qrun / "model_qat.tflite")["layer_error"] == le
    r = run_cli("inspect", qrun / "model_qat.tflite")
    assert r.exit_code == 0, r.output
    assert "against the float twin on 64 images" in r.stdout and short(rows[0]["tensor"])[:30] in r.stdout


def test_int8_is_a_fraction_of_float32(ptq_records, qrun, tmp_path):
    """int8 weights are 1/4 of float32 (the issue asks for a file < 30%). Per-channel scales (float32) and
    zero points (int64), 12 bytes per output channel, are a fixed overhead on top: the tiny test model's
    file is ~39% of float32, MobileNetV2 1.0's measured 30.06% (2.652 / 8.823 MB)."""
    from ai_edge_litert.interpreter import Interpreter

    def tensor_bytes(path):
        it = Interpreter(model_path=str(path))
        total = 0
        for d in it.get_tensor_details():
            try:
                total += it.get_tensor(d["index"]).nbytes
            except ValueError:
                pass
        return total

    f32, i8 = qrun / "model_float32.tflite", qrun / "model_int8.tflite"
    assert tensor_bytes(i8) < 0.30 * tensor_bytes(f32)
    assert i8.stat().st_size < 0.45 * f32.stat().st_size

    from edgetl import _tf
    from edgetl.backbones import registry as backbones
    from edgetl.formats.contract import Contract
    from edgetl.tflite.converter import convert_tflite

    keras = _tf.keras()
    base = backbones.build_base(backbones.get_backbone("mobilenet_v2"), 96, 1.0, None)
    head = keras.layers.Dense(5, activation="softmax")(keras.layers.GlobalAveragePooling2D()(base.output))
    model = keras.Model(base.input, head)
    c = Contract(labels=list("abcde"), height=96, width=96, output_units=5)
    cal = np.random.default_rng(0).integers(0, 256, (8, 96, 96, 3), dtype=np.uint8)
    recs = convert_tflite(model, c, ["float32", "int8"], tmp_path, calibration=cal)
    assert recs["int8"]["size_mb"] < 0.31 * recs["float32"]["size_mb"]
    assert tensor_bytes(tmp_path / "model_int8.tflite") < 0.26 * tensor_bytes(tmp_path / "model_float32.tflite")


@pytest.mark.parametrize("io", ["int8", "float32"])
def test_int8_io_types(qrun, ptq_records, tmp_path, io):
    from edgetl.tflite.converter import convert_tflite
    from edgetl.rundir import RunDir
    from edgetl.runtime.registry import open_artifact

    run = RunDir(qrun)
    model, contract = run.load_model(), run.contract()
    splits = run.splits_or_none(None, True, "")
    gate = run.gate(model, run.model_path, contract, splits, TEST_AGREEMENT, 100)
    rec = convert_tflite(model, contract, ["int8"], tmp_path, calibration=run.calibration(splits, 50), io=io,
                         gate=gate)["int8"]
    c = open_artifact(tmp_path / "model_int8.tflite").contract
    assert rec["input_dtype"] == rec["output_dtype"] == c.input.dtype == io
    assert c.input.quantized == (io == "int8") and rec["agreement"] >= TEST_AGREEMENT["int8"]


def test_a_wrong_normalisation_is_refused_by_the_gate_and_leaves_no_file(qrun, ptq_records, tmp_path):
    from edgetl.tflite.converter import convert_tflite
    from edgetl.rundir import RunDir

    run = RunDir(qrun)
    model, contract = run.load_model(), run.contract()
    gate = run.gate(model, run.model_path, contract, run.splits_or_none(None, True, ""), None, 100)
    existing = tmp_path / "model_float32.tflite"
    existing.write_bytes(b"an artifact already there")
    broken = contract.replace(mean=[0.0, 0.0, 0.0], std=[1.0, 1.0, 1.0])  # 0..255 where the model wants -1..1
    with pytest.raises(EdgetlError, match="parity gate refused model_float32.tflite"):
        convert_tflite(model, broken, ["float32"], tmp_path, gate=gate)
    assert existing.read_bytes() == b"an artifact already there"  # never touched
    assert not (tmp_path / "model_float32.json").exists() and not hidden_tmp_files(tmp_path)
    # the same conversion with the right contract passes
    rec = convert_tflite(model, contract, ["float32"], tmp_path, gate=gate)["float32"]
    assert rec["agreement"] == 1.0 and existing.read_bytes() != b"an artifact already there"


def test_check_parity_removes_a_refused_file_on_request(qrun, ptq_records, tmp_path):
    from edgetl.runtime.parity import check_parity
    from edgetl.rundir import RunDir
    from edgetl.runtime.runners import KerasRunner, TFLiteRunner

    run = RunDir(qrun)
    pixels = run.splits().val.images
    art = tmp_path / "model_float32.tflite"
    shutil.copy(qrun / "model_float32.tflite", art)
    shutil.copy(qrun / "model_float32.json", tmp_path / "model_float32.json")
    ref = KerasRunner(qrun)
    ok = check_parity(ref, TFLiteRunner(art), pixels, 0.99)
    assert ok["agreement"] == 1.0 and ok["parity_images"] == len(pixels)
    wrong = TFLiteRunner(art, contract=run.contract().replace(channel_order="BGR", mean=[0, 0, 0], std=[1, 1, 1]))
    with pytest.raises(EdgetlError, match="parity gate refused"):
        check_parity(ref, wrong, pixels, 0.99, remove_on_fail=True)
    assert not art.exists() and not (tmp_path / "model_float32.json").exists()


def test_an_interrupted_conversion_leaves_no_partial_file(qrun, ptq_records, tmp_path, monkeypatch):
    from edgetl.tflite import converter as tflite
    from edgetl.rundir import RunDir

    run = RunDir(qrun)

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(tflite, "artifact_contract", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tflite.convert_tflite(run.load_model(), run.contract(), ["float16"], tmp_path)
    assert list(tmp_path.iterdir()) == []


# ---- contracts ------------------------------------------------------------------------------

def test_the_contract_round_trips_through_every_artifact(qrun, ptq_records, qat_record, convert_records):
    from edgetl.formats.contract import Contract
    from edgetl.runtime.registry import open_artifact
    from edgetl.rundir import file_sha256, stale_reason

    run_c = Contract.load(qrun / "contract.json")
    files = [r["file"] for r in list(ptq_records.values()) + [qat_record] + list(convert_records.values())]
    assert {"model.onnx", "model_int8.onnx", "model_int8.tflite", "model_qat.tflite"} <= set(files)
    for f in files:
        runner = open_artifact(qrun / f)  # contract read back from the .json sidecar / ONNX metadata
        c = runner.contract
        assert (c.labels, c.height, c.width, c.mean, c.std, c.channel_order) == \
               (run_c.labels, run_c.height, run_c.width, run_c.mean, run_c.std, run_c.channel_order), f
        assert c.artifact and c.artifact.split(":")[0] == runner.runtime
        if f.endswith(".tflite"):
            assert (c.input, c.output) == (runner.input_spec(), runner.output_spec()), f  # real tensor scale / zero point
        assert c.source_model == {"file": "model.keras", "sha256": file_sha256(qrun / "model.keras")}, f
        assert stale_reason(qrun / f) is None, f
    int8 = open_artifact(qrun / "model_int8.tflite").contract
    assert int8.input.dtype == "uint8" and int8.input.scale > 0 and 0 <= int8.input.zero_point <= 255
    assert json.loads((qrun / "model_int8.json").read_text())["input"]["zero_point"] == int8.input.zero_point


# ---- ONNX -----------------------------------------------------------------------------------

def test_onnx_float_matches_keras_within_1e4(qrun, convert_records):
    from edgetl.rundir import RunDir
    from edgetl.runtime.runners import KerasRunner
    from edgetl.runtime.registry import open_artifact

    rec = convert_records["onnx:float32"]
    assert rec["file"] == "model.onnx" and rec["agreement"] == 1.0 and rec["min_agreement"] == 0.99
    pixels = RunDir(qrun).splits().test.images
    diff = np.abs(open_artifact(qrun / "model.onnx").predict(pixels) - KerasRunner(qrun).predict(pixels)).max()
    assert diff < 1e-4 and rec["max_abs_diff"] < 1e-4


def test_int8_onnx_agrees_with_int8_tflite(qrun, convert_records, tmp_path):
    from edgetl.formats.contract import Contract
    from edgetl.onnx.export import export_onnx_int8
    from edgetl.rundir import RunDir
    from edgetl.runtime.registry import open_artifact

    splits = RunDir(qrun).splits()
    pixels = np.concatenate([splits.val.images, splits.test.images])
    t8 = open_artifact(qrun / "model_int8.tflite").predict(pixels).argmax(1)
    rec = convert_records["onnx:int8"]  # the default route: from the gated int8 TFLite file
    assert rec["int8_method"] == "tflite" and not rec.get("error") and (qrun / "model_int8.onnx").is_file()
    assert np.mean(open_artifact(qrun / "model_int8.onnx").predict(pixels).argmax(1) == t8) >= 0.95
    # the tf2onnx route converts the very same integer graph: same uint8 input, same top-1
    rec = export_onnx_int8(qrun / "model_int8.tflite", Contract.load(qrun / "model_int8.json"), tmp_path / "m.onnx")
    runner = open_artifact(tmp_path / "m.onnx")
    assert rec["input_dtype"] == "uint8" and runner.contract.input.zero_point is not None
    assert np.mean(runner.predict(pixels).argmax(1) == t8) >= 0.95


def test_int8_onnx_weights_follow_the_host_and_onnxruntime_fuses_every_conv(qrun, convert_records, tmp_path):
    """Issue 19: uint8 weights only where onnxruntime's u8 x s8 kernels saturate (x86 without VNNI); every Conv of
    the int8 ONNX runs as an integer QLinearConv after onnxruntime's optimizations (none left in float)."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto

    from edgetl.measure.onnx_weights import uint8_weights

    shift, why = uint8_weights()
    for name in ("model_int8.onnx", "model_int8_ort.onnx"):
        path = qrun / name
        if name == "model_int8_ort.onnx":
            from edgetl.formats.contract import Contract
            from edgetl.rundir import RunDir
            from edgetl.onnx.export import export_onnx_int8_ort

            run = RunDir(qrun)
            rec = export_onnx_int8_ort(qrun / "model.onnx", Contract.load(qrun / "contract.json"), tmp_path / name,
                                       run.calibration(run.splits(), 32))
            path = tmp_path / name
        else:
            rec = convert_records["onnx:int8"]
        assert rec["int8_weights"] == why
        g = onnx.load(str(path)).graph
        inits = {t.name: t for t in g.initializer}
        dq = {n.output[0]: n for n in g.node if n.op_type == "DequantizeLinear" and n.input[0] in inits}
        weights = [inits[dq[n.input[1]].input[0]] for n in g.node if n.op_type == "Conv"]  # each Conv's kernel
        assert len(weights) == 52 and {w.data_type for w in weights} == {TensorProto.UINT8 if shift else TensorProto.INT8}
        opts = ort.SessionOptions()
        opts.optimized_model_filepath = str(tmp_path / f"{name}.optimized.onnx")
        ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        ops = [n.op_type for n in onnx.load(opts.optimized_model_filepath).graph.node]
        assert "Conv" not in ops and "FusedConv" not in ops and ops.count("QLinearConv") == 52, name


# ---- pruning ----------------------------------------------------------------------------------

def test_pruning_reaches_the_target_and_shrinks_the_gzipped_size(prune_record, qrun):
    r = prune_record
    assert (qrun / "model_pruned.keras").is_file()
    # TFMOT zeroes round(0.5 * n) weights of each conv/dense kernel: the target, up to one weight per layer
    assert r["sparsity"] >= 0.5 - 1e-3 and r["pruned_weights"] > 0
    assert r["gzip_mb"] < r["unpruned_gzip_mb"] and r["tflite_gzip_mb"] < r["unpruned_tflite_gzip_mb"]


def test_pruning_states_its_validation_drop_and_flags_it_above_max_drop(prune_record):
    md = prune_record["max_drop"]  # paired against the unpruned model on the whole validation split
    assert md["limit"] == 1.0 and md["n"] > 0 and md["low"] <= md["drop"] <= md["high"]
    assert md["drop"] == pytest.approx(100 * (md["reference_acc"] - md["candidate_acc"]))
    assert ("max_drop_warning" in prune_record) == (md["drop"] > 1.0)
    if md["drop"] > 1.0:
        assert "above --max-drop 1" in prune_record["max_drop_warning"] and "--sparsity" in prune_record["max_drop_warning"]


def test_quantize_and_convert_accept_the_pruned_model(prune_record, qrun):
    from edgetl.config.stages import ConvertConfig, QuantizeConfig
    from edgetl.stages.convert import convert_run
    from edgetl.stages.quantize import quantize_run

    (rec,) = quantize_run(QuantizeConfig(run=str(qrun), modes=["float16"], model="model_pruned.keras"))
    assert rec["file"] == "model_pruned_float16.tflite" and rec["agreement"] >= 0.99
    (onnx_rec,) = convert_run(ConvertConfig(run=str(qrun), to=["onnx"], model="model_pruned.keras",
                                            int8_method="tflite"))[:1]
    assert onnx_rec["file"] == "model_pruned.onnx" and onnx_rec["max_abs_diff"] < 1e-4


# ---- CLI ------------------------------------------------------------------------------------

def test_quantize_cli_prints_json_records(qrun, ptq_records):
    r = run_cli("quantize", qrun, "--mode", "float16", "--json")
    assert r.exit_code == 0, r.output
    (rec,) = json.loads(r.stdout)
    assert rec["file"] == "model_float16.tflite" and rec["agreement"] >= 0.99 and "accuracy" in rec
    assert "edgetl quantize" in r.stderr and "parity gate" in r.stderr  # the rich table


def test_bad_inputs_give_one_line_and_exit_2(qrun, ptq_records, tmp_path):
    assert_user_error(run_cli("quantize", tmp_path, "--mode", "int8"), "not an edgetl run directory", "--out")
    assert_user_error(run_cli("quantize", qrun), "--mode")
    assert_user_error(run_cli("prune", qrun, "--sparsity", "1.5"), "--sparsity", "(0, 1)")
    assert_user_error(run_cli("prune", qrun, "--sparsity", "0"), "--sparsity")
    assert_user_error(run_cli("convert", qrun, "--to", "onnx", "--opset", "99"), "--opset 99")
    assert_user_error(run_cli("quantize", qrun, "--mode", "int8", "--min-agreement", "2"), "--min-agreement")
    assert_user_error(run_cli("quantize", qrun, "--mode", "int8", "--model", "nope.keras"), "--model nope.keras")

    broken = copy_run_without_model(qrun, tmp_path / "broken")
    (broken / "model.keras").write_bytes(b"not a model")
    assert_user_error(run_cli("quantize", broken, "--mode", "float32"), "does not load", "edgetl train")

    gone = copy_run_without_model(qrun, tmp_path / "gone")
    shutil.copy(qrun / "model.keras", gone / "model.keras")
    manifest = json.loads((gone / "manifest.json").read_text())
    manifest["data"]["options"]["source"] = str(tmp_path / "moved-away")
    (gone / "manifest.json").write_text(json.dumps(manifest))
    assert_user_error(run_cli("quantize", gone, "--mode", "int8"), "is gone", "--data")
    assert_user_error(run_cli("quantize", gone, "--mode", "qat"), "--data")
    assert_user_error(run_cli("prune", gone), "--data")
    assert not list(gone.glob("*.tflite"))
    # float modes still work without the data: gated on random pixels, and the record says so
    r = run_cli("quantize", gone, "--mode", "float16", "--json")
    assert r.exit_code == 0, r.output
    (rec,) = json.loads(r.stdout)
    assert rec["parity_source"].startswith("random") and rec["accuracy"] is None and rec["agreement"] >= 0.99


def test_qat_on_mobilenet_v3_names_the_layer_and_suggests_int8(qrun, tmp_path):
    from edgetl import _tf
    from edgetl.backbones import registry as backbones

    keras = _tf.keras()
    base = backbones.build_base(backbones.get_backbone("mobilenet_v3_small"), 96, None, None)
    out = keras.layers.Dense(5, activation="softmax")(keras.layers.GlobalAveragePooling2D()(base.output))
    run = copy_run_without_model(qrun, tmp_path / "v3")
    keras.Model(base.input, out).save(run / "model.keras")
    r = run_cli("quantize", run, "--mode", "qat")
    assert_user_error(r, "QAT cannot quantize layer", "--mode int8")
    assert "hard-swish" in r.stderr


# ---- the runtime layer on a model nobody here made ------------------------------------------------

def test_googles_uint8_mobilenet_classifies_the_cat():
    from edgetl.runtime.runners import top_k
    from edgetl.runtime.registry import open_artifact

    model = need(CORAL / "mobilenet_v2_1.0_224_quant.tflite")
    runner = open_artifact(model)  # no contract: uint8 input, labels from imagenet_labels.txt beside it
    labels = runner.contract.labels
    assert len(labels) == 1001 and labels[0].lower() == "background"
    assert runner.contract.input.dtype == "uint8"
    probs = runner.predict_files([need(CORAL / "cat.bmp")])[0]
    assert top_k(probs, labels, 1)[0][0] == "Egyptian cat"
