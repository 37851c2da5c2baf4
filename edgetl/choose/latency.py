"""The latency file ``--latency-from`` reads: latencies measured elsewhere (a phone), format edgetl-latency/1.

    {"format": "edgetl-latency/1", "device": "Pixel 7, Android 14, 4 threads",
     "models": [{"file": "mobilenet_v2_a0.35_96_int8.tflite", "sha256": "...", "p50_ms": 3.1}, ...]}

A model is matched to a candidate file by sha256 (the file name is for people); an entry whose name
matches a candidate file but whose sha256 does not is stale (the file was rebuilt) and refused.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from edgetl.errors import EdgetlError

LATENCY_FORMAT = "edgetl-latency/1"


def read_latency_file(path) -> dict:
    """{"device": str, "by_sha": {sha256: entry}, "by_file": {file: entry}} or a one-line EdgetlError."""
    p = Path(path)
    where = f"--latency-from {p}"
    if not p.is_file():
        raise EdgetlError(f"{where}: no such file; pass a JSON file in the {LATENCY_FORMAT} format (docs/search.md)")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise EdgetlError(f"{where} is not valid JSON ({str(e).splitlines()[0][:120]}); "
                          f"write the {LATENCY_FORMAT} format (docs/search.md)") from e
    return parse_latency(doc, where)


def parse_latency(doc, where: str = "--latency-from") -> dict:
    if not isinstance(doc, dict) or doc.get("format") != LATENCY_FORMAT:
        got = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise EdgetlError(f"{where}: \"format\" must be \"{LATENCY_FORMAT}\", got {got!r} (docs/search.md)")
    device = doc.get("device")
    if not isinstance(device, str) or not device.strip():
        raise EdgetlError(f"{where}: \"device\" must name the device the latencies come from (a non-empty string)")
    models = doc.get("models")
    if not isinstance(models, list) or not models:
        raise EdgetlError(f"{where}: \"models\" must be a non-empty list of {{file, sha256, p50_ms}}")
    by_sha, by_file = {}, {}
    for i, m in enumerate(models):
        if not isinstance(m, dict):
            raise EdgetlError(f"{where}: models[{i}] must be an object {{file, sha256, p50_ms}}")
        f, sha, p50 = m.get("file"), m.get("sha256"), m.get("p50_ms")
        if not isinstance(f, str) or not f:
            raise EdgetlError(f"{where}: models[{i}].file must be the .tflite file name")
        if not isinstance(sha, str) or len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha.lower()):
            raise EdgetlError(f"{where}: models[{i}] ({f}).sha256 must be the file's 64-hex-digit sha256")
        if isinstance(p50, bool) or not isinstance(p50, (int, float)) or not math.isfinite(p50) or p50 <= 0:
            raise EdgetlError(f"{where}: models[{i}] ({f}).p50_ms must be a positive number of milliseconds, got {p50!r}")
        entry = {"file": f, "sha256": sha.lower(), "p50_ms": float(p50)}
        by_sha[entry["sha256"]] = entry
        by_file[Path(f).name] = entry
    return {"device": device.strip(), "by_sha": by_sha, "by_file": by_file}


def latency_of(table: dict, file_name: str, sha256: str, where: str = "--latency-from"):
    """The p50 (ms) the table gives for this file, None when it has none; a stale entry is an EdgetlError."""
    hit = table["by_sha"].get(sha256)
    if hit is not None:
        return hit["p50_ms"]
    named = table["by_file"].get(Path(file_name).name)
    if named is not None:
        raise EdgetlError(f"{where}: {file_name} was measured as sha256 {named['sha256'][:12]}..., but the file now "
                          f"is {sha256[:12]}...; measure the current files again")
    return None
