"""Rendering of result tables (rich, markdown, CSV), shared by the CLI and report.md."""
from __future__ import annotations

import csv
import io
from typing import Optional, Sequence

BENCH_COLUMNS = [("name", "artifact"), ("runtime", "runtime"), ("threads", "thr"), ("init_ms", "init ms"),
                 ("first_ms", "1st ms"), ("mean_ms", "mean ms"), ("std_ms", "std"), ("p50_ms", "p50 ms"),
                 ("p90_ms", "p90 ms"), ("p99_ms", "p99 ms"), ("fps", "FPS"), ("size_mb", "size MB"),
                 ("gzip_mb", "gzip MB"), ("peak_rss_mb", "peak RSS MB"), ("accuracy", "accuracy"),
                 ("macs", "MMAC"), ("gmacs", "GMAC/s"), ("pct_peak", "% of peak"), ("meets_budget", "p50 in budget")]


def fmt(key: str, v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if key.startswith("accuracy") and isinstance(v, float):
        return f"{100 * v:.1f}%"
    if key.startswith("fps") and isinstance(v, float):
        return f"{v:.1f}"
    if key == "macs" and isinstance(v, (int, float)):
        return f"{v / 1e6:.0f}"
    if key.endswith("_share") and isinstance(v, float):
        return f"{100 * v:.0f}%"
    if key == "pct_peak" and isinstance(v, float):
        return f"{v:.0f}%"
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
    from edgetl.console import console

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
def compare_kinds(formats: Optional[Sequence[str]] = None) -> list:
    """[(key, label)] of the formats in a compare table (default: the registry's compare formats)."""
    from edgetl.formats.registry import COMPARE_FORMATS, get_format

    fmts = [get_format(n) for n in (formats or COMPARE_FORMATS)]
    return [(f.compare_key, f.compare_label or f.mode) for f in fmts]


def measured_columns(formats: Optional[Sequence[str]] = None, accuracy: bool = False) -> list:
    """The measured compare table's columns: size, p50 (and accuracy) per format, from the registry."""
    kinds = compare_kinds(formats)
    cols = [("backbone", "backbone"), ("input_size", "px"), ("depth", "depth (weight layers)"), ("params", "params")]
    cols += [(f"{k}_mb", f"{label} MB") for k, label in kinds]
    cols += [(f"{k}_p50_ms", f"{label} p50 ms") for k, label in kinds]
    cols += [("fps_int8", "int8 FPS")]
    if accuracy:
        cols += [("artifact_params", "trained params")] + [(f"{k}_accuracy", f"{label} acc") for k, label in kinds]
    return cols + [("flags", "seed vs measured")]


def measured_keys(formats: Optional[Sequence[str]] = None) -> list:
    """CSV keys of the measured compare rows."""
    kinds = [k for k, _ in compare_kinds(formats)]
    return (["backbone", "input_size", "alpha", "depth", "params", "artifact_params"] + [f"{k}_mb" for k in kinds]
            + [f"{k}_p50_ms" for k in kinds] + ["fps_int8"] + [f"{k}_accuracy" for k in kinds]
            + ["flagged", "flags", "errors"])


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
    formats = (result.get("settings") or {}).get("formats")
    keys = [k for k, _ in compare_kinds(formats)]
    with_accuracy = any(r.get(f"{k}_accuracy") is not None for r in result.get("measured", []) for k in keys)
    columns = measured_columns(formats, accuracy=with_accuracy)
    return ("### The seed's table (as stated)\n\n" + markdown_table(SEED_COLUMNS, result["seed"]) +
            "\n\n### Measured\n\n" + markdown_table(columns, _measured_display(result["measured"])))
