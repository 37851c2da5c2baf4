"""One measurement of one artifact at one thread count, in its own process.

    python -m edgetl.measure.bench_worker ARTIFACT --threads N --runs N --min-seconds S --warmup N --out FILE.json
                                           [--no-xnnpack] [--data DIR] [--labels FILE]

``edgetl.measure.bench`` starts one of these per artifact x thread count x round, so one runtime's
thread pools, allocator and memory peak can never leak into another's measurement. The
runtime is imported before the clock starts: ``init_ms`` is load + allocate only.

What is timed (the "bare invoke", as TFLite's benchmark_model times it): the runner's ``timed_call``.
For TFLite the input is set once and ``interpreter.invoke()`` is timed; for ONNX ``session.run`` on the
prepared input; for Keras the ``tf.function`` call (batch 1) and its ``.numpy()``. The runtime's registry
entry (``runtime.registry``) imports the engine before the clock starts. The prepared input
comes from the runtime layer (``Runner.random_input``: random pixels through the contract).
The result is one JSON file: the samples in ms, init/first-run times, peak RSS and accuracy.
"""
from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

WARMUP_MIN_SECONDS = 0.5
MAX_SAMPLES = 200_000


def _status_mb(field: str) -> Optional[float]:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    return None


def rss_mb() -> Optional[float]:
    """Current resident set size (VmRSS) in MB, or None where /proc is missing."""
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB.

    VmHWM (the high-water mark of this process's own memory map) first: Linux carries
    ``getrusage().ru_maxrss`` over fork + exec, so a worker started by a parent holding TensorFlow
    would report the parent's 1.5 GB. ``resource.getrusage`` where /proc is missing (KiB on Linux,
    bytes on macOS).
    """
    hwm = _status_mb("VmHWM")
    if hwm is not None:
        return hwm
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak * 1024 / 1e6


def repeat(call: Callable[[], object], min_runs: int, min_seconds: float, cpu: Optional[list] = None) -> list:
    """Call ``call`` at least ``min_runs`` times and for at least ``min_seconds``; per-call wall ms.

    ``cpu``: a list that receives each call's CPU time of this process (all its threads) in ms: on a
    shared machine wall time includes the time the worker was descheduled, CPU time does not.
    """
    samples = []
    clock = time.perf_counter_ns
    cpu_clock = time.process_time_ns
    deadline = clock() + int(min_seconds * 1e9)
    while len(samples) < min_runs or (clock() < deadline and len(samples) < MAX_SAMPLES):
        c0 = cpu_clock()
        t0 = clock()
        call()
        samples.append((clock() - t0) / 1e6)
        if cpu is not None:
            cpu.append((cpu_clock() - c0) / 1e6)
    return samples


def match_labels(classes: list, labels: list, data: Path) -> list:
    """Label index of each class folder: the exact label, else the one label whose comma-separated
    names include it (ImageNet's "hotdog, hot dog, red hot" accepts a folder named "hotdog")."""
    out, unknown = [], []
    for name in classes:
        if name in labels:
            out.append(labels.index(name))
            continue
        hits = [i for i, lab in enumerate(labels) if name in [s.strip() for s in str(lab).split(",")]]
        if len(hits) == 1:
            out.append(hits[0])
        else:
            unknown.append(name)
    if unknown:
        shown = ", ".join(repr(str(lab)) for lab in labels[:4]) + (f", ... ({len(labels)} labels)" if len(labels) > 4 else "")
        raise _user_error(f"--data {data} has class folder(s) {unknown[:5]} that are not labels of this model "
                          f"[{shown}]; name each sub-folder after one of the model's labels")
    return out


def select_scored(data: str, contract, artifact: Optional[str] = None):
    """The images accuracy is measured on. The data ``artifact``'s run was trained on (or a built-in source such as
    digits): the run's test split, never its training images. Any other folder DIR/<label>/*: every image."""
    from edgetl.measure.evaluate import Selection, _same_path, is_builtin, run_data, select_images

    if is_builtin(data) or (artifact and _same_path(run_data(artifact), data)):
        return select_images(artifact or "", data, contract.height, None, "auto")  # the run's test split
    from edgetl.data.sources import scan_folder

    root = Path(data)
    if not root.is_dir():
        raise _user_error(f"--data {root} is not a folder; pass DIR with one sub-folder per label (DIR/<label>/*.jpg), "
                          "or digits")
    classes, items = scan_folder(root)
    return Selection(classes, "all", f"every image of {root}", "class-folders", False, items=items)


def labelled_batches(sel, data: str, contract, batch: int = 64):
    """(uint8 pixels at the contract's size, label indices) of the selected images, ``batch`` at a time:
    memory stays bounded however large the folder."""
    from edgetl.measure.evaluate import batches

    index = match_labels(sel.classes, list(contract.labels), data)
    n = 0
    for pixels, ys, _ in batches(sel, contract.height, contract.width, batch):
        if len(pixels):
            n += len(pixels)
            yield pixels, np.asarray([index[int(y)] for y in ys])
    if not n:
        raise _user_error(f"--data {data} has no readable image; add .jpg/.png files to its class folders")


def _user_error(msg):
    from edgetl.errors import EdgetlError

    return EdgetlError(msg)


def measure(artifact: str, threads: int, runs: int, min_seconds: float, warmup: int, xnnpack: bool = True,
            data: Optional[str] = None, labels: Optional[str] = None) -> dict:
    from edgetl.runtime.registry import open_artifact, runtime_for

    entry = runtime_for(artifact)
    if entry.preimport:  # the engine is imported before the clock starts
        entry.preimport(threads)
    base_rss = rss_mb()

    t0 = time.perf_counter()
    runner = open_artifact(artifact, labels=labels, threads=threads, xnnpack=xnnpack)
    init_ms = (time.perf_counter() - t0) * 1e3

    x = runner.random_input(0)  # the timed input: fixed random pixels through the contract
    call = runner.timed_call(x)
    t0 = time.perf_counter()
    call()
    first_ms = (time.perf_counter() - t0) * 1e3

    gc.collect()
    gc.disable()
    try:
        warm = repeat(call, warmup, WARMUP_MIN_SECONDS)
        cpu_samples: list = []
        samples = repeat(call, runs, min_seconds, cpu_samples)
    finally:
        gc.enable()
    peak = peak_rss_mb()  # before any data is loaded for accuracy

    accuracy = accuracy_n = accuracy_from = None
    if data:
        right = accuracy_n = 0
        sel = select_scored(data, runner.contract, artifact)
        accuracy_from = f"{sel.images_from} ({len(sel)} images)"
        for pixels, truth in labelled_batches(sel, data, runner.contract):
            pred = runner.contract.decide(runner.predict(pixels, batch_size=runner.max_batch()))
            right, accuracy_n = right + int(np.sum(pred == truth)), accuracy_n + len(truth)
        accuracy = right / accuracy_n

    try:  # after timing: counting opens the graph once more, it must not touch the measurement
        from edgetl.measure.macs import count

        work = count(runner, entry)
    except Exception as e:  # noqa: BLE001 - a graph we cannot count leaves GMAC/s empty, not the row
        work = {"macs": None, "precision": None, "macs_error": f"{type(e).__name__}: {str(e)[:120]}"}

    c = runner.contract
    return {
        "ok": True,
        **work,
        "runtime": runner.runtime,
        "kind": c.artifact,
        "input": {"shape": list(x.shape), "dtype": str(x.dtype)},
        "threads": threads,
        "xnnpack": runner.xnnpack,
        "init_ms": init_ms,
        "first_ms": first_ms,
        "warmup_runs": len(warm),
        "samples_ms": samples,
        "cpu_samples_ms": cpu_samples,
        "base_rss_mb": base_rss,
        "peak_rss_mb": peak,
        "accuracy": accuracy,
        "accuracy_n": accuracy_n,
        "accuracy_from": accuracy_from,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m edgetl.measure.bench_worker", description=__doc__.split("\n\n")[0])
    p.add_argument("artifact")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--min-seconds", type=float, default=1.0)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--no-xnnpack", action="store_true")
    p.add_argument("--data")
    p.add_argument("--labels")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)

    from edgetl.errors import EdgetlError
    from edgetl.fsutil import write_json

    try:
        result = measure(a.artifact, a.threads, a.runs, a.min_seconds, a.warmup, xnnpack=not a.no_xnnpack,
                         data=a.data, labels=a.labels)
    except EdgetlError as e:
        result = {"ok": False, "error": str(e)}
    except Exception as e:  # an unexpected runtime failure still becomes a row, not a lost benchmark
        first = (str(e).splitlines() or [""])[0][:200]
        result = {"ok": False, "error": f"{type(e).__name__}: {first}"}
    write_json(a.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
