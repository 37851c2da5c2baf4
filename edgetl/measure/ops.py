"""Op coverage and a per-op time profile of an artifact (`edgetl benchmark --ops`).

TFLite (ai-edge-litert + XNNPACK): the interpreter lists, after delegation, the model's own nodes
and one DELEGATE node per XNNPACK partition; each partition's nodes are found by walking back from
the DELEGATE node's outputs to its inputs. Nodes in no partition *fall back* to TFLite's built-in
kernels, and every boundary between a partition and a fallback op is a hand-over in memory. The
Python interpreter has no op profiler, so the time of each execution step (a partition or a
fallback op) is measured by cutting it out as a model of its own (same tensors, weights and
quantization; ``flatbuffer_utils``) and timing that with the same runtime and threads; shares are
of the summed step times. ONNX Runtime: its own profiler (``SessionOptions.enable_profiling``),
per node and op type, with the execution provider that ran each node.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Optional

import numpy as np

from edgetl.runtime import registry

MIN_SECONDS = 0.15  # per step: enough repeats for a stable median of a sub-millisecond step
NODE_SECONDS = 0.03  # per node of a partition (only splits the partition's measured time)


def profile(path, threads: int = 1, runs: int = 30, xnnpack: bool = True, per_op: bool = True) -> dict:
    """Op coverage and time shares of a file, by its runtime's op profiler (registry entry ``profile_ops``).

    ``per_op`` False (TFLite): time each step (an XNNPACK partition or a fallback op) but do not split
    partitions by op type, which times every node alone and is most of the cost; "by_op" stays empty."""
    entry = registry.runtime_for(path)
    if entry.profile_ops is None:
        having = ", ".join(s for rt in registry.runtimes() if rt.profile_ops for s in rt.suffixes)
        return {"artifact": str(path), "runtime": entry.name, "error": f"op coverage is for {having} files"}
    return entry.profile_ops(path, threads=threads, runs=runs, xnnpack=xnnpack, per_op=per_op)


def profiled(path) -> bool:
    """Whether ``path``'s runtime has an op profiler (``benchmark --ops`` profiles only those files)."""
    entry = registry.find(path)
    return entry is not None and entry.profile_ops is not None


# ---- TFLite -----------------------------------------------------------------------------------------

def tflite_coverage(path, threads: int = 1, xnnpack: bool = True) -> dict:
    """{"nodes": [{index, op, partition}], "partitions": [[node indices]], "steps": [...]}: which node runs where."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kind = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    it = Interpreter(model_path=str(path), num_threads=threads, experimental_op_resolver_type=kind)
    it.allocate_tensors()  # the default delegate is applied here
    ops = it._get_ops_details()  # noqa: SLF001 - the interpreter's only per-node view
    own = [o for o in ops if o["op_name"] != "DELEGATE"]
    delegates = [o for o in ops if o["op_name"] == "DELEGATE"]
    producer = {int(t): o["index"] for o in own for t in o["outputs"]}
    by_index = {o["index"]: o for o in own}
    partition_of = {}
    partitions = []
    for p, d in enumerate(delegates):
        stop = {int(t) for t in d["inputs"]}
        stack, members = [int(t) for t in d["outputs"]], set()
        while stack:
            t = stack.pop()
            if t in stop or t not in producer or producer[t] in members:
                continue
            n = producer[t]
            members.add(n)
            stack += [int(x) for x in by_index[n]["inputs"] if int(x) >= 0]
        partitions.append(sorted(members))
        for n in members:
            partition_of[n] = p
    steps, seen = [], set()
    for o in own:  # execution order: a partition runs where its first node was
        p = partition_of.get(o["index"])
        if p is None:
            steps.append({"kind": "fallback", "op": o["op_name"], "nodes": [o["index"]]})
        elif p not in seen:
            seen.add(p)
            steps.append({"kind": "XNNPACK", "op": f"partition {p}", "nodes": partitions[p]})
    nodes = [{"index": o["index"], "op": o["op_name"], "partition": partition_of.get(o["index"])} for o in own]
    return {"nodes": nodes, "partitions": partitions, "steps": steps}


def _cut(model, node_ids: list) -> bytes:
    """The sub-model of ``model`` (a flatbuffer ModelT, subgraph 0) running only ``node_ids``: its inputs are
    the non-constant tensors those nodes read from outside, its outputs the tensors they write."""
    from ai_edge_litert.tools import flatbuffer_utils as fu

    sg = model.subgraphs[0]
    keep = [sg.operators[i] for i in sorted(node_ids)]
    made = {int(t) for op in keep for t in op.outputs}
    read = [int(t) for op in keep for t in op.inputs if int(t) >= 0]
    const = {i for i, t in enumerate(sg.tensors) if t.buffer and model.buffers[t.buffer].data is not None
             and len(model.buffers[t.buffer].data)}
    inputs = list(dict.fromkeys(t for t in read if t not in made and t not in const))
    outputs = list(dict.fromkeys(int(t) for op in keep for t in op.outputs))
    saved = sg.operators, sg.inputs, sg.outputs, model.signatureDefs
    try:
        sg.operators, sg.inputs, sg.outputs, model.signatureDefs = keep, inputs, outputs, []
        return bytes(fu.convert_object_to_bytearray(model))
    finally:
        sg.operators, sg.inputs, sg.outputs, model.signatureDefs = saved


def _time_model(content: bytes, threads: int, xnnpack: bool, min_seconds: float = MIN_SECONDS) -> float:
    """Median ms per invoke of a (sub-)model fed random inputs of its own types."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kind = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    it = Interpreter(model_content=content, num_threads=threads, experimental_op_resolver_type=kind)
    it.allocate_tensors()
    rng = np.random.default_rng(0)
    for d in it.get_input_details():
        dt = np.dtype(d["dtype"])
        x = (rng.integers(-100, 100, d["shape"]) if dt.kind in "iu" else rng.standard_normal(d["shape"])).astype(dt)
        if dt.kind == "u":
            x = rng.integers(0, 255, d["shape"]).astype(dt)
        it.set_tensor(d["index"], x)
    it.invoke()
    samples, deadline = [], time.perf_counter() + min_seconds
    while len(samples) < 5 or time.perf_counter() < deadline:
        t0 = time.perf_counter_ns()
        it.invoke()
        samples.append((time.perf_counter_ns() - t0) / 1e6)
    return float(np.median(samples))


def tflite_profile(path, threads: int = 1, xnnpack: bool = True, per_op: bool = True) -> dict:
    from ai_edge_litert.tools import flatbuffer_utils as fu

    cov = tflite_coverage(path, threads, xnnpack)
    model = fu.read_model(str(path))
    for step in cov["steps"]:
        try:
            step["ms"] = _time_model(_cut(model, step["nodes"]), threads, xnnpack)
        except Exception as e:  # noqa: BLE001 - a step that cannot run alone keeps its coverage, loses its time
            step["ms"], step["error"] = None, f"{type(e).__name__}: {str(e)[:100]}"
    by_op = defaultdict(lambda: {"count": 0, "delegated": 0, "ms": 0.0})
    for step in cov["steps"]:  # each node alone, to split a partition's time by op type
        if not per_op or step["kind"] != "XNNPACK" or step.get("ms") is None:
            continue
        alone = {}
        for i in step["nodes"]:
            try:
                alone[i] = _time_model(_cut(model, [i]), threads, xnnpack, NODE_SECONDS)
            except Exception:  # noqa: BLE001 - a node that cannot run alone stays unattributed
                alone[i] = 0.0
        scale = step["ms"] / sum(alone.values()) if sum(alone.values()) > 0 else 0.0
        for i, ms in alone.items():
            e = by_op[cov["nodes"][i]["op"]]
            e["count"] += 1
            e["delegated"] += 1
            e["ms"] += ms * scale  # the node's share of its partition's measured time
    for step in cov["steps"]:
        if per_op and step["kind"] == "fallback":
            e = by_op[step["op"]]
            e["count"] += 1
            e["ms"] += step.get("ms") or 0.0
    total = sum(s["ms"] or 0.0 for s in cov["steps"])
    for s in cov["steps"]:
        s["share"] = (s["ms"] / total) if s.get("ms") is not None and total > 0 else None
        ops = Counter(cov["nodes"][i]["op"] for i in s["nodes"])
        s["ops"] = ", ".join(f"{k} x{v}" if v > 1 else k for k, v in ops.most_common())
    delegated = [n for n in cov["nodes"] if n["partition"] is not None]
    fallback = [n for n in cov["nodes"] if n["partition"] is None]
    fb_time = defaultdict(float)
    for s in cov["steps"]:
        if s["kind"] == "fallback" and s.get("ms") is not None:
            fb_time[s["op"]] += s["ms"]
    return {
        "artifact": str(path), "runtime": "tflite", "threads": threads, "xnnpack": xnnpack, "per_op": per_op,
        "nodes": len(cov["nodes"]), "delegated": len(delegated), "fallback": len(fallback),
        "partitions": len(cov["partitions"]),
        "delegated_ops": dict(Counter(n["op"] for n in delegated).most_common()),
        "fallback_ops": dict(Counter(n["op"] for n in fallback).most_common()),
        "delegated_share": _share(cov["steps"], "XNNPACK"),
        "fallback_share": _share(cov["steps"], "fallback"),
        "fallback_time_ms": dict(sorted(fb_time.items(), key=lambda kv: -kv[1])),
        "steps_ms_sum": total,
        "by_op": [{"op": op, **v, "share": v["ms"] / total if total else None}
                  for op, v in sorted(by_op.items(), key=lambda kv: -kv[1]["ms"])],
        "steps": [{k: s.get(k) for k in ("kind", "op", "ops", "ms", "share", "error")} | {"nodes": len(s["nodes"])}
                  for s in cov["steps"]],
    }


def _share(steps, kind) -> Optional[float]:
    vals = [s["share"] for s in steps if s["kind"] == kind and s.get("share") is not None]
    return float(sum(vals)) if vals else (0.0 if not any(s["kind"] == kind for s in steps) else None)


# ---- ONNX Runtime -----------------------------------------------------------------------------------

def onnx_profile(path, threads: int = 1, runs: int = 30) -> dict:
    """Per-node time from onnxruntime's profiler over ``runs`` runs (after one warm-up), by op type and provider."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.enable_profiling = True
    with tempfile.TemporaryDirectory(prefix="edgetl-ortprof-") as tmp:
        opts.profile_file_prefix = os.path.join(tmp, "prof")
        sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        inp = sess.get_inputs()[0]
        name, x = inp.name, _random_input(inp)
        for _ in range(runs + 1):
            sess.run(None, {name: x})
        prof = sess.end_profiling()
        events = json.loads(Path(prof).read_text())
    per_node = defaultdict(lambda: {"us": 0.0, "calls": 0})
    for e in events:
        if e.get("cat") == "Node" and str(e.get("name", "")).endswith("_kernel_time"):
            args = e.get("args", {})
            key = (e["name"][: -len("_kernel_time")], args.get("op_name", "?"), args.get("provider", "?"))
            per_node[key]["us"] += float(e.get("dur", 0))
            per_node[key]["calls"] += 1
    total = sum(v["us"] for v in per_node.values())
    by_op = defaultdict(lambda: {"count": 0, "us": 0.0})
    providers = Counter()
    for (node, op, prov), v in per_node.items():
        by_op[op]["count"] += 1
        by_op[op]["us"] += v["us"]
        providers[prov] += 1
    ops = [{"op": op, "count": v["count"], "ms": v["us"] / 1e3 / (runs + 1), "share": v["us"] / total if total else None}
           for op, v in sorted(by_op.items(), key=lambda kv: -kv[1]["us"])]
    return {
        "artifact": str(path), "runtime": "onnx", "threads": threads, "nodes": len(per_node),
        "providers": dict(providers), "partitions": len(providers), "by_op": ops,
        "node_ms_sum": total / 1e3 / (runs + 1),
    }


def _random_input(inp) -> np.ndarray:
    """Random data of an ONNX input's shape (symbolic dims: 1) and type; op timing does not depend on values."""
    dtype = {"tensor(float)": np.float32, "tensor(uint8)": np.uint8, "tensor(int8)": np.int8,
             "tensor(float16)": np.float16}.get(inp.type, np.float32)
    shape = [d if isinstance(d, int) and d > 0 else 1 for d in inp.shape]
    rng = np.random.default_rng(0)
    if np.dtype(dtype).kind in "iu":
        return rng.integers(0 if np.dtype(dtype).kind == "u" else -100, 100, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


# ---- the table -----------------------------------------------------------------------------------

OPS_COLUMNS = [("name", "artifact"), ("runtime", "runtime"), ("nodes", "nodes"), ("delegated", "delegated"),
               ("fallback", "fallback"), ("partitions", "partitions"), ("delegated_share", "time in XNNPACK"),
               ("fallback_summary", "fallback ops (time share)"), ("top_ops", "top ops by time")]


def table_row(prof: dict) -> dict:
    """One "op coverage" row for the benchmark table and report.md."""
    row = {"name": Path(prof["artifact"]).name, "runtime": prof["runtime"], "error": prof.get("error")}
    if prof.get("error"):
        return row
    row.update({k: prof.get(k) for k in ("nodes", "delegated", "fallback", "partitions", "delegated_share")})
    if prof["runtime"] == "tflite":
        total = prof.get("steps_ms_sum") or 0.0
        fb = prof.get("fallback_time_ms") or {}
        row["fallback_summary"] = ", ".join(
            f"{op} x{prof['fallback_ops'][op]} ({100 * fb.get(op, 0.0) / total:.0f}%)" if total else f"{op} x{n}"
            for op, n in prof["fallback_ops"].items()) or "none"
        row["top_ops"] = "; ".join(f"{o['op']} x{o['count']} {100 * (o['share'] or 0):.0f}%"
                                   f"{'' if o['delegated'] == o['count'] else ' (fallback)' if not o['delegated'] else ''}"
                                   for o in prof["by_op"][:4]) or ("-" if not prof.get("per_op", True) else "")
    else:
        row["delegated"], row["fallback"] = prof["nodes"], 0
        row["delegated_share"] = None
        row["fallback_summary"] = "providers: " + ", ".join(f"{p} x{n}" for p, n in (prof.get("providers") or {}).items())
        row["top_ops"] = "; ".join(f"{o['op']} x{o['count']} {100 * (o['share'] or 0):.0f}%" for o in prof["by_op"][:4])
    return row


# the op profilers of the built-in runtimes, on their registry entries: hook(path, threads=, runs=, xnnpack=, per_op=)
registry.attach("tflite", profile_ops=lambda path, threads, runs, xnnpack, per_op: tflite_profile(path, threads, xnnpack,
                                                                                                   per_op))
registry.attach("onnx", profile_ops=lambda path, threads, runs, xnnpack, per_op: onnx_profile(path, threads, runs))


def main(argv=None) -> int:
    """python -m edgetl.measure.ops FILE --threads N --out JSON: one profile in its own process."""
    import argparse

    from edgetl.fsutil import write_json

    p = argparse.ArgumentParser(prog="python -m edgetl.measure.ops")
    p.add_argument("artifact")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-xnnpack", action="store_true")
    p.add_argument("--no-per-op", action="store_true", help="time partitions/fallback ops only, not each op type")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    try:
        result = profile(a.artifact, a.threads, xnnpack=not a.no_xnnpack, per_op=not a.no_per_op)
    except Exception as e:  # noqa: BLE001 - becomes the artifact's row, the others go on
        entry = registry.find(a.artifact)
        result = {"artifact": a.artifact, "runtime": entry.name if entry else Path(a.artifact).suffix.lstrip("."),
                  "error": f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"}
    write_json(a.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
