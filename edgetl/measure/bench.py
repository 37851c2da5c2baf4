"""Benchmark artifacts: latency percentiles, init and first-run time, memory, size, accuracy.

Method (matching or beating TFLite's benchmark_model):

* every artifact x thread count is measured in its own subprocess (``edgetl.measure.bench_worker``), so one
  runtime's threads, allocator and memory cannot leak into another's figures;
* ``rounds`` rounds, each visiting every job once, in an order rotated each round: machine drift
  (other load, thermal state) spreads over all artifacts instead of biasing the last one;
* in every round a warm-up of at least ``warmup`` runs and 0.5 s, then at least ``runs / rounds``
  timed runs and ``min_seconds / rounds`` seconds; the samples of all rounds are pooled, so the
  totals are at least ``runs`` runs and ``min_seconds`` seconds;
* init / first-run times are the median over rounds, peak RSS the maximum, accuracy is measured once;
* a job that fails becomes a row with ``error = "failed: reason"`` and the others go on.
"""
from __future__ import annotations

import math
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Iterable, Optional, Sequence

from edgetl.measure import stats
from edgetl.measure.macs import gmacs
from edgetl.measure.verdicts import speed_notes
from edgetl.measure import sysinfo
from edgetl.config.stages import BenchmarkConfig
from edgetl.errors import EdgetlError
from edgetl.fsutil import read_json
from edgetl.measure.worker_env import worker_env
from edgetl.runtime import registry
from edgetl.runtime.runners import RUN_MODEL_FILE

DEFAULT_ROUNDS = BenchmarkConfig().rounds  # for the messages; defined once, in the config
WORKER_TIMEOUT_S = 1800

ROW_KEYS = ("artifact", "name", "runtime", "kind", "threads", "xnnpack", "rounds", "runs", "init_ms", "first_ms",
            "mean_ms", "std_ms", "min_ms", "p50_ms", "p90_ms", "p99_ms", "max_ms", "fps", "size_mb", "gzip_mb",
            "size_bytes", "peak_rss_mb", "base_rss_mb", "accuracy", "accuracy_n", "accuracy_from", "meets_budget", "macs", "precision",
            "gmacs", "peak_gmacs", "pct_peak", "cpu_p50_ms", "error")


def expand_artifacts(paths: Iterable) -> list:
    """[(path, None) | (path, reason)]: a run directory or folder expands to its model.keras and its files of every
    registered runtime (``runtime.registry``: *.tflite, *.onnx, ...), runtime by runtime.

    An artifact of a run made from an older model (``rundir.stale_reason``) gets its reason: it is not measured.
    """
    from edgetl.fsutil import listed, temp_reason
    from edgetl.rundir import stale_reason

    out = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = ([p / RUN_MODEL_FILE] if (p / RUN_MODEL_FILE).is_file() else [])
            files = listed(p)  # never an interrupted write's hidden temp file
            found += [f for rt in registry.runtimes() if rt.in_folders for f in files if f.suffix.lower() in rt.suffixes]
            if not found:
                kinds = ", ".join(s for rt in registry.runtimes() if rt.in_folders for s in rt.suffixes)
                out.append((p, f"{p} is a folder without {RUN_MODEL_FILE} or {kinds} files; pass a run directory or "
                               "model files"))
            out += [(f, stale_reason(f)) for f in found]
        elif not p.exists():
            out.append((p, f"{p} does not exist; pass a model file ({registry.describe()}) or a run directory"))
        elif registry.find(p) is None:
            out.append((p, f"{p} is not a model file edgetl can open ({registry.describe()} or a run directory)"))
        elif temp_reason(p):
            out.append((p, temp_reason(p)))
        else:
            out.append((p, stale_reason(p)))  # an artifact older than its run's model is refused
    return out


def file_sizes(path: Path) -> tuple[int, int]:
    """(bytes, gzip-compressed bytes) of a file; the compressed size shows what an app download costs."""
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: gzip container
    total = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            total += len(comp.compress(chunk))
    total += len(comp.flush())
    return path.stat().st_size, total


def check_settings(threads, runs, min_seconds, warmup, rounds, budget_ms) -> list:
    threads = list(threads)
    if not threads or any(not isinstance(t, int) or t < 1 for t in threads):
        raise EdgetlError(f"--threads must be positive integers such as 1 or 1,2,4; got {','.join(map(str, threads)) or 'nothing'}")
    if not isinstance(runs, int) or runs < 1:
        raise EdgetlError(f"--runs must be at least 1 (default 50), got {runs}")
    if min_seconds is None or min_seconds < 0:
        raise EdgetlError(f"--min-seconds must be 0 or more (default 1), got {min_seconds}")
    if warmup < 0:
        raise EdgetlError(f"--warmup must be 0 or more (default 5), got {warmup}")
    if not isinstance(rounds, int) or rounds < 1:
        raise EdgetlError(f"--rounds must be at least 1 (default {DEFAULT_ROUNDS}), got {rounds}")
    if budget_ms is not None and budget_ms <= 0:
        raise EdgetlError(f"--budget-ms must be positive (33 ms = 30 FPS), got {budget_ms}")
    return threads


def benchmark(artifacts: Sequence, cfg: Optional[BenchmarkConfig] = None, *, data: Optional[str] = None,
              xnnpack: bool = True, progress=None, labels: Optional[str] = None, timeout: float = WORKER_TIMEOUT_S,
              measure_peak: bool = True, ops: bool = False, ops_per_op: bool = True) -> dict:
    """Measure every artifact at every thread count; {"results": rows, "peak": ..., "system": ..., "settings": ...}.

    ``progress``: an optional rich Progress (one step per worker run). Each row has the artifact's MACs,
    effective GMAC/s at p50 and, with ``measure_peak``, the percent of the machine's measured GEMM peak
    (``edgetl.measure.peak``) for its precision x thread count. ``ops``: also an op-coverage profile per
    .tflite/.onnx file (``edgetl.measure.ops``, at the first thread count) under "ops"; ``ops_per_op`` False
    times XNNPACK partitions and fallback ops but not each op type inside a partition (much cheaper).
    """
    cfg = cfg or BenchmarkConfig()  # the timing settings, their defaults and help: BenchmarkConfig's
    runs, min_seconds, warmup, rounds, budget_ms = cfg.runs, cfg.min_seconds, cfg.warmup, cfg.rounds, cfg.budget_ms
    threads = check_settings(cfg.threads, runs, min_seconds, warmup, rounds, budget_ms)
    from edgetl.measure.evaluate import is_builtin

    if data is not None and not is_builtin(data) and not Path(data).is_dir():
        raise EdgetlError(f"--data {data} is not a folder; pass DIR with one sub-folder per label (DIR/<label>/*.jpg), "
                          "or digits")
    expanded = expand_artifacts(artifacts)
    if not expanded:
        raise EdgetlError(f"no artifact given; pass model files ({registry.describe()}) or a run directory")
    jobs = [(path, t, reason) for path, reason in expanded for t in threads]
    load_start = sysinfo.load_average()
    per_round_runs = math.ceil(runs / rounds)
    per_round_seconds = min_seconds / rounds
    results: dict = {i: [] for i in range(len(jobs))}
    errors: dict = {i: reason for i, (_, _, reason) in enumerate(jobs) if reason}
    task = progress.add_task("benchmarking", total=rounds * (len(jobs) - len(errors))) if progress else None

    with tempfile.TemporaryDirectory(prefix="edgetl-bench-") as tmp:
        for r in range(rounds):
            order = list(range(len(jobs)))
            order = order[r % len(order):] + order[:r % len(order)]  # rotate: no job is always first or last
            for i in order:
                if i in errors:
                    continue
                path, t, _ = jobs[i]
                if progress:
                    progress.update(task, description=f"round {r + 1}/{rounds} {path.name} x{t}")
                out = Path(tmp) / f"job{i}_round{r}.json"
                res = run_worker(path, t, per_round_runs, per_round_seconds, warmup, xnnpack,
                                 data if r == 0 else None, labels, out, timeout)
                if res.get("ok"):
                    results[i].append(res)
                else:
                    errors[i] = res.get("error") or "worker failed without a reason"
                if progress:
                    progress.advance(task)

    sizes = {}
    rows = []
    for i, (path, t, _) in enumerate(jobs):
        if i in errors:
            rows.append(failed_row(path, t, errors[i]))
            continue
        if path not in sizes:
            sizes[path] = file_sizes(path)
        rows.append(merge_rounds(path, t, results[i], sizes[path], budget_ms))
    machine_peak = add_peak(rows) if measure_peak else None
    profiles = None
    if ops:
        from edgetl.measure.ops import profiled

        files = list(dict.fromkeys(p for p, reason in expanded if not reason and profiled(p)))
        if progress:
            task = progress.add_task("op profiles", total=len(files))
        profiles = []
        for f in files:
            if progress:
                progress.update(task, description=f"op profile {f.name}")
            profiles.append(run_op_profile(f, threads[0], xnnpack, timeout, per_op=ops_per_op))
            if progress:
                progress.advance(task)
    system = sysinfo.collect(load_start=load_start)
    return {
        "results": rows,
        "notes": speed_notes(rows, system),
        "peak": machine_peak,
        "ops": profiles,
        "system": system,
        "settings": {"threads": threads, "runs": runs, "min_seconds": min_seconds, "warmup": warmup,
                     "warmup_min_seconds": 0.5, "rounds": rounds, "budget_ms": budget_ms, "xnnpack": xnnpack,
                     "data": str(data) if data else None},
        "failed": sum(1 for row in rows if row["error"]),
    }


def run_worker(path: Path, threads: int, runs: int, min_seconds: float, warmup: int, xnnpack: bool,
               data: Optional[str], labels: Optional[str], out: Path, timeout: float) -> dict:
    cmd = [sys.executable, "-m", "edgetl.measure.bench_worker", str(path), "--threads", str(threads), "--runs", str(runs),
           "--min-seconds", repr(float(min_seconds)), "--warmup", str(warmup), "--out", str(out)]
    if not xnnpack:
        cmd.append("--no-xnnpack")
    if data:
        cmd += ["--data", str(data)]
    if labels:
        cmd += ["--labels", str(labels)]
    env = worker_env()
    try:
        proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout:.0f} s"}
    if out.is_file():
        return read_json(out)
    if proc.returncode < 0:
        return {"ok": False, "error": f"the runtime crashed (signal {-proc.returncode})"}
    tail = [ln for ln in proc.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    return {"ok": False, "error": f"worker exited {proc.returncode}: {tail[-1][:200] if tail else 'no message'}"}


def run_op_profile(path: Path, threads: int, xnnpack: bool, timeout: float, per_op: bool = True) -> dict:
    """``edgetl.measure.ops`` on one file, in its own process like every measurement."""
    with tempfile.TemporaryDirectory(prefix="edgetl-ops-") as tmp:
        out = Path(tmp) / "ops.json"
        cmd = [sys.executable, "-m", "edgetl.measure.ops", str(path), "--threads", str(threads), "--out", str(out)]
        if not xnnpack:
            cmd.append("--no-xnnpack")
        if not per_op:
            cmd.append("--no-per-op")
        env = worker_env()
        try:
            proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"artifact": str(path), "runtime": registry.runtime_for(path).name,
                    "error": f"timed out after {timeout:.0f} s"}
        if out.is_file():
            return read_json(out)
        return {"artifact": str(path), "runtime": registry.runtime_for(path).name,
                "error": f"op profiler exited {proc.returncode}"}


def merge_rounds(path: Path, threads: int, rounds: list, sizes: tuple, budget_ms: Optional[float]) -> dict:
    samples = [s for r in rounds for s in r["samples_ms"]]
    st = stats.summarize(samples)
    first = rounds[0]
    acc = next((r for r in rounds if r.get("accuracy") is not None), {})
    rss = [r["base_rss_mb"] for r in rounds if r.get("base_rss_mb") is not None]
    row = {
        "artifact": str(path),
        "name": display_name(path),
        "runtime": first["runtime"],
        "kind": first.get("kind"),
        "threads": threads,
        "xnnpack": first.get("xnnpack"),
        "rounds": len(rounds),
        "runs": st["n"],
        "init_ms": stats.median([r["init_ms"] for r in rounds]),
        "first_ms": stats.median([r["first_ms"] for r in rounds]),
        "mean_ms": st["mean"], "std_ms": st["std"], "min_ms": st["min"],
        "p50_ms": st["p50"], "p90_ms": st["p90"], "p99_ms": st["p99"], "max_ms": st["max"],
        "fps": 1000.0 / st["mean"] if st["mean"] > 0 else None,
        "size_mb": sizes[0] / 1e6, "gzip_mb": sizes[1] / 1e6, "size_bytes": sizes[0],
        "peak_rss_mb": max(r["peak_rss_mb"] for r in rounds),
        "base_rss_mb": stats.median(rss) if rss else None,
        "accuracy": acc.get("accuracy"), "accuracy_n": acc.get("accuracy_n"), "accuracy_from": acc.get("accuracy_from"),
        "meets_budget": (st["p50"] <= budget_ms) if budget_ms else None,
        "macs": first.get("macs"), "precision": first.get("precision"),
        "gmacs": gmacs(first.get("macs"), st["p50"]), "peak_gmacs": None, "pct_peak": None,
        "cpu_p50_ms": stats.median(cpu) if (cpu := [s for r in rounds for s in r.get("cpu_samples_ms") or ()]) else None,
        "error": None,
    }
    return row


def add_peak(rows: list) -> Optional[dict]:
    """Fill ``peak_gmacs`` / ``pct_peak`` of measured rows from the machine's (cached) one-core GEMM peak."""
    from edgetl.measure import peak

    if not any(r.get("gmacs") for r in rows):
        return None
    machine_peak = peak.peak()
    for r in rows:
        r["peak_gmacs"], r["pct_peak"] = peak.percent_of_peak(r.get("gmacs"), r.get("precision"), r.get("threads"),
                                                              machine_peak)
    return machine_peak


def failed_row(path: Path, threads: int, reason: str) -> dict:
    row = {k: None for k in ROW_KEYS}
    row.update(artifact=str(path), name=display_name(path), threads=threads, error=f"failed: {reason}")
    return row


def display_name(path: Path) -> str:
    path = Path(path)
    return f"{path.parent.name}/{path.name}" if path.name == RUN_MODEL_FILE else path.name


def failures(result: dict) -> list:
    return [f"{r['name']} x{r['threads']}: {r['error']}" for r in result["results"] if r["error"]]
