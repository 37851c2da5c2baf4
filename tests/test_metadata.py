"""TFLite metadata (edgetl.formats.metadata) and `edgetl inspect`, on a tiny hand-built TFLite model (fast: no
TensorFlow import) and on Google's Coral file when ../shared is there."""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

from edgetl.errors import EdgetlError
from edgetl.formats import metadata as M
from edgetl.formats.contract import Contract, TensorSpec

from shared_data import CORAL, need
LABELS = ["red", "green", "blue"]


def tiny_tflite(height=4, width=4) -> bytes:
    """A real TFLite classifier of 3 'classes': the mean of each channel (MEAN over H, W). Its axis tensor is a
    constant buffer, so buffer packing and alignment are exercised."""
    from ai_edge_litert import schema_py_generated as s
    import flatbuffers

    def tensor(name, shape, ttype, buffer):
        t = s.TensorT()
        t.name, t.shape, t.type, t.buffer = name, shape, ttype, buffer
        return t

    code = s.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = s.BuiltinOperator.MEAN
    code.version = 1
    op = s.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 1], [2]
    op.builtinOptionsType = s.BuiltinOptions.ReducerOptions
    op.builtinOptions = s.ReducerOptionsT()
    sub = s.SubGraphT()
    sub.tensors = [tensor("image", [1, height, width, 3], s.TensorType.FLOAT32, 1),
                   tensor("axes", [2], s.TensorType.INT32, 2),
                   tensor("scores", [1, 3], s.TensorType.FLOAT32, 3)]
    sub.inputs, sub.outputs, sub.operators, sub.name = [0], [2], [op], "main"
    bufs = [s.BufferT() for _ in range(4)]
    bufs[2].data = np.frombuffer(np.array([1, 2], "<i4").tobytes(), np.uint8)
    m = s.ModelT()
    m.version, m.operatorCodes, m.subgraphs, m.buffers, m.description = 3, [code], [sub], bufs, "tiny"
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def contract(**kw) -> Contract:
    base = dict(labels=LABELS, height=4, width=4, mean=[127.5] * 3, std=[127.5] * 3, output_units=3,
                backbone="tiny", alpha=1.0, weights_source="none", artifact="tflite:float32")
    base.update(kw)
    return Contract(**base)


def run(model: bytes, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=model)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


def test_populate_then_read_back_everything():
    raw = tiny_tflite()
    c = contract()
    info = M.ModelInfo("tiny classifier", "v1", "what it does", "me", "Apache-2.0")
    out = M.populate(raw, c, info)

    doc = M.read(out)
    assert (doc["name"], doc["version"], doc["description"], doc["author"], doc["license"]) == (
        "tiny classifier", "v1", "what it does", "me", "Apache-2.0")
    (inp,), (outp,) = doc["inputs"], doc["outputs"]
    assert inp["normalization"] == {"mean": [127.5] * 3, "std": [127.5] * 3}
    assert inp["content"] == {"image": {"color_space": "RGB"}}
    assert inp["stats"] == {"min": [-1.0] * 3, "max": [1.0] * 3}
    assert outp["associated_files"][0]["name"] == "labels.txt"
    assert outp["associated_files"][0]["type"] == "TENSOR_AXIS_LABELS"
    assert M.labels(doc) == LABELS
    # the embedded contract is the sidecar's JSON, byte for byte
    assert doc["files"][M.CONTRACT_FILE].decode() == c.to_json() + "\n"
    assert M.embedded_contract(doc).to_dict() == c.to_dict()

    # a valid zip (stored entries) appended to a model that still runs, with the same results
    z = zipfile.ZipFile(io.BytesIO(out))
    assert z.testzip() is None and sorted(z.namelist()) == sorted([M.LABELS_FILE, M.CONTRACT_FILE])
    assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())
    x = np.random.default_rng(0).normal(size=(1, 4, 4, 3)).astype(np.float32)
    assert np.array_equal(run(out, x), run(raw, x))
    assert np.allclose(run(out, x), x.mean(axis=(1, 2)), atol=1e-6)


def test_populate_replaces_metadata_and_buffers_stay_aligned():
    from ai_edge_litert import schema_py_generated as s

    once = M.populate(tiny_tflite(), contract())
    twice = M.populate(once, contract(labels=["a", "b", "c"]))
    assert M.labels(M.read(twice)) == ["a", "b", "c"]
    m = s.Model.GetRootAs(twice, 0)
    names = [m.Metadata(i).Name() for i in range(m.MetadataLength())]
    assert names.count(b"TFLITE_METADATA") == 1
    assert zipfile.ZipFile(io.BytesIO(twice)).namelist().count(M.LABELS_FILE) == 1
    for i in range(m.BuffersLength()):
        b = m.Buffers(i)
        if b.DataLength():
            start = b._tab.Vector(b._tab.Offset(4))  # absolute offset of the data vector
            assert start % 16 == 0, f"buffer {i} starts at {start}, not 16-byte aligned"


def test_model_info_from_the_run_manifest(tmp_path):
    c = contract()
    (tmp_path / "manifest.json").write_text(json.dumps({"created": "2026-11-29T10:00:00Z",
                                                        "data": {"hash": "abcdef0123456789"}}))
    info = M.ModelInfo.for_run(c, tmp_path)
    assert info.version == "2026-11-29T100000Z-abcdef012345"
    assert "3 classes (red, green, blue)" in info.description and "4x4" in info.description
    assert info.author.startswith("edgetl")
    assert M.ModelInfo.for_run(c, tmp_path / "missing").version  # no manifest: still complete


def test_quantized_single_unit_and_bgr_contracts():
    c = contract(labels=["no", "yes"], output_units=1, channel_order="BGR", activation="sigmoid",
                 input=TensorSpec("uint8", 0.5, 128), artifact="tflite:int8")
    doc = M.read(M.populate(tiny_tflite(), c))
    assert M.labels(doc) == ["yes"]  # one unit: the probability of labels[1]
    assert doc["inputs"][0]["content"]["image"]["color_space"] == "UNKNOWN"  # BGR is not expressible
    assert "stats" not in doc["outputs"][0]  # scores before sigmoid are not in [0, 1]


def test_bad_input_is_one_clear_error(tmp_path):
    with pytest.raises(EdgetlError, match="not a TFLite flatbuffer"):
        M.populate(b"PK\x03\x04 not a model at all", contract())
    with pytest.raises(EdgetlError, match="not a TFLite file"):
        M.read(b"garbage!")
    corrupt = bytearray(tiny_tflite())
    corrupt[8:] = b"\xff" * (len(corrupt) - 8)
    with pytest.raises(EdgetlError, match="does not parse"):
        M.populate(bytes(corrupt), contract())
    assert M.read(tiny_tflite()) is None  # no metadata is not an error


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "m.tflite"
    path.write_bytes(tiny_tflite())
    before = path.read_bytes()

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(M, "associated_files", boom)
    with pytest.raises(RuntimeError):
        M.write(path, contract())
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["m.tflite"]
    monkeypatch.undo()
    M.write(path, contract())
    assert M.labels(M.read(path)) == LABELS


def test_runtime_reads_the_embedded_contract_without_a_sidecar(tmp_path):
    from edgetl.runtime.registry import open_artifact

    path = tmp_path / "m.tflite"
    path.write_bytes(M.populate(tiny_tflite(), contract()))
    runner = open_artifact(path)
    assert runner.contract.labels == LABELS and runner.contract.mean == [127.5] * 3
    pixels = np.zeros((1, 4, 4, 3), np.uint8)
    pixels[..., 2] = 255
    assert np.allclose(runner.predict(pixels)[0], [-1, -1, 1])


def invoke_cli(*args):
    from edgetl.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_inspect_cli_text_json_and_errors(tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(M.populate(tiny_tflite(), contract()))
    r = invoke_cli("inspect", path, "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["ops"] == {"MEAN": 1} and doc["op_count"] == 1
    assert doc["inputs"] == [{"name": "image", "shape": [1, 4, 4, 3], "dtype": "float32"}]
    assert doc["metadata"]["labels"] == {"count": 3, "first": LABELS}
    assert doc["metadata"]["edgetl_contract"]["labels"] == LABELS
    assert doc["metadata"]["packed_files"][M.LABELS_FILE] == len("red\ngreen\nblue\n")
    r = invoke_cli("inspect", path)
    assert r.exit_code == 0 and "TENSOR_AXIS_LABELS" in r.output and "MEAN 1" in r.output

    bare = tmp_path / "bare.tflite"
    bare.write_bytes(tiny_tflite())
    assert "no TFLite metadata" in invoke_cli("inspect", bare).output
    for bad, needle in ((tmp_path / "nope.tflite", "does not exist"), (tmp_path / "x.txt", "not a .tflite or .onnx")):
        if needle.startswith("not"):
            bad.write_text("hello")
        r = invoke_cli("inspect", bad)
        assert r.exit_code == 2 and needle in r.output and "Traceback" not in r.output
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 64)
    r = invoke_cli("inspect", junk)
    assert r.exit_code == 2 and "not a TFLite file" in r.output


def test_coral_file_metadata_and_inspect():
    model = CORAL / "mobilenet_v2_1.0_224_quant.tflite"
    need(model, "Google's Coral model")
    from edgetl.runtime.registry import inspect_artifact

    info = inspect_artifact(model)
    assert info["inputs"][0] == {"name": "input", "shape": [1, 224, 224, 3], "dtype": "uint8",
                                 "scale": 0.0078125, "zero_point": 128}
    assert info["metadata"]["labels"]["count"] == 1001
    assert M.labels(M.read(model))[286] == "Egyptian cat"
    assert info["ops"]["CONV_2D"] == 36 and info["metadata"]["edgetl_contract"] is None
