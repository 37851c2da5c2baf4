"""The fast-int8 rule (`quantize --keep-float fallback`, the default; vocabulary in ``edgetl.formats.keep_float``):
convert, open the file with the runtime that will run it, and keep in float every op type that falls back
from XNNPACK between two partitions."""
from __future__ import annotations

from typing import Callable, Optional, Sequence

from edgetl.errors import EdgetlError
from edgetl.formats.keep_float import FALLBACK, NEVER_KEEP, NONE, resolve


def fallback_ops(data: bytes) -> tuple[dict, dict]:
    """({op type: nodes} XNNPACK leaves to TFLite's own kernels, the same for the nodes among them that sit
    BETWEEN two XNNPACK partitions) of a TFLite flatbuffer, read from the interpreter that runs it
    (``edgetl.measure.ops.tflite_coverage``). QUANTIZE and DEQUANTIZE are left out: they are the hand-over,
    never candidates for float."""
    import tempfile
    from pathlib import Path

    from edgetl.measure.ops import tflite_coverage

    with tempfile.TemporaryDirectory(prefix="edgetl-cov-") as tmp:
        path = Path(tmp) / "candidate.tflite"
        path.write_bytes(data)
        try:
            cov = tflite_coverage(path)
        except Exception as e:  # noqa: BLE001 - the runtime's own errors (ValueError, RuntimeError)
            raise EdgetlError(f"could not read which ops XNNPACK takes in the int8 file ({type(e).__name__}: "
                              f"{str(e)[:120]}); pass --keep-float none (plain) or name the ops") from e
    return split_fallback(cov["steps"])


def split_fallback(steps: Sequence[dict]) -> tuple[dict, dict]:
    """(every fallback op type, those with a node between two XNNPACK steps): {op: nodes} each, from the
    execution steps of ``tflite_coverage`` ({"kind": "XNNPACK" | "fallback", "op"}, in order)."""
    from collections import Counter

    delegated = [i for i, st in enumerate(steps) if st["kind"] == "XNNPACK"]
    every, inside = Counter(), Counter()
    for i, st in enumerate(steps):
        if st["kind"] == "fallback" and st["op"] not in NEVER_KEEP:
            every[st["op"]] += 1
            if delegated and delegated[0] < i < delegated[-1]:
                inside[st["op"]] += 1
    return dict(every.most_common()), dict(inside.most_common())


def fast_int8(convert: Callable[[list], bytes], keep_float: Optional[Sequence[str]],
              why: Optional[dict] = None) -> tuple[bytes, dict]:
    """(bytes, record) of an int8 file that keeps in float the ``keep_float`` names and, by default
    (``fallback``), every op type XNNPACK has no int8 kernel for that cuts the graph.

    ``convert(names)`` converts with ``names`` kept in float. The rule converts once as asked and opens the
    result with the runtime. An op type with a node that falls back BETWEEN two XNNPACK partitions (MobileNetV3's
    HARD_SWISH: 20 of them cut the graph into 21 partitions) costs a hand-over at every cut, so the file is
    converted again with it kept in float: its float kernel and the DEQUANTIZE/QUANTIZE around it are
    delegated and the graph is one partition. A fallback op only before the first or after the last partition
    (int8 SOFTMAX on the class scores) cuts nothing and stays int8: keeping it in float would buy no speed, only
    a DEQUANTIZE/QUANTIZE pair around it. The record says
    what was kept and why: {"keep_float", "reasons", "rule", "fallback_ops" (first conversion),
    "fallback_ops_left" (the file written)}; ``why``: {name: reason} for names chosen by a caller
    (`--auto`, `--max-drop`) rather than by the user."""
    why = why or {}
    rule, names = resolve(keep_float)
    data = convert(names)
    if not rule:
        told = [f"{n}: {why.get(n, 'named by --keep-float')}" for n in names] or ["--keep-float none: the plain int8 file"]
        return data, {"keep_float": names, "reasons": told, "rule": NONE if not names else "names"}
    first, cutting = fallback_ops(data)
    extra = [op for op in cutting if op not in names]
    reasons = [f"{n}: {why.get(n, 'named by --keep-float')}" for n in names]
    reasons += [f"{op}: no int8 kernel in XNNPACK; {first[op]} node(s) fell back to TFLite's reference kernel, "
                f"{cutting[op]} of them cutting the graph" for op in extra]
    reasons += [f"{op}: no int8 kernel in XNNPACK, left int8: it runs only at the graph's edge ({n} node(s)), "
                "no cut to remove" for op, n in first.items() if op not in cutting and op not in names]
    left = first
    if extra:
        try:
            kept = convert(names + extra)
            data, left = kept, fallback_ops(kept)[0]
        except EdgetlError as e:  # e.g. a QAT graph the debugger cannot denylist: the first file, said so
            reasons = [r for r in reasons if not r.startswith(tuple(f"{op}:" for op in extra))]
            reasons.append(f"could not keep {', '.join(extra)} in float ({e}); they run on TFLite's reference kernels")
            extra = []
    if not first:
        reasons.append("nothing: XNNPACK has an int8 kernel for every op of this model")
    return data, {"keep_float": names + extra, "reasons": reasons, "rule": FALLBACK, "fallback_ops": first,
                  "fallback_ops_left": left}
