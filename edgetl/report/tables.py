"""Rendering of result tables (rich, markdown, CSV), shared by the CLI and report.md."""
from __future__ import annotations

import csv
import io
from typing import Optional, Sequence

BENCH_COLUMNS = [("name", "artifact"), ("runtime", "runtime"), ("threads", "thr"), ("init_ms", "init ms"),
                 ("first_ms", "1st ms"), ("mean_ms", "mean ms"), ("std_ms", "std"), ("p50_ms", "p50 ms"),
                 ("p90_ms", "p90 ms"), ("p99_ms", "p99 ms"), ("fps", "FPS"), ("size_mb", "size MB"),
                 ("gzip_mb", "gzip MB"), ("peak_rss_mb", "peak RSS MB"), ("accuracy", "accuracy [95%]"),
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
    return [_cell(row, k) for k, _ in columns]


def _cell(row: dict, key: str) -> str:
    """One formatted cell; an accuracy measured on n images also carries its 95% Wilson interval."""
    v = row.get(key)
    n = row.get("accuracy_n")
    if key == "accuracy" and isinstance(v, float) and n:
        from edgetl.metrics import wilson_interval

        lo, hi = wilson_interval(int(round(v * n)), int(n))
        return f"{100 * v:.1f}% [{100 * lo:.1f}-{100 * hi:.1f}]"
    return fmt(key, v)


# Columns of words that may wrap between words; every other cell (numbers, names, paths) stays on one line.
PROSE_KEYS = ("description", "flags", "key_advantage", "use_case", "family", "error", "errors", "reasons", "note",
              "fallback_summary", "top_ops")
LEFT_KEYS = ("name", "backbone", "runtime", "artifact", "flags", "data", "description", "file", "format", "io", "gate",
             "key_advantage", "use_case", "family", "tensor", "op", "class", "image", "label", "top", "stage", "status")
# Benchmark columns left out first (first in this list, first out) when the table must fit a narrow terminal.
BENCH_DROP = ("gzip_mb", "pct_peak", "gmacs", "macs", "peak_rss_mb", "first_ms", "init_ms", "std_ms", "mean_ms",
              "p99_ms", "fps", "threads", "runtime", "p90_ms")


def _plain_len(text: str) -> int:
    from rich.text import Text

    return Text.from_markup(text).cell_len


def _min_width(key: str, header: str, cells: Sequence[str]) -> int:
    """The narrowest a column may get without breaking a cell: its longest cell (prose: its longest word, up to 24)."""
    words = header.split() or [""]
    if key in PROSE_KEYS:
        longest = max([len(w) for c in cells for w in c.split()] or [1])
        return max(min(longest, 24), max(map(len, words)))
    return max([_plain_len(c) for c in cells] + [max(map(len, words))])


def fit_columns(columns, cells: Sequence[Sequence[str]], width: Optional[int], drop: Sequence[str] = ()) -> list:
    """Indexes of the columns to show so the table fits ``width`` terminal columns (None: all of them).

    Columns named in ``drop`` are left out in that order until it fits; the others are always shown (and may
    then make the table wider than ``width``: a name is never cut).
    """
    keep = list(range(len(columns)))
    if width is None:
        return keep
    mins = [_min_width(k, h, [row[i] for row in cells]) for i, (k, h) in enumerate(columns)]
    order = [i for key in drop for i, (k, _) in enumerate(columns) if k == key]
    while sum(mins[i] for i in keep) + 3 * len(keep) + 1 > width and order:
        keep.remove(order.pop(0))
    return keep


def _widths(columns, cells: Sequence[Sequence[str]], width: Optional[int]) -> Optional[list]:
    """Content widths that fit ``width``: every cell whole on one line (prose wraps between words), headers
    whole when there is room, then prose columns widened. None when the table cannot fit or no width is given
    (rich then lays it out: nothing is cut, a long name may fold)."""
    if width is None:
        return None
    mins = [_min_width(k, h, [row[i] for row in cells]) for i, (k, h) in enumerate(columns)]
    room = width - (sum(mins) + 3 * len(columns) + 1)
    if room < 0:
        return None
    widths = list(mins)

    def widen(i: int, want: int) -> None:
        nonlocal room
        extra = min(max(want - widths[i], 0), room)
        widths[i] += extra
        room -= extra

    longest = [max([_plain_len(row[i]) for row in cells] + [0]) for i in range(len(columns))]
    prose = [i for i, (key, _) in enumerate(columns) if key in PROSE_KEYS]
    for i in prose:  # short prose on one line ("keras file")
        widen(i, min(longest[i], 30))
    for i, (_, header) in enumerate(columns):  # then headers on one line
        widen(i, len(header))
    for i in prose:  # then long prose on fewer lines
        widen(i, longest[i])
    return widths


def rich_table(title: str, columns, rows: Sequence[dict], caption: Optional[str] = None,
               width: Optional[int] = None, drop: Sequence[str] = ()):
    """A rich table whose numbers and names never break across lines or get cut.

    ``width``: fit that many terminal columns by leaving out ``drop`` columns (the caption names them and
    ``--wide``); None shows every column.
    """
    from rich.markup import escape
    from rich.table import Column, Table

    keys = [k for k, _ in columns]
    cells = []
    for row in rows:
        c = [escape(x) for x in _cells(row, columns, full_error=False)]
        if row.get("error") and "error" not in keys:
            c[1] = f"[red]{c[1]}[/]"
        cells.append(c)
    keep = fit_columns(columns, cells, width, drop)
    hidden = [columns[i][1] for i in range(len(columns)) if i not in keep]
    if hidden:
        note = f"not shown at this width: {', '.join(hidden)} (--wide shows every column)"
        caption = f"{caption}\n{note}" if caption else note
    widths = _widths([columns[i] for i in keep], [[c[i] for i in keep] for c in cells], width)
    cols = []
    for j, i in enumerate(keep):
        key, header = columns[i]
        cols.append(Column(header, justify="left" if key in LEFT_KEYS else "right", overflow="fold",
                           no_wrap=key not in PROSE_KEYS and widths is None, width=widths[j] if widths else None))
    t = Table(*cols, title=title, caption=caption)
    for row, c in zip(rows, cells):  # a row may carry its style and close a section (a rule under it)
        t.add_row(*[c[i] for i in keep], style=row.get("_style"), end_section=bool(row.get("_end_section")))
    return t


def show_table(console, title: str, columns, rows: Sequence[dict], caption: Optional[str] = None, wide: bool = False,
               drop: Sequence[str] = ()) -> None:
    """Print ``rich_table`` fitted to ``console``'s width (every column with ``wide``)."""
    console.print(rich_table(title, columns, rows, caption=caption, width=None if wide else console.width, drop=drop))


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



def compare_kinds(formats: Optional[Sequence[str]] = None) -> list:
    """[(key, label)] of the formats in a compare table (default: the registry's compare formats)."""
    from edgetl.formats.registry import COMPARE_FORMATS, get_format

    fmts = [get_format(n) for n in (formats or COMPARE_FORMATS)]
    return [(f.compare_key, f.compare_label or f.mode) for f in fmts]


def measured_columns(formats: Optional[Sequence[str]] = None, accuracy: bool = False) -> list:
    """The measured compare table's columns: size, p50 (and accuracy) per format, from the registry."""
    kinds = compare_kinds(formats)
    cols = [("backbone", "backbone"), ("alpha", "alpha"), ("input_size", "px"), ("depth", "depth"), ("params", "params")]
    cols += [(f"{k}_mb", f"{label} MB") for k, label in kinds]
    cols += [(f"{k}_p50_ms", f"{label} p50 ms") for k, label in kinds]
    cols += [("fps_int8", "int8 FPS")]
    if accuracy:
        cols += [("artifact_params", "trained params")] + [(f"{k}_accuracy", f"{label} acc") for k, label in kinds]
    return cols + [("flags", "classic vs measured")]


def measured_drop(columns) -> list:
    """The compare table's columns in the order a narrow terminal leaves them out: alpha, px, depth, params,
    the first format's latency (and accuracy) and the flags stay."""
    keys = [k for k, _ in columns]
    mb = [k for k in keys if k.endswith("_mb")]
    p50 = [k for k in keys if k.endswith("_p50_ms")]
    acc = [k for k in keys if k.endswith("_accuracy")]
    return ["fps_int8", "artifact_params"] + mb[:0:-1] + p50[:1:-1] + acc[:1:-1] + p50[1:2] + acc[1:2] + mb[:1]


def measured_keys(formats: Optional[Sequence[str]] = None) -> list:
    """CSV keys of the measured compare rows."""
    kinds = [k for k, _ in compare_kinds(formats)]
    return (["backbone", "input_size", "alpha", "depth", "params", "artifact_params"] + [f"{k}_mb" for k in kinds]
            + [f"{k}_p50_ms" for k in kinds] + ["fps_int8"] + [f"{k}_accuracy" for k in kinds]
            + ["flagged", "flags", "errors", "family", "params_compared"])


def comparison_rows(result: dict, markdown: bool = False) -> list:
    """The compare table's rows: each classic row (the seed's claim at width 1.0 and its network's size) with the measured rows of
    its family right under it, in the order the backbones were measured; a rule closes each group."""
    from edgetl.backbones.registry import CLASSIC_ALPHA, SEED_TABLE

    seeds = {s["backbone"]: s for s in result.get("seed") or []}
    groups = {}
    for r in result.get("measured") or []:
        seed = seeds.get(r["backbone"])
        key = seed["family"] if seed else ("", r["backbone"])
        groups.setdefault(key, (seed, []))[1].append(r)
    blank = {k: "" for k, _ in compare_columns(result)}  # a classic row has no measurement
    out = []
    for seed, rows in groups.values():
        if seed:
            alpha = seed.get("alpha", CLASSIC_ALPHA if any(r.get("alpha") is not None for r in rows) else None)
            name = f"{seed['family']} (classic)"
            about = f"{seed['key_advantage']}, {seed['use_case']}"
            out.append({**blank, "backbone": f"**{name}**" if markdown else name, "alpha": _alpha(alpha),
                        "input_size": seed.get("input_size", SEED_TABLE[seed["family"]].size), "depth": seed["depth"],
                        "params": seed["params"], "_style": "bold",
                        "flags": f"{seed['describes']}: {about}" if seed.get("describes") else about})
        for r in rows:
            out.append({**r, "alpha": _alpha(r.get("alpha")), "flags": r.get("note") or _note(r)})
        out[-1]["_end_section"] = True
    return out


def _note(row: dict) -> str:
    """A result written before rows carried their ``note`` (``compare.claims.claim_note``): its flags and errors."""
    words = "; ".join(row.get("flags") or []) or "agrees"
    return words + (" | failed: " + "; ".join(row["errors"]) if row.get("errors") else "")


def _alpha(a) -> str:
    return "-" if a is None else str(float(a))


def compare_columns(result: dict) -> list:
    """The compare table's columns for ``result`` (accuracy columns when any accuracy was measured)."""
    formats = (result.get("settings") or {}).get("formats")
    keys = [k for k, _ in compare_kinds(formats)]
    with_accuracy = any(r.get(f"{k}_accuracy") is not None for r in result.get("measured", []) for k in keys)
    with_accuracy = with_accuracy or bool((result.get("settings") or {}).get("data"))
    return measured_columns(formats, accuracy=with_accuracy)


def compare_markdown(result: dict) -> str:
    """The classic table with each measured row under its classic row, and where the figures come from, as
    markdown (CLI --markdown and report.md), with the host line its speed figures were measured on."""
    from edgetl.backbones.registry import CLASSIC_SOURCE
    from edgetl.measure.sysinfo import one_line

    host = f"\n\nHost: {one_line(result['system'])}" if result.get("system") else ""
    return (markdown_table(compare_columns(result), comparison_rows(result, markdown=True)) + "\n\n"
            + (result.get("classic_source") or CLASSIC_SOURCE) + host)
