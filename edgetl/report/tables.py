"""Rendering of result tables (rich, markdown, CSV), shared by the CLI and report.md."""
from __future__ import annotations

import csv
import io
from typing import Optional, Sequence

BENCH_COLUMNS = [("name", "artifact"), ("runtime", "runtime"), ("threads", "thr"), ("init_ms", "init ms"),
                 ("first_ms", "1st ms"), ("mean_ms", "mean ms"), ("std_ms", "std"), ("p50_ms", "p50 ms"),
                 ("p90_ms", "p90 ms"), ("p99_ms", "p99 ms"), ("fps", "FPS"), ("size_mb", "size MB"),
                 ("gzip_mb", "gzip MB"), ("peak_rss_mb", "peak RSS MB"), ("accuracy", "accuracy"),
                 ("meets_budget", "p50 in budget")]


def fmt(key: str, v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if key.startswith("accuracy") and isinstance(v, float):
        return f"{100 * v:.1f}%"
    if key.startswith("fps") and isinstance(v, float):
        return f"{v:.1f}"
    if key.endswith("params") and isinstance(v, (int, float)):
        return f"{v / 1e6:.2f} M"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1 else (f"{v:.2f}" if abs(v) < 100 else f"{v:.1f}")
    return str(v)


def _cells(row: dict, columns, full_error: bool = True) -> list:
    """Formatted cells; a failed row shows its reason in the second cell (or just "failed")."""
    if row.get("error") and "error" not in [k for k, _ in columns]:
        first = fmt(columns[0][0], row.get(columns[0][0]))
        return [first, row["error"] if full_error else "failed"] + ["-"] * (len(columns) - 2)
    return [fmt(k, row.get(k)) for k, _ in columns]


def rich_table(title: str, columns, rows: Sequence[dict], caption: Optional[str] = None):
    from rich.table import Table

    t = Table(title=title, caption=caption)
    for key, header in columns:
        t.add_column(header, justify="left" if key in ("name", "backbone", "runtime", "artifact", "flags", "data", "description") else "right",
                     overflow="fold")
    for row in rows:
        cells = _cells(row, columns, full_error=False)
        if row.get("error") and "error" not in [k for k, _ in columns]:
            cells[1] = f"[red]{cells[1]}[/]"
        t.add_row(*cells)
    return t


def print_table(table) -> None:
    """To stderr, through the one console (wide enough for the table when stderr is not a terminal)."""
    from edgetl.cli.common import console

    console.print(table)


def markdown_table(columns, rows: Sequence[dict]) -> str:
    lines = ["| " + " | ".join(h for _, h in columns) + " |",
             "| " + " | ".join("---" for _ in columns) + " |"]
    for row in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in _cells(row, columns)) + " |")
    return "\n".join(lines)


def csv_table(rows: Sequence[dict], keys: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(keys), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in keys})
    return buf.getvalue()



SEED_COLUMNS = [("backbone", "backbone"), ("family", "seed row"), ("depth", "depth"), ("params", "params"),
                ("key_advantage", "key advantage"), ("use_case", "use case")]
MEASURED_COLUMNS = [("backbone", "backbone"), ("input_size", "px"), ("depth", "depth (weight layers)"),
                    ("params", "params"), ("tflite_float32_mb", "f32 MB"), ("tflite_int8_mb", "int8 MB"),
                    ("onnx_mb", "ONNX MB"), ("tflite_float32_p50_ms", "f32 p50 ms"), ("tflite_int8_p50_ms", "int8 p50 ms"),
                    ("onnx_p50_ms", "ONNX p50 ms"), ("fps_int8", "int8 FPS"), ("flags", "seed vs measured")]
ACCURACY_COLUMNS = [("artifact_params", "trained params"), ("tflite_float32_accuracy", "f32 acc"), ("tflite_int8_accuracy", "int8 acc"),
                    ("onnx_accuracy", "ONNX acc")]
MEASURED_KEYS = ["backbone", "input_size", "alpha", "depth", "params", "artifact_params", "tflite_float32_mb",
                 "tflite_int8_mb", "onnx_mb", "tflite_float32_p50_ms", "tflite_int8_p50_ms", "onnx_p50_ms", "fps_int8",
                 "tflite_float32_accuracy", "tflite_int8_accuracy", "onnx_accuracy", "flagged", "flags", "errors"]


def _measured_display(rows: list) -> list:
    out = []
    for r in rows:
        d = dict(r)
        d["flags"] = "; ".join(r["flags"]) if r["flags"] else "agrees"
        if r["errors"]:
            d["flags"] = (d["flags"] + " | " if r["flags"] else "") + "failed: " + "; ".join(r["errors"])
        out.append(d)
    return out




def compare_markdown(result: dict) -> str:
    """The seed's table and the measured one, as markdown (CLI --markdown and report.md)."""
    with_accuracy = any(r.get("tflite_float32_accuracy") is not None for r in result.get("measured", []))
    columns = MEASURED_COLUMNS[:-1] + (ACCURACY_COLUMNS if with_accuracy else []) + MEASURED_COLUMNS[-1:]
    return ("### The seed's table (as stated)\n\n" + markdown_table(SEED_COLUMNS, result["seed"]) +
            "\n\n### Measured\n\n" + markdown_table(columns, _measured_display(result["measured"])))
