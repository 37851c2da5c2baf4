"""The format registry (edgetl.formats.registry): one table every stage reads, proved by TFLite int16x8."""
from __future__ import annotations

import ast
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

from edgetl.errors import EdgetlError
from edgetl.formats import registry
from edgetl.formats.registry import CONVERT_TARGETS, FORMATS, IO_TYPES, MODES, get_format

EDGETL = Path(__file__).resolve().parents[1] / "edgetl"


# ---- the table and what is derived from it ------------------------------------------------------

def _choices(cmd, name):
    return tuple(next(p for p in cmd.params if p.name == name).type.choices)


def test_cli_and_recipe_choices_are_the_registry():
    from edgetl.cli.quantize import convert_cmd, quantize_cmd
    from edgetl.pipeline.recipes import SCHEMA

    assert _choices(quantize_cmd, "modes") == MODES
    assert _choices(quantize_cmd, "io") == IO_TYPES
    assert _choices(convert_cmd, "targets") == CONVERT_TARGETS
    assert SCHEMA["quantize"].choices == MODES and SCHEMA["convert"].choices == CONVERT_TARGETS
    assert SCHEMA["io"].choices == IO_TYPES
    assert set(SCHEMA["quantize"].default) == {f.mode for f in FORMATS.values() if f.default_quantize}


def _literal_string_collections(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        elts = node.keys if isinstance(node, ast.Dict) else getattr(node, "elts", None)
        if isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)) and len(elts) >= 2 and all(
                isinstance(e, ast.Constant) and isinstance(e.value, str) for e in elts):
            yield node.lineno, [e.value for e in elts]


def test_no_module_but_the_registry_lists_modes_io_types_or_targets():
    """The grep of the issue, as a test: a literal list (or dict keyed by) 2+ mode names, io types or convert targets
    anywhere in edgetl/ outside the registry is a second definition. Lists made only of numpy dtype
    names ("uint8", "int8", "float32") are tensor dtypes (e.g. which tensors carry a scale), not formats."""
    vocab = set(MODES) | set(IO_TYPES) | set(CONVERT_TARGETS)
    dtypes = {"uint8", "int8", "int16", "float16", "float32"}
    found = []
    for path in EDGETL.rglob("*.py"):
        if (path.name == "registry.py" and path.parent.name == "formats") or path.parent.name == "_vendor":
            continue
        for line, items in _literal_string_collections(path):
            if sum(i in vocab for i in items) >= 2 and all(i in vocab for i in items) and set(items) - dtypes:
                found.append(f"{path.relative_to(EDGETL)}:{line} {items}")
    assert not found, found


def test_every_tflite_mode_has_a_converter_and_names_its_file():
    for mode in MODES:
        fmt = registry.tflite_format(mode)
        assert callable(fmt.configure) and fmt.runtime == "tflite" and fmt.android
        assert fmt.file_name("model_pruned") == f"model_pruned_{mode}.tflite"
        assert fmt.io[0] in IO_TYPES and set(fmt.io) <= set(IO_TYPES)
    for target in CONVERT_TARGETS:
        assert registry.target_formats(target)
    from edgetl.stages.convert import writer_of

    assert [writer_of(f).__name__ for f in registry.target_formats("onnx")] == ["onnx_float", "onnx_int8"]
    assert {writer_of(f).__name__ for f in registry.target_formats("tflite")} == {"tflite_mode"}
    with pytest.raises(EdgetlError, match="unknown quantization mode 'int4'"):
        registry.mode_formats(["int4"])
    with pytest.raises(EdgetlError, match="no --to given"):
        registry.check_targets([])


def _fake_tf():
    conv = SimpleNamespace(optimizations=None, representative_dataset=None,
                           target_spec=SimpleNamespace(supported_ops=None, supported_types=None),
                           inference_input_type=None, inference_output_type=None)
    ops = SimpleNamespace(TFLITE_BUILTINS_INT8="INT8",
                          EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8="INT16x8")
    tf = SimpleNamespace(lite=SimpleNamespace(Optimize=SimpleNamespace(DEFAULT="DEFAULT"), OpsSet=ops),
                         float16="f16", uint8="u8", int8="i8")
    return conv, tf


def test_int16x8_is_one_entry_with_its_converter_settings():
    fmt = get_format("tflite:int16x8")
    assert (fmt.mode, fmt.suffix, fmt.runtime) == ("int16x8", "_int16x8.tflite", "tflite")
    assert fmt.calibration and not fmt.training and fmt.android and "int16" in fmt.quantization
    assert fmt.io == ("float32",) and fmt.io_for("uint8") == "float32"  # float in/out: the app feeds it floats
    assert registry.QUANT_AGREEMENT < fmt.min_agreement < registry.FLOAT_AGREEMENT
    assert registry.threshold(fmt, registry.parse_agreement(["int16x8=0.9"])) == 0.9
    conv, tf = _fake_tf()
    rep = object()
    fmt.configure(conv, tf, fmt.io_for("uint8"), rep)
    assert conv.target_spec.supported_ops == ["INT16x8"] and conv.representative_dataset is rep
    assert conv.optimizations == ["DEFAULT"] and conv.inference_input_type is None
    assert "int16x8" in registry.mode_help()


def test_int8_converter_settings_follow_io():
    fmt = get_format("tflite:int8")
    conv, tf = _fake_tf()
    fmt.configure(conv, tf, fmt.io_for("uint8"), "rep")
    assert conv.target_spec.supported_ops == ["INT8"] and conv.inference_input_type == "u8"
    conv, tf = _fake_tf()
    fmt.configure(conv, tf, fmt.io_for("float32"), "rep")
    assert conv.inference_input_type is None
    conv, tf = _fake_tf()
    get_format("tflite:float16").configure(conv, tf, "float32", None)
    assert conv.target_spec.supported_types == ["f16"] and conv.representative_dataset is None


def test_compare_columns_and_jobs_follow_the_formats():
    from edgetl.compare.compare import check_formats
    from edgetl.compare.jobs import job_kinds, job_of
    from edgetl.report.tables import compare_markdown, measured_columns

    assert check_formats(None) == list(registry.COMPARE_FORMATS)
    names = check_formats(["tflite:int8", "tflite:int16x8", "onnx:float32"])
    assert job_of(names) == {"modes": ["int8", "int16x8"], "onnx": True}
    assert job_kinds(job_of(names)) == ["tflite_int8", "tflite_int16x8", "onnx"]
    keys = [k for k, _ in measured_columns(names, accuracy=True)]
    assert {"tflite_int16x8_mb", "tflite_int16x8_p50_ms", "tflite_int16x8_accuracy"} <= set(keys)
    for bad in ("tflite:qat", "onnx:int8", "tflite:int4"):
        with pytest.raises(EdgetlError, match="cannot be compared"):
            check_formats([bad])
    row = {"backbone": "b", "input_size": 96, "depth": 1, "params": 1, "tflite_int16x8_mb": 1.5,
           "tflite_int16x8_p50_ms": 7.25, "fps_int8": None, "flags": [], "errors": []}
    md = compare_markdown({"seed": [], "measured": [row], "settings": {"formats": ["tflite:int16x8"]}})
    assert "int16x8 p50 ms" in md and "7.25" in md


def test_compare_a_failed_mode_costs_only_its_own_cell(tmp_path, monkeypatch):
    """Before: one mode's conversion error (int16x8 of random weights) marked every TFLite mode of the backbone failed."""
    from edgetl.tflite import converter as tflite
    from edgetl.compare.jobs import convert_all

    def fake(model, contract, modes, out_dir, *, keep_going=False, **kw):
        assert keep_going
        good = get_format("tflite:int8").path(out_dir, "m")
        good.write_bytes(b"tflite")
        return {"int8": {"artifact": str(good)}, "int16x8": {"artifact": None, "error": "not a valid TFLite model"}}

    monkeypatch.setattr(tflite, "convert_tflite", fake)
    done = convert_all("model", None, tmp_path, "m", None, modes=["int8", "int16x8"], onnx=False)
    assert done["tflite_int8"] == (tmp_path / "m_int8.tflite", None)
    assert done["tflite_int16x8"] == (None, "not a valid TFLite model")


def test_report_rows_say_what_each_artifact_quantizes_from_the_registry():
    from edgetl.report.markdown import ARTIFACT_COLUMNS, artifact_rows

    results = {"quantize": {"artifacts": [
        {"file": "model_int16x8.tflite", "format": "tflite:int16x8", "runtime": "tflite", "agreement": 1.0},
        {"file": "model_int8.tflite", "format": "tflite:int8", "runtime": "tflite", "error": "parity gate refused"}]},
        "benchmark": {"results": [{"artifact": "/r/model_int16x8.tflite", "runtime": "tflite", "p50_ms": 3.0}]}}
    rows = {r["name"]: r for r in artifact_rows(results)}
    assert rows["model_int16x8.tflite"]["quantized"] == get_format("tflite:int16x8").quantization
    assert rows["model_int8.tflite"]["quantized"] == get_format("tflite:int8").quantization
    assert ("quantized", "quantized") in ARTIFACT_COLUMNS


def test_android_export_names_every_shippable_mode_and_refuses_onnx(tmp_path):
    from edgetl.export.android import resolve_artifact

    with pytest.raises(EdgetlError, match="int16x8") as e:
        resolve_artifact(tmp_path, "onnx:int8")
    assert "LiteRT" in str(e.value)
    with pytest.raises(EdgetlError, match="LiteRT"):
        resolve_artifact(tmp_path, "model.onnx")
    with pytest.raises(EdgetlError, match="edgetl quantize .* --mode int16x8"):
        resolve_artifact(tmp_path, "int16x8")
    (tmp_path / "model_int16x8.tflite").write_bytes(b"x")
    assert resolve_artifact(tmp_path, "tflite:int16x8") == tmp_path / "model_int16x8.tflite"


# ---- the two bugs: `convert: [tflite]` in a recipe, and convert's keep-going ----------------------

def _ctx(recipe, tmp_path, logs):
    from edgetl.pipeline.runner import Context

    return Context(recipe, tmp_path, None, logs.append)


def test_recipe_convert_tflite_reaches_convert_run(tmp_path, monkeypatch):
    """Before: `convert: [tflite]` became to=() and failed with "no --to given"."""
    from edgetl.pipeline import runner
    from edgetl.pipeline.recipes import validate
    from edgetl.stages import convert

    seen = []
    monkeypatch.setattr(convert, "convert_run", lambda cfg, **kw: seen.append((list(cfg.to), kw)) or [])
    recipe = validate({"quantize": ["int8"], "convert": ["tflite"]})
    logs = []
    assert runner._convert(_ctx(recipe, tmp_path, logs)) == {"artifacts": []}
    assert seen[0][0] == ["tflite"] and seen[0][1]["keep_going"] is True
    # float32 TFLite already written by the quantize stage: nothing to redo, and no error
    seen.clear()
    recipe = validate({"quantize": ["float32", "int8"], "convert": ["tflite", "onnx"]})
    runner._convert(_ctx(recipe, tmp_path, logs))
    assert seen[0][0] == ["onnx"]
    seen.clear()
    recipe = validate({"quantize": ["float32"], "convert": ["tflite"]})
    assert runner._convert(_ctx(recipe, tmp_path, logs)) == {"artifacts": []} and not seen


def _fake_run_for_convert(monkeypatch, tmp_path):
    """A run folder whose model is never loaded: the exporters are replaced by the test."""
    from edgetl.formats.contract import Contract
    from edgetl.rundir import RunDir

    (tmp_path / "contract.json").write_text(Contract(labels=["a", "b"], height=8, width=8, artifact="keras").to_json())
    (tmp_path / "manifest.json").write_text(json.dumps({"edgetl_run": 1, "data": {"options": {
        "source": "digits", "val_ratio": 0.15, "test_ratio": 0.15, "seed": 42, "limit_per_class": None}}}))
    (tmp_path / "model.keras").write_bytes(b"model")
    monkeypatch.setattr(RunDir, "load_model", lambda self, path=None: "model")
    monkeypatch.setattr(RunDir, "splits_or_none", lambda self, *a, **k: None)
    monkeypatch.setattr(RunDir, "gate", lambda self, *a, **k: None)


def test_convert_keeps_going_past_a_failed_format(tmp_path, monkeypatch):
    """Before: convert_run had no keep_going; one failed format stopped the stage (and `edgetl run`)."""
    from edgetl.config.stages import ConvertConfig
    from edgetl.stages import convert

    _fake_run_for_convert(monkeypatch, tmp_path)

    def broken(job, fmt):
        raise EdgetlError("ONNX export failed at opset 17 (boom); try --opset 17")

    monkeypatch.setattr(convert, "onnx_float", broken)
    monkeypatch.setattr(convert, "check_opset", int)  # tf2onnx's opset table imports TensorFlow: not here
    monkeypatch.setattr(convert, "tflite_mode", lambda job, fmt: {"file": fmt.file_name(job.stem), "format": fmt.name})
    with pytest.raises(EdgetlError, match="boom"):
        convert.convert_run(ConvertConfig(run=str(tmp_path), to=["tflite", "onnx"]))
    rows = convert.convert_run(ConvertConfig(run=str(tmp_path), to=["tflite", "onnx"]), keep_going=True)
    by = {r["format"]: r for r in rows}
    assert set(by) == {"tflite:float32", "onnx:float32", "onnx:int8"}
    assert "boom" in by["onnx:float32"]["error"] and by["onnx:float32"]["artifact"] is None
    assert by["tflite:float32"].get("error") is None
    assert "skipped" in by["onnx:int8"]  # no float ONNX to quantize: a reason, not a crash


# ---- int16x8 end to end on a tiny model (real conversion, gate, benchmark, report, Android) ------

def _tiny_run(path: Path) -> Path:
    """A run folder holding a small trained CNN on the built-in digits (16 px): no backbone, seconds to make."""
    from edgetl import _tf
    from edgetl.data.sources import DataOptions, load_splits
    from edgetl.formats.contract import Contract

    keras = _tf.keras()
    _tf.set_seed(0)
    opts = DataOptions("digits", 0.15, 0.15, 42, 30)
    splits = load_splits(opts, 16)
    contract = Contract(labels=splits.class_names, height=16, width=16, artifact="keras",
                        output_units=len(splits.class_names), weights_source="random")
    inp = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu")(inp)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(len(splits.class_names), activation="softmax")(x))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    model.fit(contract.normalize(splits.train.images), splits.train.labels, epochs=15, batch_size=32, verbose=0)
    path.mkdir(parents=True)
    model.save(path / "model.keras")
    (path / "contract.json").write_text(contract.to_json())
    (path / "labels.txt").write_text("\n".join(contract.labels) + "\n")
    (path / "manifest.json").write_text(json.dumps({"edgetl_run": 1, "data": {"options": {
        "source": "digits", "val_ratio": 0.15, "test_ratio": 0.15, "seed": 42, "limit_per_class": 30}}}))
    return path


@pytest.mark.slow
def test_int16x8_end_to_end_quantize_gate_benchmark_report_android(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    from edgetl.cli import main
    from edgetl.config.stages import BenchmarkConfig
    from edgetl.measure.bench import benchmark
    from edgetl.report.markdown import artifact_rows
    from edgetl.config.stages import ExportConfig
    from edgetl.export.android import export_android

    run = _tiny_run(tmp_path / "run")
    r = CliRunner().invoke(main, ["quantize", str(run), "--mode", "int16x8", "--json"])
    assert r.exit_code == 0, r.output
    records = {rec["mode"]: rec for rec in json.loads(r.stdout)}
    rec = records["int16x8"]
    assert rec["format"] == "tflite:int16x8" and rec["file"] == "model_int16x8.tflite"
    assert rec["min_agreement"] == registry.INT16_AGREEMENT and rec["agreement"] >= rec["min_agreement"]
    assert rec["input_dtype"] == rec["output_dtype"] == "float32"
    path = run / "model_int16x8.tflite"
    it = Interpreter(model_path=str(path))
    dtypes = {np.dtype(t["dtype"]).name for t in it.get_tensor_details()}
    assert "int16" in dtypes  # int16 activations inside
    assert json.loads(path.with_suffix(".json").read_text())["artifact"] == "tflite:int16x8"

    bench = benchmark([path], BenchmarkConfig(runs=3, min_seconds=0.05, warmup=1, rounds=1))
    (row,) = bench["results"]
    assert not row["error"] and row["p50_ms"] > 0 and row["runtime"] == "tflite"

    rows = {x["name"]: x for x in artifact_rows({"quantize": {"artifacts": list(records.values())}, "benchmark": bench})}
    assert rows["model_int16x8.tflite"]["agreement"] == rec["agreement"] and rows["model_int16x8.tflite"]["p50_ms"] > 0

    out = export_android(ExportConfig(run=str(run), artifact="int16x8", out=str(tmp_path / "assets")))
    assert out["artifact"] == "tflite:int16x8" and out["input"]["dtype"] == "float32"
    assert (tmp_path / "assets" / "model.tflite").read_bytes() == path.read_bytes()
