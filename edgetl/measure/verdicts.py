"""Plain-language verdicts drawn from one benchmark run's own figures (printed under the table and in report.md).

A dynamic-range file (int8 weights, float activations) exists to be smaller, and is often taken to be
faster; on CPUs where XNNPACK lacks its hybrid kernels (depthwise convolutions here) it is slower than
float32. Whether it is, is read from the rows measured together in that run: nothing is assumed per mode.
"Slower" needs the dynamic file's median above the float32 file's 90th percentile (when measured), so
run-to-run noise of a few percent does not produce a verdict.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

WEIGHTS_ONLY = ("tflite:dynamic",)  # formats that quantize weights only (the registry's "dynamic range")
FLOAT_KINDS = ("tflite:float32",)
INT8_KINDS = ("tflite:int8",)


def _peer(rows: list, row: dict, kinds: tuple) -> Optional[dict]:
    """The measured row of one of ``kinds`` at ``row``'s thread count, from the same folder if there is one."""
    cands = [r for r in rows if r.get("kind") in kinds and r.get("threads") == row.get("threads")
             and r.get("p50_ms") and not r.get("error")]
    same = [r for r in cands if Path(r["artifact"]).parent == Path(row["artifact"]).parent]
    return (same or cands or [None])[0]


def speed_notes(rows: list, system: Optional[dict] = None) -> list:
    """One sentence per weights-only file measured slower than its float32 file in this run; and, when an
    int8 file was measured on a host (``system``: ``sysinfo.collect()``) without int8 dot products, that."""
    from edgetl.measure.sysinfo import int8_note

    notes = []
    note = int8_note(system) if system is not None else None
    if note and any(str(r.get("kind") or "").endswith((":int8", ":qat")) and not r.get("error") for r in rows):
        notes.append(f"{note} (this host: {', '.join(system.get('isa') or []) or 'no SIMD flags found'}; "
                     "no VNNI / AMX / dotprod / i8mm).")
    for r in rows:
        if r.get("kind") not in WEIGHTS_ONLY or not r.get("p50_ms") or r.get("error"):
            continue
        ref = _peer(rows, r, FLOAT_KINDS)
        if ref is None or r["p50_ms"] <= (ref.get("p90_ms") or ref["p50_ms"]):
            continue
        smaller = (f", {ref['size_mb'] / r['size_mb']:.1f}x smaller" if ref.get("size_mb") and r.get("size_mb") else "")
        note = (f"{r['name']} (dynamic range) is {r['p50_ms'] / ref['p50_ms']:.1f}x slower than {ref['name']} here "
                f"(p50 {r['p50_ms']:.2f} vs {ref['p50_ms']:.2f} ms, {r['threads']} thread(s)): it trades speed for "
                f"size on this CPU{smaller}. For speed use int8")
        fast = _peer(rows, r, INT8_KINDS)
        if fast is not None:
            note += f" ({fast['name']}: p50 {fast['p50_ms']:.2f} ms, {ref['p50_ms'] / fast['p50_ms']:.1f}x as fast as float32)"
        else:
            note += " (`edgetl quantize RUN --mode int8`)"
        notes.append(note + ".")
    return notes
