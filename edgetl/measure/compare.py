"""The classic comparison table, measured: each backbone built, converted, benchmarked beside the seed's claims.

For every backbone: its classic ImageNet classifier (own top, 1000 classes, random weights: the
parameter count Keras Applications reports) or, with ``data``, a transfer classifier trained by
``edgetl.stages.train`` (``weights_dir`` for ImageNet weights); converted to float32 and int8 TFLite and
ONNX, each backbone's conversions in their own subprocess (``python -m edgetl.measure.compare --job``:
VGG16's ONNX export alone peaks above 22 GB, and a killed conversion must only cost its own cell;
the TFLite files are reported before the ONNX export starts); all artifacts then
benchmarked together by ``edgetl.measure.bench`` (interleaved rounds, subprocesses).

Depth is counted as the seed counts it: layers with learned weights (Conv2D, DepthwiseConv2D,
SeparableConv2D, Dense; ``backbones.count_weight_layers``). BatchNorm, pooling and activations do
not count; depthwise and pointwise convolutions count separately (MobileNet v1 = 28), ResNet50's
projection shortcuts count (54). A row is flagged when the measured depth is outside the seed's
range ("8" exact, "16-19" a range, "50+" a minimum) or the parameters differ from the seed's by
more than ``PARAM_TOLERANCE``.
"""
from __future__ import annotations

import gc
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from edgetl.backbones.registry import build_imagenet_classifier, count_weight_layers, get_backbone
from edgetl.formats.contract import Contract
from edgetl.errors import EdgetlError

FLOAT, INT8 = "float32", "int8"
ARTIFACT_KINDS = ("tflite_float32", "tflite_int8", "onnx")
DEFAULT_BACKBONES = ("alexnet", "vgg16", "resnet50", "mobilenet", "mobilenet_v2", "mobilenet_v3_large")
PARAM_TOLERANCE = 0.10
CALIBRATION_SAMPLES = 8
REFERENCE_BACKBONE, REFERENCE_ALPHA, REFERENCE_SIZE = "mobilenet_v2", 1.0, 224


def seed_depth_range(text: str) -> tuple:
    """'8' -> (8, 8), '16-19' -> (16, 19), '50+' -> (50, inf)."""
    m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)|(\+))?\s*", text)
    if not m:
        raise ValueError(f"unreadable seed depth {text!r}")
    lo = int(m.group(1))
    hi = float("inf") if m.group(3) else int(m.group(2) or lo)
    return lo, hi


def claim_flags(claim, depth: int, params: int) -> list:
    """Where the seed's claim and the measurement disagree, in words."""
    flags = []
    lo, hi = seed_depth_range(claim.depth)
    if not lo <= depth <= hi:
        flags.append(f"depth {depth} vs seed {claim.depth}")
    rel = params / (claim.params_m * 1e6) - 1
    if abs(rel) > PARAM_TOLERANCE:
        flags.append(f"params {params / 1e6:.2f} M vs seed {claim.params_text} ({100 * rel:+.0f}%)")
    return flags


def plan(backbones: Sequence[str], input_size: Optional[int], alpha: Optional[float]) -> list:
    """Validate every backbone and size before any heavy work: [(spec, size, alpha)]."""
    if not backbones:
        raise EdgetlError(f"no backbone given; pass --backbones e.g. {','.join(DEFAULT_BACKBONES)}")
    out = []
    for name in backbones:
        spec = get_backbone(name)
        size = spec.check_size(input_size)
        a = spec.check_alpha(alpha) if (alpha is not None and spec.alphas) else spec.default_alpha
        out.append((spec, size, a))
    return out


def imagenet_contract(spec, size: int, alpha, classes: int) -> Contract:
    return Contract(labels=[str(i) for i in range(classes)], height=size, width=size, mean=list(spec.mean),
                    std=list(spec.std), channel_order=spec.channel_order, output_units=classes, backbone=spec.name,
                    alpha=alpha, weights_source="random", artifact="keras")


def convert_all(model, contract: Contract, out_dir: Path, stem: str, calibration: np.ndarray,
                modes=(FLOAT, INT8), onnx: bool = True) -> dict:
    """{kind: (path | None, error | None)} for tflite_float32, tflite_int8, onnx."""
    from edgetl.stages.convert import export_onnx
    from edgetl.stages.quantize import convert_tflite

    out_dir.mkdir(parents=True, exist_ok=True)
    done = {}
    try:
        info = convert_tflite(model, contract, list(modes), out_dir, calibration=calibration, stem=stem) if modes else {}
        for mode in modes:
            p = _path_of(info.get(mode), out_dir / f"{stem}_{mode}.tflite")
            done[f"tflite_{mode}"] = (p, None) if p and p.is_file() else (None, f"no {mode} TFLite written")
    except Exception as e:  # one backbone's failed conversion must not stop the others
        for mode in modes:
            done[f"tflite_{mode}"] = (None, _reason(e))
    if onnx:
        path = out_dir / f"{stem}.onnx"
        try:
            export_onnx(model, contract, path)
            done["onnx"] = (path, None) if path.is_file() else (None, "no ONNX written")
        except Exception as e:
            done["onnx"] = (None, _reason(e))
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


def _clear_keras():
    from edgetl import _tf

    _tf.keras().backend.clear_session()
    gc.collect()


def compare(backbones: Sequence[str] = DEFAULT_BACKBONES, *, input_size: Optional[int] = 224, threads: int = 1,
            data: Optional[str] = None, weights_dir: Optional[str] = None, reference: Optional[str] = None,
            workdir: Optional[str] = None, progress=None, alpha: Optional[float] = None, runs: int = 50,
            min_seconds: float = 1.0, warmup: int = 5, rounds: int = 3, classes: int = 1000, epochs: int = 3,
            log=None) -> dict:
    """Build, convert and benchmark each backbone; {"seed": rows, "measured": rows, "reference", "benchmark", ...}."""
    from edgetl.measure.bench import benchmark, check_settings

    check_settings([threads] if isinstance(threads, int) else list(threads), runs, min_seconds, warmup, rounds, 33.0)
    plans = plan(list(backbones), input_size, alpha)
    if reference is not None:
        ref = Path(reference)
        if not ref.is_file() or ref.suffix.lower() != ".tflite":
            raise EdgetlError(f"--reference {reference} is not a .tflite file; pass Google's "
                              "mobilenet_v2_1.0_224_quant.tflite (e.g. ../shared/models/coral/)")
    if data is not None and not Path(data).is_dir():
        raise EdgetlError(f"--data {data} is not a folder; pass DIR with one sub-folder per class")
    log = log or (lambda m: None)
    own_tmp = workdir is None
    work = Path(tempfile.mkdtemp(prefix="edgetl-compare-")) if own_tmp else Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    try:
        return _compare(plans, work, threads, data, weights_dir, reference, progress, runs, min_seconds, warmup,
                        rounds, classes, epochs, log, benchmark)
    finally:
        if own_tmp:
            shutil.rmtree(work, ignore_errors=True)


def _compare(plans, work, threads, data, weights_dir, reference, progress, runs, min_seconds, warmup, rounds,
             classes, epochs, log, benchmark) -> dict:
    task = progress.add_task("building and converting", total=len(plans) + (1 if reference else 0)) if progress else None
    entries = []  # one per backbone: claims, counts, artifacts
    test_dir = None
    for spec, size, a in plans:
        if progress:
            progress.update(task, description=f"building and converting {spec.name} {size}px")
        entry = {"backbone": spec.name, "family": spec.family, "input_size": size, "alpha": a, "errors": []}
        model = build_imagenet_classifier(spec, size, a, classes)
        entry["depth"] = count_weight_layers(model)
        entry["params"] = int(model.count_params())
        entry["flags"] = claim_flags(spec.seed, entry["depth"], entry["params"]) if classes == 1000 else []
        del model
        _clear_keras()
        job = {"backbone": spec.name, "size": size, "alpha": a, "classes": classes, "out_dir": str(work / spec.name),
               "stem": spec.name, "run_dir": None, "calibration": None}
        if data is not None:
            run_dir, model_params, test_split, labels = _train_transfer(spec, size, a, data, weights_dir, epochs,
                                                                        work / spec.name / "run", progress)
            entry["artifact_params"] = model_params
            job["run_dir"], job["calibration"] = str(run_dir), str(run_dir / "calibration.npy")
            if test_dir is None:
                test_dir = _link_test_split(test_split, labels, work / "test_split")
        # the conversions in their own process: VGG16's ONNX export alone can take ~20 GB; a killed
        # conversion becomes that artifact's "failed" reason and the other backbones go on
        t0 = time.perf_counter()
        entry["artifacts"] = convert_in_subprocess({**job, "modes": [FLOAT, INT8], "onnx": True}, work)
        log(f"{spec.name} {size}px: depth {entry['depth']}, {entry['params'] / 1e6:.2f} M params, converted in "
            f"{time.perf_counter() - t0:.0f} s" + "".join(f"; {k} failed: {e}" for k, (_, e) in entry["artifacts"].items() if e))
        for kind, (_, err) in entry["artifacts"].items():
            if err:
                entry["errors"].append(f"{kind}: {err}")
        entries.append(entry)
        if progress:
            progress.advance(task)

    twin = None
    if reference:
        twin = _reference_twin(entries, work, classes, data is None)
        if progress:
            progress.advance(task)

    groups = []
    ours = [p for e in entries for p, _ in e["artifacts"].values() if p]
    if data is None:
        groups.append((ours + ([twin, Path(reference)] if reference else []), None))
    else:
        groups.append((ours, test_dir))
        if reference:
            groups.append(([twin, Path(reference)], None))
    bench_rows, system, settings = [], None, None
    for paths, d in groups:
        paths = list(dict.fromkeys(p for p in paths if p))
        if not paths:
            continue
        res = benchmark(paths, threads=(threads,), runs=runs, min_seconds=min_seconds, warmup=warmup, data=d,
                        rounds=rounds, progress=progress)
        bench_rows += res["results"]
        system, settings = res["system"], res["settings"]
    by_path = {r["artifact"]: r for r in bench_rows}

    seed_rows, measured = [], []
    for e in entries:
        claim = get_backbone(e["backbone"]).seed
        seed_rows.append({"backbone": e["backbone"], "family": claim.family, "depth": claim.depth,
                          "params": claim.params_text, "key_advantage": claim.key_advantage, "use_case": claim.use_case})
        row = {"backbone": e["backbone"], "input_size": e["input_size"], "alpha": e["alpha"], "depth": e["depth"],
               "params": e["params"]}
        if "artifact_params" in e:
            row["artifact_params"] = e["artifact_params"]
        errors = list(e["errors"])
        for kind in ARTIFACT_KINDS:
            path, _ = e["artifacts"].get(kind, (None, None))
            b = by_path.get(str(path)) if path else None
            if b and b["error"]:
                errors.append(f"{kind}: {b['error']}")
                b = None
            row[f"{kind}_path"] = str(path) if path else None
            row[f"{kind}_mb"] = b["size_mb"] if b else None
            row[f"{kind}_p50_ms"] = b["p50_ms"] if b else None
            row[f"{kind}_accuracy"] = b["accuracy"] if b else None
        int8 = row["tflite_int8_p50_ms"]
        row["fps_int8"] = 1000.0 / int8 if int8 else None
        row["flags"] = e["flags"]
        row["flagged"] = bool(e["flags"])
        row["errors"] = errors
        measured.append(row)

    ref_out = None
    if reference:
        ours_row, google_row = by_path.get(str(twin)) if twin else None, by_path.get(str(Path(reference)))
        ok = ours_row and google_row and not ours_row["error"] and not google_row["error"]
        ref_out = {
            "ours": str(twin) if twin else None, "google": str(reference),
            "ours_p50_ms": ours_row["p50_ms"] if ok else None, "google_p50_ms": google_row["p50_ms"] if ok else None,
            "ours_mb": ours_row["size_mb"] if ok else None, "google_mb": google_row["size_mb"] if ok else None,
            "ratio": ours_row["p50_ms"] / google_row["p50_ms"] if ok else None,
            "error": None if ok else "; ".join(r["error"] for r in (ours_row, google_row) if r and r["error"])
                     or "our int8 MobileNetV2 export failed",
        }
    return {"seed": seed_rows, "measured": measured, "reference": ref_out, "benchmark": bench_rows,
            "system": system, "settings": {**(settings or {}), "threads": threads, "classes": classes,
                                           "data": str(data) if data else None, "weights_dir": weights_dir,
                                           "depth_counting": "layers with weights: Conv2D, DepthwiseConv2D, "
                                                             "SeparableConv2D, Dense",
                                           "param_tolerance": PARAM_TOLERANCE},
            "workdir": str(work)}


def _reference_twin(entries, work: Path, classes: int, reuse: bool) -> Optional[Path]:
    """Our int8 MobileNetV2 1.0 224 (classic classifier), reused from the table when it is there."""
    if reuse:
        for e in entries:
            if (e["backbone"], e["alpha"], e["input_size"]) == (REFERENCE_BACKBONE, REFERENCE_ALPHA, REFERENCE_SIZE):
                path, _ = e["artifacts"].get("tflite_int8", (None, None))
                if path:
                    return path
    job = {"backbone": REFERENCE_BACKBONE, "size": REFERENCE_SIZE, "alpha": REFERENCE_ALPHA, "classes": classes,
           "out_dir": str(work / "reference"), "stem": "mobilenet_v2_1.0_224", "modes": [INT8], "onnx": False,
           "run_dir": None, "calibration": None}
    return convert_in_subprocess(job, work)["tflite_int8"][0]


def _train_transfer(spec, size, alpha, data, weights_dir, epochs, out: Path, progress):
    """A transfer classifier trained by edgetl.stages.train: (run dir, its params, test split, labels).

    The run's training images (up to 32) are saved as ``calibration.npy`` for the int8 conversion.
    """
    from edgetl.rundir import RunDir
    from edgetl.stages.train import TrainConfig, train

    result = train(TrainConfig(data=str(data), backbone=spec.name, alpha=alpha, input_size=size, weights="auto",
                               weights_dir=weights_dir, epochs=epochs, fine_tune_epochs=1, out=str(out)),
                   progress=progress, log=lambda m: None)
    _clear_keras()
    run = RunDir(out)
    splits = run.splits()
    np.save(out / "calibration.npy", splits.train.images[:max(CALIBRATION_SAMPLES, 32)])
    return out, int(result["params"]), splits.test, list(run.contract().labels)


def _link_test_split(test, labels, dest: Path) -> Path:
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


# ---- conversions in subprocesses ----------------------------------------------------------------

CONVERT_TIMEOUT_S = 3600


def job_kinds(job: dict) -> list:
    return [f"tflite_{m}" for m in job["modes"]] + (["onnx"] if job.get("onnx") else [])


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


def convert_in_subprocess(job: dict, work: Path, timeout: float = CONVERT_TIMEOUT_S) -> dict:
    """``run_job`` in a fresh process (``python -m edgetl.measure.compare --job``); {kind: (Path | None, error | None)}.

    A kind the process did not report (it was killed, e.g. by the OOM killer during the ONNX
    export) gets the reason as its error; what it reported before is kept.
    """
    import json
    import os
    import subprocess
    import sys

    from edgetl.fsutil import read_json, write_json

    jobs = work / ".jobs"
    jobs.mkdir(parents=True, exist_ok=True)
    inp, out = jobs / f"{job['stem']}.in.json", jobs / f"{job['stem']}.out.json"
    write_json(inp, job)
    out.unlink(missing_ok=True)
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    reason = None
    try:
        proc = subprocess.run([sys.executable, "-m", "edgetl.measure.compare", "--job", str(inp), "--out", str(out)], env=env,
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
    return {k: (Path(reported[k][0]) if reported[k][0] else None, reported[k][1]) if k in reported
            else (None, reason or "conversion reported nothing") for k in job_kinds(job)}


def _main(argv=None) -> int:
    import argparse

    from edgetl.fsutil import read_json, write_json

    ap = argparse.ArgumentParser(prog="python -m edgetl.measure.compare", description="one conversion job of edgetl compare")
    ap.add_argument("--job", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    job = read_json(a.job)
    try:
        result = run_job(job, save=lambda partial: write_json(a.out, partial))
    except Exception as e:  # a failed job is a row, not a lost table
        done = read_json(a.out) if Path(a.out).is_file() else {}
        result = {k: done.get(k) or [None, _reason(e)] for k in job_kinds(job)}
    write_json(a.out, result)
    return 0


# ---- the plot ------------------------------------------------------------------------------

def plot(result: dict, path: str | Path) -> Path:
    """Latency vs size (one point per backbone x artifact); accuracy vs latency beside it when measured."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.ticker
    import matplotlib.pyplot as plt

    from edgetl.fsutil import atomic_path

    rows = result["measured"]
    markers = {"tflite_float32": ("o", "TFLite float32"), "tflite_int8": ("s", "TFLite int8"), "onnx": ("^", "ONNX")}
    has_acc = any(r.get(f"{k}_accuracy") is not None for r in rows for k in markers)
    fig, axes = plt.subplots(1, 2 if has_acc else 1, figsize=(13 if has_acc else 7.5, 5.5), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    ax = axes[0][0]
    for i, r in enumerate(rows):
        c = colors[i % len(colors)]
        for k, (m, lab) in markers.items():
            x, y = r.get(f"{k}_mb"), r.get(f"{k}_p50_ms")
            if x is not None and y is not None:
                ax.scatter(x, y, marker=m, color=c, s=50, label=f"{r['backbone']} {lab}")
                if has_acc and r.get(f"{k}_accuracy") is not None:
                    axes[0][1].scatter(y, 100 * r[f"{k}_accuracy"], marker=m, color=c, s=50)
    ref = result.get("reference")
    if ref and ref.get("ratio"):
        ax.scatter(ref["google_mb"], ref["google_p50_ms"], marker="*", color="black", s=120, label="Google uint8 MobileNetV2")
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("size (MB)")
    ax.set_ylabel(f"p50 latency (ms, {result['settings'].get('threads')} thread(s))")
    ax.set_title("latency vs size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    if has_acc:
        a2 = axes[0][1]
        a2.set_xscale("log")
        a2.set_xlabel("p50 latency (ms)")
        a2.set_ylabel("accuracy (%)")
        a2.set_title("accuracy vs latency")
        a2.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return path


if __name__ == "__main__":
    import sys as _sys

    _sys.exit(_main())
