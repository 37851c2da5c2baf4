"""The measurement side of `edgetl compare`: each backbone's artifacts, made by the stages' own converters.

A backbone's classic ImageNet classifier (random weights) or, with data, a transfer classifier
trained by ``edgetl.stages.train``, is converted by ``edgetl.tflite.converter`` and
``edgetl.onnx.export.export_onnx``, each step (every TFLite mode, then the ONNX export) in its own
process (``python -m edgetl.compare.jobs --job``): the peaks of a big model's steps do not add up
(VGG16 at 224 px, random weights: 4.6 GB float32 TFLite, 6.6 GB int8, 6.2 GB ONNX peak RSS; all of
them in one process went past 10 GB), and a killed step only costs its own cell. Each step's peak
is in the row (``<kind>_convert_peak_mb``).
"""
from __future__ import annotations

import gc
import shutil
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from edgetl.backbones.registry import build_imagenet_classifier, count_weight_layers, get_backbone
from edgetl.errors import EdgetlError
from edgetl.formats.contract import Contract
from edgetl.formats.registry import get_format, tflite_format
from edgetl.compare.claims import claim_flags, params_compared

ONNX_FLOAT = "onnx:float32"
REFERENCE_FORMAT = "tflite:int8"  # compared with Google's uint8 MobileNetV2
REFERENCE_BACKBONE, REFERENCE_ALPHA, REFERENCE_SIZE = "mobilenet_v2", 1.0, 224
CALIBRATION_SAMPLES = 8
CONVERT_TIMEOUT_S = 3600  # per step
PEAK_KEY = "_peak_rss_mb"  # the step process's ru_maxrss, beside its kinds in the job's output file


def job_of(formats: Sequence[str]) -> dict:
    """The conversion part of a job: TFLite modes and whether float ONNX is wanted."""
    return {"modes": [get_format(n).mode for n in formats if n != ONNX_FLOAT], "onnx": ONNX_FLOAT in formats}


def imagenet_contract(spec, size: int, alpha, classes: int) -> Contract:
    return Contract(labels=[str(i) for i in range(classes)], height=size, width=size, mean=list(spec.mean),
                    std=list(spec.std), channel_order=spec.channel_order, output_units=classes, backbone=spec.name,
                    alpha=alpha, weights_source="random", artifact="keras")


def convert_all(model, contract: Contract, out_dir: Path, stem: str, calibration: np.ndarray,
                modes=None, onnx: bool = True) -> dict:
    """{kind: (path | None, error | None)} per TFLite mode (kind "tflite_<mode>"; default: the registry's compare
    modes) and float ONNX ("onnx")."""
    from edgetl.onnx.export import export_onnx
    from edgetl.tflite.converter import convert_tflite

    if modes is None:
        from edgetl.formats.registry import COMPARE_FORMATS

        modes = job_of(COMPARE_FORMATS)["modes"]
    out_dir.mkdir(parents=True, exist_ok=True)
    done = {}
    try:
        info = (convert_tflite(model, contract, list(modes), out_dir, calibration=calibration, stem=stem,
                               keep_going=True) if modes else {})  # one mode's failure is that mode's cell only
        for mode in modes:
            fmt = tflite_format(mode)
            if (info.get(mode) or {}).get("error"):
                done[fmt.compare_key] = (None, info[mode]["error"])
                continue
            p = _path_of(info.get(mode), fmt.path(out_dir, stem))
            done[fmt.compare_key] = (p, None) if p and p.is_file() else (None, f"no {mode} TFLite written")
    except Exception as e:  # one backbone's failed conversion must not stop the others
        for mode in modes:
            done[tflite_format(mode).compare_key] = (None, _reason(e))
    if onnx:
        fmt = get_format(ONNX_FLOAT)
        path = fmt.path(out_dir, stem)
        try:
            export_onnx(model, contract, path)
            done[fmt.compare_key] = (path, None) if path.is_file() else (None, "no ONNX written")
        except Exception as e:
            done[fmt.compare_key] = (None, _reason(e))
    return done


def _path_of(info, default: Path) -> Optional[Path]:
    if isinstance(info, dict):
        for key in ("artifact", "path"):
            if info.get(key):
                return Path(info[key])
    return default


def _reason(e: Exception) -> str:
    text = (str(e).splitlines() or [""])[0][:200]
    return text if isinstance(e, EdgetlError) else f"{type(e).__name__}: {text}"


def random_pixels(n: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)


def clear_keras():
    from edgetl import _tf

    _tf.keras().backend.clear_session()
    gc.collect()


def count_backbone(spec, size: int, alpha, classes: int) -> dict:
    """Depth and parameters of ``spec``'s classic classifier, and the classic claims they contradict (parameters:
    with 1000 classes, at alpha 1.0)."""
    model = build_imagenet_classifier(spec, size, alpha, classes)
    depth, params = count_weight_layers(model), int(model.count_params())
    del model
    clear_keras()
    a = alpha if spec.alphas else None
    flags = [f for f in claim_flags(spec.seed, depth, params, a) if classes == 1000 or f.startswith("depth")]
    return {"depth": depth, "params": params, "params_compared": params_compared(a, classes), "flags": flags}


def convert_backbone(spec, size: int, alpha, formats: Sequence[str], work: Path, *, classes: int,
                     data: Optional[str], weights_dir: Optional[str], epochs: int, progress) -> dict:
    """One backbone's entry: counts, claims' flags and its artifacts {kind: (path | None, error | None)};
    with ``data`` also the trained run's params and test split (``_test``, ``_labels``)."""
    entry = {"backbone": spec.name, "family": spec.family, "input_size": size, "alpha": alpha, "errors": [],
             **count_backbone(spec, size, alpha, classes)}
    job = {"backbone": spec.name, "size": size, "alpha": alpha, "classes": classes, "out_dir": str(work / spec.name),
           "stem": spec.name, "run_dir": None, "calibration": None}
    if data is not None:
        run_dir, model_params, test_split, labels = train_transfer(spec, size, alpha, data, weights_dir, epochs,
                                                                   work / spec.name / "run", progress)
        entry["artifact_params"] = model_params
        entry["_test"], entry["_labels"] = test_split, labels
        job["run_dir"], job["calibration"] = str(run_dir), str(run_dir / "calibration.npy")
    t0 = time.perf_counter()
    entry["peaks"] = {}
    entry["artifacts"] = convert_in_subprocess({**job, **job_of(formats)}, work, peaks=entry["peaks"])
    entry["seconds"] = time.perf_counter() - t0
    entry["errors"] += [f"{kind}: {err}" for kind, (_, err) in entry["artifacts"].items() if err]
    return entry


def reference_twin(entries, work: Path, classes: int, reuse: bool) -> Optional[Path]:
    """Our int8 MobileNetV2 1.0 224 (classic classifier), reused from the table when it is there."""
    if reuse:
        for e in entries:
            if (e["backbone"], e["alpha"], e["input_size"]) == (REFERENCE_BACKBONE, REFERENCE_ALPHA, REFERENCE_SIZE):
                path, _ = e["artifacts"].get(get_format(REFERENCE_FORMAT).compare_key, (None, None))
                if path:
                    return path
    job = {"backbone": REFERENCE_BACKBONE, "size": REFERENCE_SIZE, "alpha": REFERENCE_ALPHA, "classes": classes,
           "out_dir": str(work / "reference"), "stem": "mobilenet_v2_1.0_224", **job_of([REFERENCE_FORMAT]),
           "run_dir": None, "calibration": None}
    return convert_in_subprocess(job, work)[get_format(REFERENCE_FORMAT).compare_key][0]


def train_transfer(spec, size, alpha, data, weights_dir, epochs, out: Path, progress):
    """A transfer classifier trained by edgetl.stages.train: (run dir, its params, test split, labels).

    The run's training images (up to 32) are saved as ``calibration.npy`` for the int8 conversion.
    """
    from edgetl.data.access import split_labels, split_pixels
    from edgetl.rundir import RunDir
    from edgetl.stages.train import TrainConfig, train

    result = train(TrainConfig(data=str(data), backbone=spec.name, alpha=alpha, input_size=size, weights="auto",
                               weights_dir=weights_dir, epochs=epochs, fine_tune_epochs=1, out=str(out)),
                   progress=progress, log=lambda m: None, force=True)  # compare owns its workdir
    clear_keras()
    run = RunDir(out)
    splits = run.splits()  # in memory or file lists, as training chose (data.access)
    n = min(max(CALIBRATION_SAMPLES, 32), len(split_labels(splits, "train")))
    np.save(out / "calibration.npy", split_pixels(splits, "train", np.arange(n))[0])
    return out, int(result["params"]), splits.test, list(run.contract().labels)


def link_test_split(test, labels, dest: Path) -> Path:
    """The run's held-out test images as DIR/<label>/ (symlinks), the layout `benchmark --data` reads."""
    if dest.exists():
        shutil.rmtree(dest)
    for f, lab in zip(test.files, test.labels):
        d = dest / labels[int(lab)]
        d.mkdir(parents=True, exist_ok=True)
        link = d / Path(f).name
        if not link.exists():
            link.symlink_to(Path(f).resolve())
    return dest


def job_kinds(job: dict) -> list:
    return ([tflite_format(m).compare_key for m in job["modes"]]
            + ([get_format(ONNX_FLOAT).compare_key] if job.get("onnx") else []))


def job_steps(job: dict) -> list:
    """The job split into one sub-job per conversion step: each TFLite mode, then the float ONNX export."""
    steps = [{**job, "modes": [m], "onnx": False} for m in job["modes"]]
    return steps + ([{**job, "modes": [], "onnx": True}] if job.get("onnx") else [])


def run_job(job: dict, save=None) -> dict:
    """One backbone's conversions, in this process: {kind: [path | None, error | None]}.

    ``save(partial)`` is called after the TFLite files and again after the ONNX file, so a process
    killed during the (memory-hungry) ONNX export still leaves its TFLite results behind.
    """
    if job.get("run_dir"):
        from edgetl.rundir import RunDir

        run = RunDir(job["run_dir"])
        model, contract = run.load_model(), run.contract()
    else:
        from edgetl import _tf

        spec = get_backbone(job["backbone"])
        _tf.set_seed(0)  # the same random weights in every process
        model = build_imagenet_classifier(spec, job["size"], job["alpha"], job["classes"])
        contract = imagenet_contract(spec, job["size"], job["alpha"], job["classes"])
    out_dir = Path(job["out_dir"])
    result = {}
    if job["modes"]:
        cal = np.load(job["calibration"]) if job.get("calibration") else random_pixels(CALIBRATION_SAMPLES, job["size"])
        done = convert_all(model, contract, out_dir, job["stem"], cal, modes=job["modes"], onnx=False)
        result.update({k: [str(p) if p else None, err] for k, (p, err) in done.items()})
        if save:
            save(result)
    if job.get("onnx"):
        done = convert_all(model, contract, out_dir, job["stem"], None, modes=(), onnx=True)
        result.update({k: [str(p) if p else None, err] for k, (p, err) in done.items()})
        if save:
            save(result)
    return result


def convert_in_subprocess(job: dict, work: Path, timeout: float = CONVERT_TIMEOUT_S,
                          peaks: Optional[dict] = None) -> dict:
    """``run_job`` step by step (``job_steps``), each step in a fresh process (``python -m
    edgetl.compare.jobs --job``); {kind: (Path | None, error | None)}.

    A kind a process did not report (it was killed, e.g. by the OOM killer) gets the reason as its
    error. ``peaks``, when given, receives {kind: peak RSS in MB} of each step that finished.
    """
    done = {}
    for step in job_steps(job):
        tag = "onnx" if step["onnx"] else step["modes"][0]
        done.update(_run_step(step, work, timeout, f"{job['stem']}.{tag}", peaks))
    return done


def _run_step(job: dict, work: Path, timeout: float, name: str, peaks: Optional[dict]) -> dict:
    import json
    import subprocess
    import sys

    from edgetl.fsutil import read_json, write_json
    from edgetl.measure.worker_env import worker_env

    jobs = work / ".jobs"
    jobs.mkdir(parents=True, exist_ok=True)
    inp, out = jobs / f"{name}.in.json", jobs / f"{name}.out.json"
    write_json(inp, job)
    out.unlink(missing_ok=True)
    env = worker_env()
    reason = None
    try:
        proc = subprocess.run([sys.executable, "-m", "edgetl.compare.jobs", "--job", str(inp), "--out", str(out)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout)
        if proc.returncode == -9:
            reason = "conversion killed (signal 9: out of memory?)"
        elif proc.returncode < 0:
            reason = f"conversion crashed (signal {-proc.returncode})"
        elif proc.returncode:
            tail = [ln for ln in proc.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
            reason = f"conversion exited {proc.returncode}: {json.dumps(tail[-1][:200]) if tail else 'no message'}"
    except subprocess.TimeoutExpired:
        reason = f"conversion timed out after {timeout:.0f} s"
    reported = read_json(out) if out.is_file() else {}
    if peaks is not None and reported.get(PEAK_KEY) is not None:
        peaks.update({k: reported[PEAK_KEY] for k in job_kinds(job) if k in reported})
    return {k: (Path(reported[k][0]) if reported[k][0] else None, reported[k][1]) if k in reported
            else (None, reason or "conversion reported nothing") for k in job_kinds(job)}


def _main(argv=None) -> int:
    import argparse

    from edgetl.fsutil import read_json, write_json

    ap = argparse.ArgumentParser(prog="python -m edgetl.compare.jobs", description="one conversion job of edgetl compare")
    ap.add_argument("--job", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    job = read_json(a.job)
    try:
        result = run_job(job, save=lambda partial: write_json(a.out, partial))
    except Exception as e:  # a failed job is a row, not a lost table
        done = read_json(a.out) if Path(a.out).is_file() else {}
        result = {k: done.get(k) or [None, _reason(e)] for k in job_kinds(job)}
    import resource

    result[PEAK_KEY] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6, 1)  # KiB -> MB
    write_json(a.out, result)
    return 0


if __name__ == "__main__":
    import sys as _sys

    _sys.exit(_main())
