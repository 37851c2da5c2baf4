"""The comparison's rows: each backbone's counts and claims joined with the benchmark of its artifacts."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from edgetl.compare.claims import claim_note
from edgetl.formats.registry import get_format, tflite_format


def measured_row(entry: dict, by_path: dict, formats: Sequence[str]) -> dict:
    """One backbone: depth, params, and per format its path, size, p50 and accuracy (None where it failed)."""
    row = {"backbone": entry["backbone"], "input_size": entry["input_size"], "alpha": entry["alpha"],
           "depth": entry["depth"], "params": entry["params"]}
    if "artifact_params" in entry:
        row["artifact_params"] = entry["artifact_params"]
    errors = list(entry["errors"])
    for kind in [get_format(n).compare_key for n in formats]:
        path, _ = entry["artifacts"].get(kind, (None, None))
        b = by_path.get(str(path)) if path else None
        if b and b["error"]:
            errors.append(f"{kind}: {b['error']}")
            b = None
        row[f"{kind}_path"] = str(path) if path else None
        row[f"{kind}_mb"] = b["size_mb"] if b else None
        row[f"{kind}_p50_ms"] = b["p50_ms"] if b else None
        row[f"{kind}_accuracy"] = b["accuracy"] if b else None
        row[f"{kind}_convert_peak_mb"] = entry.get("peaks", {}).get(kind)  # its conversion process's peak RSS
    int8 = row.get(f"{tflite_format('int8').compare_key}_p50_ms")
    row["fps_int8"] = 1000.0 / int8 if int8 else None
    row["flags"] = entry["flags"]
    row["flagged"] = bool(entry["flags"])
    row["errors"] = errors
    row["family"] = entry.get("family")  # the classic row it belongs to
    row["params_compared"] = entry.get("params_compared", True)
    row["note"] = claim_note(row)
    return row


def reference_row(twin: Optional[Path], reference: str, by_path: dict) -> dict:
    """Our int8 MobileNetV2 1.0 224 beside Google's uint8 file: both p50s, sizes and their ratio."""
    ours_row, google_row = by_path.get(str(twin)) if twin else None, by_path.get(str(Path(reference)))
    ok = ours_row and google_row and not ours_row["error"] and not google_row["error"]
    return {
        "ours": str(twin) if twin else None, "google": str(reference),
        "ours_p50_ms": ours_row["p50_ms"] if ok else None, "google_p50_ms": google_row["p50_ms"] if ok else None,
        "ours_mb": ours_row["size_mb"] if ok else None, "google_mb": google_row["size_mb"] if ok else None,
        "ratio": ours_row["p50_ms"] / google_row["p50_ms"] if ok else None,
        "error": None if ok else "; ".join(r["error"] for r in (ours_row, google_row) if r and r["error"])
                 or "our int8 MobileNetV2 export failed",
    }
