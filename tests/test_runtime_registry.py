"""The runtime registry: a runtime registered from outside edgetl (tests/toy_runtime.py, one file) shows up in
`edgetl benchmark` (rows, MACs, --ops, folder listing), `edgetl inspect`, open_artifact and the parity gate; without
its registration the same file is refused (fast tier)."""
from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgetl.cli import main
from edgetl.errors import EdgetlError
from edgetl.formats.contract import Contract
from edgetl.formats.registry import ArtifactFormat
from edgetl.runtime import registry

TESTS = Path(__file__).resolve().parent
LABELS = ["cat", "dog", "fox"]
SIZE = 8
FAST = ["--runs", "5", "--min-seconds", "0", "--warmup", "1", "--rounds", "1"]


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def toy(monkeypatch):
    """toy_runtime registered here and, through EDGETL_RUNTIMES + PYTHONPATH, in every worker process; removed after."""
    monkeypatch.setenv(registry.PLUGINS_ENV, "toy_runtime")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])))
    module = importlib.import_module("toy_runtime")
    registry.register(module.TOY)  # again, should an earlier test have removed it
    yield module
    registry.unregister("toy")


def contract(artifact: str = "toy:float32") -> Contract:
    return Contract(labels=LABELS, height=SIZE, width=SIZE, output_units=len(LABELS), activation="softmax",
                    artifact=artifact)


def weights(seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 0.1, size=(SIZE * SIZE * 3, len(LABELS))), np.zeros(len(LABELS))


def test_without_its_registration_a_toy_file_is_refused(tmp_path):
    registry.unregister("toy")
    f = tmp_path / "model.toy"
    f.write_text("{}")
    r = cli("benchmark", f)
    assert r.exit_code == 2 and "is not a model file edgetl can open" in r.stderr and ".tflite" in r.stderr
    r = cli("inspect", f)
    assert r.exit_code == 2 and "inspect reads model files" in r.stderr


def test_a_registered_runtime_is_benchmarked_with_macs_and_op_profile(toy, tmp_path):
    from edgetl.config.stages import BenchmarkConfig
    from edgetl.measure.bench import benchmark

    w, b = weights()
    toy.write_toy(tmp_path / "model.toy", w, b, contract())
    (tmp_path / "notes.txt").write_text("not a model")
    cfg = BenchmarkConfig(runs=5, min_seconds=0, warmup=1, rounds=1)
    res = benchmark([tmp_path], cfg, ops=True, measure_peak=False)  # a folder: listed by the registry's suffixes
    (row,) = res["results"]
    assert row["error"] is None and row["name"] == "model.toy" and row["runtime"] == "toy"
    assert row["kind"] == "toy:float32" and row["runs"] >= 5 and row["p50_ms"] > 0 and row["xnnpack"] is None
    assert row["macs"] == SIZE * SIZE * 3 * len(LABELS) and row["gmacs"] > 0  # the entry's MAC counter, in the worker
    (prof,) = res["ops"]
    assert prof["runtime"] == "toy" and prof["nodes"] == 1 and "error" not in prof


@pytest.mark.slow  # `edgetl benchmark` measures this machine's GEMM peak once per cache (~15 s on 2 busy cores)
def test_a_registered_runtime_in_the_benchmark_command(toy, tmp_path):
    w, b = weights()
    f = toy.write_toy(tmp_path / "model.toy", w, b, contract())
    r = cli("benchmark", f, *FAST, "--ops")
    assert r.exit_code == 0, r.output
    assert "model.toy" in r.stdout and "toy" in r.stdout and "providers: numpy x1" in r.stdout


def test_a_registered_runtime_is_inspected(toy, tmp_path):
    w, b = weights()
    f = toy.write_toy(tmp_path / "model.toy", w, b, contract())
    r = cli("inspect", f, "--json")
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["format"] == "toy" and info["outputs"][0]["shape"] == [1, len(LABELS)] and info["parity_gate"] is None
    r = cli("inspect", f)
    assert r.exit_code == 0 and "toy" in r.stdout and "MatMul 1" in r.stdout


def test_a_registered_runtime_goes_through_the_parity_gate(toy, tmp_path):
    from edgetl.runtime.parity import Gate, check_parity
    from edgetl.runtime.registry import open_artifact

    w, b = weights()
    ref = open_artifact(toy.write_toy(tmp_path / "reference.toy", w, b, contract()))
    assert isinstance(ref, toy.ToyRunner)
    scale = np.abs(w).max() / 127  # int8 weights: close to the reference, not equal
    close = toy.write_toy(tmp_path / "model_int8.toy", np.round(w / scale) * scale, b, contract("toy:int8"))
    wrong = toy.write_toy(tmp_path / "model_wrong.toy", w[:, ::-1], b, contract("toy:int8"))  # classes swapped
    fmt = ArtifactFormat("toy:int8", "_int8.toy", "toy", "int8", 0.95, "int8 weights")
    pixels = np.random.default_rng(1).integers(0, 256, size=(300, SIZE, SIZE, 3), dtype=np.uint8)
    gate = Gate(reference=ref, pixels=pixels)

    rec = gate.check(fmt, open_artifact(close))
    assert rec["gate"] == "pass" and rec["agreement_low"] >= 0.95 and 0 < rec["max_abs_diff"] < 0.05
    with pytest.raises(EdgetlError, match="parity gate refused model_wrong.toy"):
        gate.check(fmt, open_artifact(wrong))
    with pytest.raises(EdgetlError, match="refused"):
        check_parity(ref, open_artifact(wrong), pixels, 0.95, remove_on_fail=True)
    assert not wrong.exists()  # the refused file is removed (its contract is inside it: nothing beside)

    r = cli("inspect", close)  # inspect shows the saved gate record of this very file
    assert r.exit_code == 0 and "parity gate: pass" in r.stdout


def test_a_registered_runtime_predicts_through_the_cli(toy, tmp_path):
    from PIL import Image

    w, b = weights()
    f = toy.write_toy(tmp_path / "model.toy", w, b, contract())
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(tmp_path / "x.png")
    r = cli("predict", f, tmp_path / "x.png", "--json")
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert got["runtime"] == "toy" and got["kind"] == "toy:float32"
    from edgetl.data.images import load_image

    x = (load_image(tmp_path / "x.png", SIZE, SIZE).astype(np.float64) - 127.5) / 127.5  # the contract's mean/std
    logits = x.reshape(-1) @ w + b
    probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    (pred,) = got["predictions"]
    assert pred["label"] == LABELS[int(np.argmax(probs))] and pred["score"] == pytest.approx(probs.max(), abs=1e-5)


def test_hooks_attached_later_reach_an_entry_already_looked_up():
    """measure/ attaches the built-in op profilers and MAC counters in place: the benchmark worker looks its entry up
    first (to import the engine before the clock starts) and counts MACs after measure/macs.py has loaded."""
    import edgetl.measure.macs  # noqa: F401 - attaches the built-in counters
    import edgetl.measure.ops  # noqa: F401 - attaches the built-in profilers

    assert {rt.name for rt in registry.runtimes() if rt.count_macs} >= {"keras", "tflite", "onnx"}
    assert {rt.name for rt in registry.runtimes() if rt.profile_ops} >= {"tflite", "onnx"}
    held = registry.register(registry.Runtime("late", (".late",), runner=None))
    try:
        registry.attach("late", count_macs=len)
        assert registry.get("late") is held and held.count_macs is len
        with pytest.raises(ValueError, match="already belongs to runtime late"):
            registry.register(registry.Runtime("late2", (".LATE",), runner=None))
    finally:
        registry.unregister("late")


def test_a_registered_runtime_in_a_run_directory_is_checked_for_staleness(toy, tmp_path):
    """The stale check reads the toy's contract where the toy keeps it (inside the file): a toy made from an older
    model.keras is refused by benchmark and removed on retraining, with nothing beside it to remove."""
    from edgetl.measure.bench import expand_artifacts
    from edgetl.rundir import RunDir

    run = tmp_path / "run"
    run.mkdir()
    (run / "contract.json").write_text(contract("keras").to_json())
    (run / "manifest.json").write_text(json.dumps({"edgetl_run": 1, "data": {"options": {"source": "digits"}}}))
    (run / "model.keras").write_bytes(b"model-v1")
    w, b = weights()
    fresh = toy.write_toy(run / "model.toy", w, b, contract().replace(source_model=RunDir(run).provenance(run / "model.keras")))
    assert RunDir(run).artifacts() == [fresh] and dict(expand_artifacts([run]))[fresh] is None
    (run / "model.keras").write_bytes(b"model-v2: retrained")
    reason = dict(expand_artifacts([run]))[fresh]
    assert "model.toy was made from an older model.keras" in reason
    assert RunDir(run).remove_stale() == [fresh] and not fresh.exists()
