"""`edgetl export android`: the three assets the Android demo app reads.

    OUT/model.tflite   the chosen TFLite artifact of a run, byte for byte
    OUT/labels.txt     one class name per line, in output order
    OUT/model.json     the artifact's contract (Contract.to_dict()): size, mean/std, dtypes, scale/zero point

Before anything is written, the artifact is opened through the runtime layer and its real tensor
details (shape, dtype, scale/zero point, output units) are compared with the contract that will
travel with it: the app trusts model.json, so model.json must describe the file beside it.
The three files are written together: a failed export leaves none of them half-written.

More artifacts of the run can ship beside them (``also``, CLI: ``--artifact`` given again), each under its run
file names (OUT/model_float32.tflite + OUT/model_float32.json): the app's model picker lists every .tflite.
All of them are validated before anything is written, and all are written together.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
from pathlib import Path

import numpy as np

from edgetl.config.stages import ExportConfig
from edgetl.formats.registry import FORMATS
from edgetl.formats.contract import Contract, TensorSpec
from edgetl.errors import EdgetlError
from edgetl.fsutil import atomic_path, check_not_temp, check_writable_dir, listed
from edgetl.rundir import RunDir, run_lock
from edgetl.runtime.runners import TFLiteRunner, sidecar_path

ASSET_MODEL = "model.tflite"
ASSET_LABELS = "labels.txt"
ASSET_CONTRACT = "model.json"
DEFAULT_OUT_SUBDIR = "android"  # RUN_DIR/android unless --out is given
APP_ASSETS = Path("android_demo") / "app" / "src" / "main" / "assets"


def available_artifacts(run_dir: str | Path) -> list:
    """Names `--artifact` accepts for this run: model_int8.tflite -> "int8"."""
    return sorted(p.stem[len("model_"):] if p.stem.startswith("model_") else p.stem
                  for p in listed(run_dir, "*.tflite"))


def resolve_artifact(run_dir: Path, artifact: str) -> Path:
    """"int8" / "tflite:int8" / "model_int8" / a .tflite path -> the TFLite file in the run."""
    name = str(artifact).strip()
    shippable = [f.mode for f in FORMATS.values() if f.android]
    others = [f for f in FORMATS.values() if not f.android]
    if name in {f.name for f in others} or name.endswith(tuple({"." + f.suffix.rsplit(".", 1)[-1] for f in others})):
        raise EdgetlError(f"--artifact {artifact}: the Android demo runs TFLite (LiteRT); "
                          f"choose one of {', '.join(shippable)}")
    if name.startswith("tflite:"):
        name = name[len("tflite:"):]
    if name.endswith(".tflite"):
        p = Path(name)
        candidates = [p, run_dir / p.name]
    else:
        candidates = [run_dir / f"model_{name}.tflite", run_dir / f"{name}.tflite"]
    for c in candidates:
        if c.is_file():
            check_not_temp(c)
            return c
    have = available_artifacts(run_dir)
    listing = f"this run has: {', '.join(have)}" if have else "this run has no TFLite artifact yet"
    fix = (f"make it with `edgetl quantize {run_dir} --mode {name}`" if name in shippable
           else f"TFLite modes are {', '.join(shippable)}")
    raise EdgetlError(f"no TFLite artifact '{artifact}' in {run_dir} ({listing}); {fix}, or pick one the run has")


def _check_spec(where: str, real: TensorSpec, declared: TensorSpec, path: Path) -> None:
    same = real.dtype == declared.dtype
    if same and declared.quantized:
        same = (int(real.zero_point) == int(declared.zero_point)
                and math.isclose(float(real.scale), float(declared.scale), rel_tol=1e-6))
    if not same:
        raise EdgetlError(f"{path.name} {where} is {_describe(real)} but its contract {sidecar_path(path).name} says "
                          f"{_describe(declared)}; the contract belongs to another file: re-run `edgetl quantize`")


def _describe(t: TensorSpec) -> str:
    return f"{t.dtype} (scale {t.scale}, zero point {t.zero_point})" if t.quantized else t.dtype


def validate_artifact(path: Path, contract: Contract) -> dict:
    """Open ``path`` with the runtime layer and prove ``contract`` describes it; returns the real tensor details."""
    runner = TFLiteRunner(path, contract=contract)
    it = runner.interpreter
    ins, outs = it.get_input_details(), it.get_output_details()
    if len(ins) != 1 or len(outs) != 1:
        raise EdgetlError(f"{path.name} has {len(ins)} inputs and {len(outs)} outputs; the Android demo needs "
                          "one image input and one class output (an edgetl classifier)")
    in_shape = [int(s) for s in ins[0]["shape"]]
    out_shape = [int(s) for s in outs[0]["shape"]]
    if len(in_shape) != 4 or in_shape[1:] != [contract.height, contract.width, 3]:
        raise EdgetlError(f"{path.name} takes input {in_shape} but its contract says "
                          f"[1, {contract.height}, {contract.width}, 3]; re-run `edgetl quantize` for this run")
    _check_spec("input", runner.input_spec(), contract.input, path)
    _check_spec("output", runner.output_spec(), contract.output, path)
    units = int(np.prod(out_shape[1:]))
    declared_units = contract.output_units or len(contract.labels)
    if units != declared_units:
        raise EdgetlError(f"{path.name} outputs {units} units but its contract says {declared_units}; "
                          "re-run `edgetl quantize` for this run")
    contract.check_labels()
    # One real inference through the contract: the app will do exactly this, so it must work here.
    probs = runner.predict(np.full((1, contract.height, contract.width, 3), 128, np.uint8))
    if probs.shape != (1, len(contract.labels)) or not np.all(np.isfinite(probs)):
        raise EdgetlError(f"{path.name} gives no finite probabilities for a test image; re-export it with `edgetl quantize`")
    return {"input_shape": in_shape, "output_shape": out_shape,
            "input": _spec_dict(runner.input_spec()), "output": _spec_dict(runner.output_spec())}


def _spec_dict(t: TensorSpec) -> dict:
    d = {"dtype": t.dtype}
    if t.quantized:
        d.update(scale=float(t.scale), zero_point=int(t.zero_point))
    return d


def default_out(run_dir: Path) -> Path:
    """The demo app's assets when run from the edgetl checkout (android_demo/ here), else RUN_DIR/android."""
    return APP_ASSETS if APP_ASSETS.parent.is_dir() else run_dir / DEFAULT_OUT_SUBDIR


def export_android(cfg: ExportConfig) -> dict:
    """Write model.tflite + labels.txt + model.json for the Android demo, plus each artifact in ``cfg.also`` under
    its run file names (model_<name>.tflite + its contract); returns what was written. Parameters, defaults and
    help: ``ExportConfig``."""
    with run_lock(cfg.run, "edgetl export android"):
        return _export(RunDir(cfg.run), cfg.artifact, cfg.out, tuple(cfg.also))


def _checked(run: RunDir, artifact: str) -> tuple:
    """(path, contract, real tensor details) of one artifact, after every check the app relies on."""
    path = resolve_artifact(run.path, artifact)
    run.check_fresh(path)  # never ship a file made from an older model.keras than the run's, wherever it lives
    side = sidecar_path(path)
    if not side.is_file():
        raise EdgetlError(f"{path.name} has no contract {side.name} beside it; re-run `edgetl quantize {run.path}` "
                          "so the app knows its input size, normalisation and scale/zero point")
    contract = Contract.load(side)
    run_labels = list(run.contract().labels)
    if list(contract.labels) != run_labels:
        raise EdgetlError(f"{side.name} has labels {contract.labels} but the run's are {run_labels}; "
                          f"{path.name} comes from another run: re-run `edgetl quantize {run.path}`")
    details = validate_artifact(path, contract)
    return path, contract, details


def _export(run: RunDir, artifact: str, out, also: tuple = ()) -> dict:
    path, contract, details = _checked(run, artifact)
    extras = [_checked(run, a) for a in also]  # every artifact is checked before anything is written
    out_dir = check_writable_dir(Path(out) if out is not None else default_out(run.path))
    model_bytes = path.read_bytes()
    doc = contract.to_dict()
    files = {ASSET_MODEL: out_dir / ASSET_MODEL, ASSET_LABELS: out_dir / ASSET_LABELS, ASSET_CONTRACT: out_dir / ASSET_CONTRACT}
    for p, _c, _d in extras:
        for name in (p.name, sidecar_path(p).name):
            if name in files:
                raise EdgetlError(f"--artifact {p.stem} is given twice or would overwrite {name}; name each artifact once")
            files[name] = out_dir / name
    with contextlib.ExitStack() as stack:  # all files renamed into place only if all were written
        tmp = {name: stack.enter_context(atomic_path(p)) for name, p in files.items()}
        tmp[ASSET_MODEL].write_bytes(model_bytes)
        tmp[ASSET_LABELS].write_text("\n".join(contract.labels) + "\n", encoding="utf-8")
        tmp[ASSET_CONTRACT].write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        for p, c, _d in extras:
            tmp[p.name].write_bytes(p.read_bytes())
            tmp[sidecar_path(p).name].write_text(json.dumps(c.to_dict(), indent=2) + "\n", encoding="utf-8")

    return {
        "out": str(out_dir),
        "files": {k: str(v) for k, v in files.items()},
        "source": str(path),
        "artifact": contract.artifact or f"tflite:{path.stem}",
        "bytes": len(model_bytes),
        "sha256": hashlib.sha256(model_bytes).hexdigest(),
        "labels": list(contract.labels),
        "height": contract.height,
        "width": contract.width,
        "activation": contract.activation,
        **details,
        "also": [{"artifact": c.artifact or f"tflite:{p.stem}", "source": str(p),
                  "files": {p.name: str(out_dir / p.name), sidecar_path(p).name: str(out_dir / sidecar_path(p).name)},
                  "bytes": p.stat().st_size} for p, c, _d in extras],
    }
