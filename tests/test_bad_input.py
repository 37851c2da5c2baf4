"""The bad-input matrix (issue 18): every hostile case a tester found, and README's promises, as one table.

Each row: case id, the command, the exit code and a fragment of the one line the user must see. Every
row also checks that no traceback is printed and, for a refused command, that nothing was written
(no new file, no temporary file left beside the artifacts).

Fast rows use fabricated run folders (a contract, a manifest, placeholder model bytes: every check here
happens before a model is loaded) and a few generated images. Rows that need a real model (``SLOW``)
share one trained run (``small_run``) plus one int8 TFLite and ONNX made from it, and run in the slow tier.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pytest
from click.testing import CliRunner

from edgetl.cli import main
from edgetl.formats.contract import Contract
from edgetl.fsutil import is_temp

TMP_ONNX = ".model.abcd1234.tmp.onnx"  # what a killed `convert` leaves (atomic_path's temporary name)
TMP_TFLITE = ".model_float32.k3j_x9a2.tmp.tflite"  # what a killed `quantize` leaves


# ---- fabricated inputs ----------------------------------------------------------------------------

def fake_run(path: Path, model_bytes: bytes = b"model-v1") -> Path:
    """A run folder as `train` writes it, with placeholder model bytes."""
    path.mkdir(parents=True, exist_ok=True)
    c = Contract(labels=["a", "b"], height=32, width=32, artifact="keras", output_units=2)
    (path / "contract.json").write_text(c.to_json())
    (path / "labels.txt").write_text("a\nb\n")
    (path / "manifest.json").write_text(json.dumps({"edgetl_run": 1, "data": {"options": {
        "source": "digits", "val_ratio": 0.15, "test_ratio": 0.15, "seed": 42, "limit_per_class": None}}}))
    (path / "metrics.json").write_text(json.dumps({"test": {"accuracy": 0.5, "confusion_matrix": [[1, 0], [0, 1]]}}))
    (path / "model.keras").write_bytes(model_bytes)
    return path


def fake_artifact(run: Path, where: Path, name: str = "model_int8") -> Path:
    """A TFLite placeholder and its contract, recording ``run``'s current model.keras as its source."""
    from edgetl.rundir import RunDir

    where.mkdir(parents=True, exist_ok=True)
    c = Contract.load(run / "contract.json").replace(artifact="tflite:int8",
                                                     source_model=RunDir(run).provenance(run / "model.keras"))
    (where / f"{name}.tflite").write_bytes(b"TFL3 placeholder")
    (where / f"{name}.json").write_text(c.to_json())
    return where / f"{name}.tflite"


def images(folder: Path, n: int = 4, size: int = 40, seed: int = 0) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"img{i}.jpg")
    return folder


def class_data(root: Path, classes=("cat", "dog"), n: int = 4) -> Path:
    for k, c in enumerate(classes):
        images(root / c, n, seed=k)
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- setups: each returns the placeholders of its row's command (and env) -------------------------

def s_run(tmp):
    return {"R": fake_run(tmp / "run")}


def s_damaged(name: str, text: str):
    def setup(tmp):
        run = fake_run(tmp / "run")
        (run / name).write_text(text)
        return {"R": run, "D": class_data(tmp / "data")}
    return setup


def s_no_model(tmp):
    run = fake_run(tmp / "run")
    (run / "model.keras").unlink()
    return {"R": run, "D": class_data(tmp / "data")}


def s_temp_files(tmp):
    run = fake_run(tmp / "run")
    (run / TMP_ONNX).write_bytes(b"half an onnx")
    (run / TMP_TFLITE).write_bytes(b"half a tflite")
    return {"R": run}


def s_stale_elsewhere(tmp):
    run = fake_run(tmp / "run")
    art = fake_artifact(run, tmp / "elsewhere")
    (run / "model.keras").write_bytes(b"model-v2: retrained with --force")
    return {"R": run, "A": art, "OUT": tmp / "assets"}


def s_data(tmp):
    return {"D": class_data(tmp / "data"), "OUT": tmp / "new_run"}


def s_multiworker(tmp):
    ports = [free_port(), free_port()]
    cfg = {"cluster": {"worker": [f"localhost:{p}" for p in ports]}, "task": {"type": "worker", "index": 0}}
    return {"D": class_data(tmp / "data"), "OUT": tmp / "mw_run", "_env": {"TF_CONFIG": json.dumps(cfg)}}


def s_bad_tf_config(tmp):
    cfg = {"cluster": {"worker": ["localhost:1", "localhost:2"]}, "task": {"type": "worker", "index": 7}}
    return {"D": class_data(tmp / "data"), "OUT": tmp / "mw_run", "_env": {"TF_CONFIG": json.dumps(cfg)}}


def s_csv(ident: str):
    def setup(tmp):
        flat = images(tmp / "flat", 6)
        other = images(tmp / "other", 1)
        rows = [f"img{i}.jpg,{'cat' if i % 2 else 'dog'}" for i in range(6)]
        rows.append(f"{ident.format(other=other / 'img0.jpg')},cat")
        (tmp / "labels.csv").write_text("id,label\n" + "\n".join(rows) + "\n")
        return {"D": flat, "CSV": tmp / "labels.csv", "OUT": tmp / "csv_run"}
    return setup


def s_stages(text: str):
    def setup(tmp):
        out = tmp / "pipeline"
        out.mkdir()
        (out / "stages.json").write_text(text)
        return {"OUT": out}
    return setup


def s_train_folder(tmp):
    return {"OUT": fake_run(tmp / "trained")}


def s_not_empty(tmp):
    out = tmp / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    return {"D": class_data(tmp / "data"), "OUT": out}


def s_split_named_classes(tmp):
    root = tmp / "ambiguous"
    images(root / "train", 2)
    images(root / "cats", 2)
    return {"D": root, "OUT": tmp / "amb_run"}


def s_locked(tmp):
    run = fake_run(tmp / "run")
    import fcntl

    fd = os.open(run / ".edgetl.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.pwrite(fd, b"pid 1: edgetl quantize", 0)
    return {"R": run, "_hold": fd}


# ---- the table ------------------------------------------------------------------------------------

@dataclass
class Case:
    id: str
    setup: Callable
    args: str  # placeholders {R} {D} {OUT} {A} {CSV} from the setup
    code: int
    fragment: str
    absent: tuple = ()  # text the output must not hold
    gone: tuple = ()  # files (relative to the tmp folder) the command must have removed
    writes: bool = False  # the command may write files (exit 0 rows)


W = "--backbone mobilenet_v2 --alpha 0.35 --input-size 32 --weights none --epochs 1 --fine-tune-epochs 0"
CONTRACT_LIST = "[1, 2, 3]"

FAST = [
    # 2. run files that are valid JSON but the wrong shape: "damaged", exit 2, for every consumer
    *[Case(f"contract-list-{cmd.split()[0]}", s_damaged("contract.json", CONTRACT_LIST), cmd, 2,
           "damaged: {R}/contract.json (not an edgetl contract: a JSON list")
      for cmd in ("quantize {R} --mode float32", "convert {R} --to onnx", "evaluate {R} --data {D}", "prune {R}",
                  "export android {R} --out {R}/assets", "predict {R} {D}")],
    Case("contract-labels-number", s_damaged("contract.json", '{"format": "edgetl-contract/1", "labels": 3}'),
         "quantize {R} --mode float32", 2, "damaged: {R}/contract.json"),
    Case("contract-height-text", s_damaged("contract.json", json.dumps(
        {**Contract(["a", "b"], 32, 32).to_dict(), "input": {**Contract(["a", "b"], 32, 32).to_dict()["input"],
                                                             "height": "tall"}})),
         "convert {R} --to onnx", 2, "input.height is 'tall', not a positive integer"),
    Case("contract-not-json", s_damaged("contract.json", "{not json"), "quantize {R} --mode float32", 2,
         "damaged: {R}/contract.json (not valid JSON"),
    Case("manifest-list", s_damaged("manifest.json", "[1, 2]"), "quantize {R} --mode float32", 2,
         "damaged: {R}/manifest.json (a JSON array, not an object)"),
    Case("manifest-options-list", s_damaged("manifest.json", '{"data": {"options": []}}'), "convert {R}", 2,
         "damaged: {R}/manifest.json (no data.options mapping)"),
    Case("manifest-config-list", s_damaged("manifest.json", json.dumps(
        {"data": {"options": {"source": "digits"}}, "config": [1]})), "prune {R}", 2,
         "damaged: {R}/manifest.json ('config' is not an object)"),
    Case("manifest-bad-ratio", s_damaged("manifest.json", '{"data": {"options": {"source": "digits", "val_ratio": "x"}}}'),
         "quantize {R} --mode float32", 2, "damaged: {R}/manifest.json (bad data.options"),
    Case("stages-json-list", s_stages("[]"), "run --out {OUT} --until train", 2,
         "damaged: {OUT}/stages.json (a JSON array, not an object); pass --force", absent=("different run",)),
    Case("stages-json-empty-identity", s_stages('{"identity": {}, "stages": {}}'), "run --out {OUT} --until train",
         2, "damaged: {OUT}/stages.json (identity has no 'name')", absent=("different run",)),
    Case("stages-json-not-json", s_stages("{not json"), "run --out {OUT} --until train", 2,
         "damaged: {OUT}/stages.json (not valid JSON"),
    Case("run-on-a-train-folder", s_train_folder, "run --out {OUT} --until train", 2,
         "holds a run made by `edgetl train`", absent=("not an edgetl run",)),
    # 3. temporary files of a killed command: never benchmarked or exported, swept by the next command
    Case("benchmark-a-temp-onnx", s_temp_files, "benchmark {R}/" + TMP_ONNX, 2,
         "is the temporary file of an interrupted edgetl command"),
    Case("benchmark-a-temp-tflite", s_temp_files, "benchmark {R}/" + TMP_TFLITE, 2,
         "is the temporary file of an interrupted edgetl command"),
    Case("temp-swept-by-next-command", s_temp_files, "export android {R} --artifact int8 --out {R}/assets", 2,
         "no TFLite artifact 'int8'", gone=("run/" + TMP_ONNX, "run/" + TMP_TFLITE)),
    # 4. an artifact copied elsewhere is compared with the run's model all the same
    Case("export-stale-artifact-elsewhere", s_stale_elsewhere, "export android {R} --artifact {A} --out {OUT}", 2,
         "model_int8.tflite was made from an older model.keras"),
    # 5. a multi-worker peer that never starts: one line and exit 2 at --distribute-timeout
    Case("multiworker-peer-never-starts", s_multiworker,
         "train --data {D} " + W + " --distribute multiworker --distribute-timeout 1 --out {OUT}", 2,
         "no answer from localhost:"),
    Case("multiworker-bad-tf-config", s_bad_tf_config,
         "train --data {D} " + W + " --distribute multiworker --out {OUT}", 2, "TF_CONFIG field 'task.index'"),
    # 6. model.keras deleted
    *[Case(f"no-model-keras-{cmd.split()[0]}", s_no_model, cmd, 2,
           "damaged: {R}/model.keras (the trained model is missing)")
      for cmd in ("quantize {R} --mode float32", "convert {R} --to onnx", "prune {R}")],
    # 7. input size: an upper bound per backbone, with a memory estimate
    Case("input-size-100000", s_data, "train --data {D} --input-size 100000 --out {OUT}", 2,
         "above mobilenet_v2's maximum of 1024 px: one image needs 111.8 GiB"),
    Case("input-size-below-minimum", s_data, "train --data {D} --backbone resnet50 --input-size 16 --out {OUT}", 2,
         "below resnet50's minimum of 32 px"),
    # 10. one --threads for every command
    *[Case(f"threads-0-{cmd.split()[0]}", s_run, cmd, 2, "--threads must be positive")
      for cmd in ("predict {R} {R}/labels.txt --threads 0", "evaluate {R} --data {R} --threads 0",
                  "benchmark {R} --threads 0", "compare --backbones mobilenet --threads 0")],
    Case("threads-text-predict", s_run, "predict {R} {R}/labels.txt --threads two", 2,
         "--threads must be a positive integer"),
    # 11. labels-CSV ids resolve inside --data or are refused
    Case("csv-id-parent-dir", s_csv("../other/img0.jpg"), "train --data {D} --labels-csv {CSV} " + W + " --out {OUT}",
         2, "id '../other/img0.jpg' points outside --data"),
    Case("csv-id-absolute", s_csv("{other}"), "train --data {D} --labels-csv {CSV} " + W + " --out {OUT}", 2,
         "points outside --data"),
    Case("csv-id-etc-passwd", s_csv("../../etc/passwd"), "train --data {D} --labels-csv {CSV} " + W + " --out {OUT}",
         2, "points outside --data"),
    # README's promises
    Case("train-out-not-empty", s_not_empty, "train --data {D} " + W + " --out {OUT}", 2, "pass --force"),
    Case("train-no-such-data", s_data, "train --data {D}/nope " + W + " --out {OUT}", 2, "nope"),
    Case("ambiguous-layout", s_split_named_classes, "train --data {D} " + W + " --out {OUT}", 2, "train"),
    Case("limit-images-negative", s_data, "train --data {D} --limit-images -3 --out {OUT}", 2, "--limit-images"),
    Case("unknown-backbone", s_data, "train --data {D} --backbone lenet --out {OUT}", 2, "lenet"),
    Case("alpha-not-for-backbone", s_data, "train --data {D} --backbone resnet50 --alpha 0.5 --out {OUT}", 2,
         "--alpha"),
    Case("run-locked", s_locked, "quantize {R} --mode float32", 2, "is in use by pid 1: edgetl quantize"),
    Case("benchmark-missing-file", s_run, "benchmark {R}/nope.tflite", 2, "does not exist"),
    Case("benchmark-runs-0", s_run, "benchmark {R} --runs 0", 2, "--runs"),
]


# ---- running a row --------------------------------------------------------------------------------

def _files(root: Path) -> set:
    return {p.relative_to(root) for p in root.rglob("*") if p.name != ".edgetl.lock"}


def _fill(text: str, subs: dict) -> str:
    return text.format(**{k: v for k, v in subs.items() if not k.startswith("_")})


def run_case(case: Case, tmp: Path, subs: Optional[dict] = None):
    subs = {**(subs or {}), **case.setup(tmp)}
    args = _fill(case.args, subs).split()
    before = _files(tmp)
    try:
        r = CliRunner().invoke(main, args, env=subs.get("_env"))
    finally:
        if "_hold" in subs:
            os.close(subs["_hold"])
    out = r.output
    assert r.exit_code == case.code, (case.id, r.exit_code, out, r.exception)
    assert "Traceback" not in out and not (r.exception and not isinstance(r.exception, SystemExit)), (case.id, out)
    fragment = _fill(case.fragment, subs)
    assert fragment in out, (case.id, fragment, out)
    for text in case.absent:
        assert text not in out, (case.id, text, out)
    after = _files(tmp)
    assert not [p for p in after - before if is_temp(p)], (case.id, sorted(after))  # no half-written file
    for g in case.gone:
        assert Path(g) not in after, (case.id, g)
    if case.code != 0 and not case.writes:
        assert after <= before, (case.id, sorted(after - before))
        lines = out.strip().splitlines()  # a slow command may have drawn a progress bar before: not an error line
        assert lines[-1].startswith("error: ") and sum(ln.startswith("error") for ln in lines) == 1, (case.id, out)
        assert fragment in lines[-1], (case.id, out)
    return out


@pytest.mark.parametrize("case", FAST, ids=[c.id for c in FAST])
def test_bad_input(case, tmp_path, monkeypatch):
    for k in ("EDGETL_DEBUG", "EDGETL_VERBOSE", "TF_CONFIG"):
        monkeypatch.delenv(k, raising=False)
    run_case(case, tmp_path)


# ---- beside the table: what no command line reaches quickly ---------------------------------------

@pytest.mark.parametrize("name, text, fragment", [
    ("metrics.json", "[1]", "a JSON array, not an object"),
    ("metrics.json", '{"test": {"confusion_matrix": 3}}', "test.confusion_matrix is not a list of rows"),
    ("history.json", '{"phase1": {"loss": 3}}', "'phase1' is not an object with per-epoch lists"),
    ("gate.json", "[1]", "a JSON array, not an object"),
    ("gate.json", '{"model_int8.tflite": 3}', "'model_int8.tflite' is a JSON number, not an object"),
])
def test_every_run_file_reader_checks_the_shape(tmp_path, name, text, fragment):
    from edgetl.errors import EdgetlError
    from edgetl.runtime.parity import load_records
    from edgetl.rundir import read_history, read_metrics

    run = fake_run(tmp_path / "run")
    (run / name).write_text(text)
    reader = {"metrics.json": read_metrics, "history.json": read_history, "gate.json": load_records}[name]
    with pytest.raises(EdgetlError) as err:
        reader(run)
    assert str(err.value).startswith(f"damaged: {run / name} (") and fragment in str(err.value)


def test_a_non_utf8_file_name_hashes_and_lists(tmp_path):
    """1 (fast half): the data hash of a folder holding a file name that is not UTF-8."""
    from edgetl.data.stream import list_splits
    from edgetl.data.types import DataOptions

    if os.uname().sysname == "Darwin":
        pytest.skip("macOS file systems refuse names that are not UTF-8")
    root = class_data(tmp_path / "data", n=6)
    bad = os.fsdecode(b"bad\xff\xfename.jpg")
    shutil.copy(root / "cat" / "img0.jpg", root / "cat" / bad)
    fs = list_splits(DataOptions(source=str(root)), 32)
    assert any(f.endswith(bad) for s in (fs.train, fs.val, fs.test) for f in s.files)
    assert len(fs.data_hash) == 64


def test_removed_artifacts_take_their_gate_records_with_them(tmp_path):
    """train --force: the gate records of the artifacts removed as stale go too (gate.json when none is left)."""
    from edgetl.rundir import RunDir

    run = fake_run(tmp_path / "run")
    fake_artifact(run, run)
    (run / "gate.json").write_text(json.dumps({"model_int8.tflite": {"gate": "pass"}, "model.onnx": {"gate": "pass"}}))
    (run / "model.keras").write_bytes(b"model-v2")
    RunDir(run).remove_stale()
    assert not (run / "model_int8.tflite").exists() and not (run / "gate.json").exists()


def test_link_loops_are_listed_as_skipped(tmp_path):
    from edgetl.data.layouts import resolve_layout

    root = class_data(tmp_path / "data", n=4)
    (root / "cat" / "a.jpg").symlink_to("b.jpg")
    (root / "cat" / "b.jpg").symlink_to("a.jpg")
    lay = resolve_layout(str(root))
    assert any("2 link(s) skipped" in w for w in lay.warnings), lay.warnings
    assert sorted(Path(e.split(":")[0]).name for e in lay.summary()["ignored_examples"]) == ["a.jpg", "b.jpg"]


def test_an_interrupt_a_library_turns_into_its_own_error_is_still_an_interrupt(capfd):
    """8: onnxruntime's import turns Ctrl-C into ImportError('initialization failed'): one line, exit 130."""
    import click

    from edgetl.cli.common import user_errors

    @click.command()
    @user_errors
    def importing():
        try:
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # the handler runs between bytecodes
                pass
        except KeyboardInterrupt:
            raise ImportError("initialization failed") from None

    with pytest.raises(SystemExit) as exc:
        importing.main(args=[], standalone_mode=False)
    err = capfd.readouterr().err
    assert exc.value.code == 130 and "Traceback" not in err and err.strip().startswith("interrupted")


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_sigterm_ends_a_command_like_sigint(capfd, tmp_path, sig, code):
    """One line, exit 128 + signal, and the half-written file of the interrupted step removed."""
    import click

    from edgetl.cli.common import user_errors
    from edgetl.fsutil import atomic_path

    @click.command()
    @user_errors
    def writing():
        with atomic_path(tmp_path / "model_int8.tflite") as tmp:
            tmp.write_bytes(b"half")
            os.kill(os.getpid(), sig)
            for _ in range(1000):  # the handler runs between bytecodes
                pass

    with pytest.raises(SystemExit) as exc:
        writing.main(args=[], standalone_mode=False)
    err = capfd.readouterr().err
    assert exc.value.code == code and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


# ---- slow rows: a real model (one trained run shared by the session, one int8 TFLite + ONNX made from it) ----

@pytest.fixture(scope="module")
def real_run(small_run, tmp_path_factory):
    """A copy of ``small_run`` with model_int8.tflite (+ gate.json) and model.onnx: rows copy it before changing it."""
    from conftest import copy_tree

    run = copy_tree(small_run[0], tmp_path_factory.mktemp("bad_input") / "run")
    for args in (["quantize", str(run), "--mode", "int8"], ["convert", str(run), "--to", "onnx"]):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 0, r.output
    return run


def r_copy(tmp, real):
    from conftest import copy_tree

    return {"R": copy_tree(real, tmp / "run")}


def r_with_temp_files(tmp, real):
    run = r_copy(tmp, real)["R"]
    shutil.copy(run / "model.onnx", run / TMP_ONNX)
    shutil.copy(run / "model_int8.tflite", run / TMP_TFLITE)
    return {"R": run}


def r_damaged_gate(tmp, real):
    run = r_copy(tmp, real)["R"]
    (run / "gate.json").write_text("[1, 2, 3]")
    return {"R": run}


def r_retrain(tmp, real):
    run = r_copy(tmp, real)["R"]
    assert (run / "gate.json").is_file()
    return {"R": run, "D": class_data(tmp / "data", n=6)}


def r_hostile_data(tmp, real):
    """Class folders holding a file name that is not UTF-8 and a loop of two file links."""
    root = class_data(tmp / "data", n=6)
    shutil.copy(root / "cat" / "img0.jpg", root / "cat" / os.fsdecode(b"bad\xff\xfename.jpg"))
    (root / "dog" / "a.jpg").symlink_to("b.jpg")
    (root / "dog" / "b.jpg").symlink_to("a.jpg")
    return {"D": root, "OUT": tmp / "hostile_run"}


SLOW = [
    Case("train-non-utf8-name-and-link-loop", r_hostile_data, "train --data {D} " + W + " --out {OUT}", 0,
         "2 link(s) skipped (broken, or a loop of links)", writes=True),
    Case("train-non-utf8-name-streaming", r_hostile_data,
         "train --data {D} " + W + " --input-pipeline stream --out {OUT}", 0, "trained", writes=True),
    Case("keep-float-unknown-op", r_copy, "quantize {R} --mode int8 --keep-float NOSUCHOP", 2,
         "--keep-float NOSUCHOP: no such op in this model; its ops are "),
    Case("benchmark-lists-only-real-artifacts", r_with_temp_files,
         "benchmark {R} --runs 2 --min-seconds 0 --warmup 1 --rounds 1", 0, "model_int8.tflite",
         absent=(".tmp.", "temporary"), writes=True),
    Case("gate-json-damaged", r_damaged_gate, "inspect {R}/model_int8.tflite", 2,
         "damaged: {R}/gate.json (a JSON array, not an object of file name -> gate record); delete it"),
    Case("train-force-removes-old-gate", r_retrain, "train --data {D} " + W + " --force --out {R}", 0,
         "removed", gone=("run/gate.json", "run/model_int8.tflite"), writes=True),
    Case("quantize-sweeps-temp-files", r_with_temp_files, "quantize {R} --mode float32", 0, "float32",
         gone=("run/" + TMP_ONNX, "run/" + TMP_TFLITE), writes=True),
]


@pytest.mark.slow
@pytest.mark.parametrize("case", SLOW, ids=[c.id for c in SLOW])
def test_bad_input_on_a_real_model(case, real_run, tmp_path, monkeypatch):
    for k in ("EDGETL_DEBUG", "EDGETL_VERBOSE", "TF_CONFIG"):
        monkeypatch.delenv(k, raising=False)
    run_case(dataclasses.replace(case, setup=lambda tmp: case.setup(tmp, real_run)), tmp_path)


def test_edgetl_run_redoes_a_stage_whose_artifacts_went_stale(tmp_path):
    """A model.keras swapped by hand: the quantize stage is no longer "up to date" (its artifact is stale)."""
    from edgetl.pipeline.runner import _outputs_present

    run = fake_run(tmp_path / "run")
    art = fake_artifact(run, run)
    done = {"result": {"artifacts": [{"artifact": str(art)}]}}
    assert _outputs_present(run, done)
    (run / "model.keras").write_bytes(b"model-v2: swapped by hand")
    assert not _outputs_present(run, done)


def test_sigterm_ends_the_wait_for_multiworker_peers(tmp_path):
    """5: the wait for a peer that never starts ends on SIGTERM at once: one line, exit 143, nothing written."""
    import subprocess
    import sys
    import time

    from conftest import PROJECT

    port, peer = free_port(), free_port()
    cfg = {"cluster": {"worker": [f"localhost:{port}", f"localhost:{peer}"]}, "task": {"type": "worker", "index": 0}}
    env = {**os.environ, "TF_CONFIG": json.dumps(cfg), "PYTHONPATH": str(PROJECT)}
    out = tmp_path / "mw_run"
    proc = subprocess.Popen([sys.executable, "-m", "edgetl", "train", "--data", str(class_data(tmp_path / "data")),
                             *W.split(), "--distribute", "multiworker", "--distribute-timeout", "120", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    t0 = time.monotonic()
    while True:  # waiting for its peer, it listens on its own port
        assert proc.poll() is None, proc.communicate()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() - t0 < 60
            time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143 and err.strip().splitlines() == [
        "interrupted: finished steps are kept, unfinished ones left no files"], err
    assert not out.exists()
