"""`edgetl compare`: the classic comparison table (the seed's claims), each row with its measurement under it.

For every backbone: its classic ImageNet classifier (own top, 1000 classes, random weights: the
parameter count Keras Applications reports) or, with ``data``, a transfer classifier trained by
``edgetl.stages.train`` (``weights_dir`` for ImageNet weights), converted in each compare format;
all artifacts then benchmarked together by ``edgetl.measure.bench`` (interleaved rounds, subprocesses).

The parts: ``claims`` (what the seed says, where a measurement disagrees), ``jobs`` (the
measurement: counts, training, conversions in subprocesses, with the stages' own converters),
``table`` (the rows) and ``edgetl.report.compare_plot`` (the plot). This module runs them in order.
"""
from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path
from typing import Optional, Sequence

from edgetl.backbones.registry import get_backbone
from edgetl.errors import EdgetlError
from edgetl.config.stages import COMPARE_BACKBONES, ComparisonConfig
from edgetl.formats.registry import COMPARE_FORMATS, FORMATS
from edgetl.compare.claims import (CLASSIC_SOURCE, DEPTH_COUNTING, PARAM_TOLERANCE, claim_flags,  # noqa: F401
                                   seed_depth_range, seed_row)
from edgetl.compare.jobs import (ONNX_FLOAT, convert_backbone, convert_in_subprocess,  # noqa: F401
                             imagenet_contract, link_test_split, reference_twin)
from edgetl.compare.table import measured_row, reference_row
from edgetl.report.compare_plot import plot  # noqa: F401  (edgetl.compare.compare.plot, as before the split)


def plan(backbones: Sequence[str], input_size: Optional[int], alpha: Optional[float]) -> list:
    """Validate every backbone and size before any heavy work: [(spec, size, alpha)]."""
    if not backbones:
        raise EdgetlError(f"no backbone given; pass --backbones e.g. {','.join(COMPARE_BACKBONES)}")
    out = []
    for name in backbones:
        spec = get_backbone(name)
        size = spec.check_size(input_size)
        a = spec.check_alpha(alpha) if (alpha is not None and spec.alphas) else spec.default_alpha
        out.append((spec, size, a))
    return out


def check_formats(formats: Optional[Sequence[str]]) -> list:
    """The formats a compare table can hold: any TFLite mode that needs no training, and float ONNX."""
    ok = [f.name for f in FORMATS.values() if (f.configure and not f.training) or f.name == ONNX_FLOAT]
    names = list(dict.fromkeys(formats or COMPARE_FORMATS))
    bad = [n for n in names if n not in ok]
    if bad:
        raise EdgetlError(f"--formats {bad[0]} cannot be compared; choose from: {', '.join(ok)}")
    return names


def compare(cfg: ComparisonConfig, *, progress=None, log=None) -> dict:
    """Build, convert and benchmark each of ``cfg.backbones`` in each of ``cfg.formats`` (registry names);
    {"seed": rows, "measured": rows, "reference", "benchmark", ...}. One thread count: ``cfg.threads[0]``.

    Every input and output path is checked before the slow work starts."""
    from edgetl.config.params import check
    from edgetl.measure.bench import check_settings

    check(cfg)
    s = dataclasses.replace(cfg, formats=check_formats(cfg.formats), threads=list(cfg.threads)[:1])
    check_settings(s.threads, s.runs, s.min_seconds, s.warmup, s.rounds, s.budget_ms)
    plans = plan(list(s.backbones), s.input_size, s.alpha)
    if s.reference is not None:
        ref = Path(s.reference)
        if not ref.is_file() or ref.suffix.lower() != ".tflite":
            raise EdgetlError(f"--reference {s.reference} is not a .tflite file; pass Google's "
                              "mobilenet_v2_1.0_224_quant.tflite (e.g. ../shared/models/coral/)")
    if s.data is not None and not Path(s.data).is_dir():
        raise EdgetlError(f"--data {s.data} is not a folder; pass DIR with one sub-folder per class")
    if s.workdir is not None:
        from edgetl.fsutil import check_creatable

        check_creatable(s.workdir, "--workdir", folder=True)
    own_tmp = s.workdir is None
    work = Path(tempfile.mkdtemp(prefix="edgetl-compare-")) if own_tmp else Path(s.workdir)
    work.mkdir(parents=True, exist_ok=True)
    try:
        entries, twin = _convert(plans, work, s, progress, log or (lambda m: None))
        return _table(entries, twin, work, s, _benchmark(entries, twin, work, s, progress))
    finally:
        if own_tmp:
            shutil.rmtree(work, ignore_errors=True)


def _convert(plans, work: Path, s: ComparisonConfig, progress, log) -> tuple:
    """Each backbone counted, (trained,) converted: its entries, and our reference twin with ``s.reference``."""
    task = progress.add_task("building and converting", total=len(plans) + (1 if s.reference else 0)) if progress else None
    entries = []
    for spec, size, a in plans:
        if progress:
            progress.update(task, description=f"building and converting {spec.name} {size}px")
        e = convert_backbone(spec, size, a, s.formats, work, classes=s.classes, data=s.data,
                             weights_dir=s.weights_dir, epochs=s.epochs, progress=progress)
        log(f"{spec.name} {size}px: depth {e['depth']}, {e['params'] / 1e6:.2f} M params, converted in "
            f"{e['seconds']:.0f} s" + "".join(f"; {k} failed: {err}" for k, (_, err) in e["artifacts"].items() if err))
        entries.append(e)
        if progress:
            progress.advance(task)
    twin = None
    if s.reference:
        twin = reference_twin(entries, work, s.classes, s.data is None)
        if progress:
            progress.advance(task)
    return entries, twin


def _benchmark(entries: list, twin, work: Path, s: ComparisonConfig, progress) -> dict:
    """Every artifact benchmarked together (with data: ours on the run's test split, the reference pair apart)."""
    from edgetl.config.stages import BenchmarkConfig
    from edgetl.measure.bench import benchmark

    test_dir = None
    if s.data is not None and entries and "_test" in entries[0]:
        test_dir = link_test_split(entries[0]["_test"], entries[0]["_labels"], work / "test_split")
    ours = [p for e in entries for p, _ in e["artifacts"].values() if p]
    pair = [twin, Path(s.reference)] if s.reference else []
    groups = [(ours + pair, None)] if s.data is None else [(ours, test_dir), (pair, None)]
    rows, system, settings = [], None, None
    for paths, d in groups:
        paths = list(dict.fromkeys(p for p in paths if p))
        if not paths:
            continue
        cfg = BenchmarkConfig(**{f.name: getattr(s, f.name) for f in dataclasses.fields(BenchmarkConfig)})
        res = benchmark(paths, cfg, data=d, progress=progress)
        rows += res["results"]
        system, settings = res["system"], res["settings"]
    return {"results": rows, "system": system, "settings": settings}


def _table(entries: list, twin, work: Path, s: ComparisonConfig, bench: dict) -> dict:
    by_path = {r["artifact"]: r for r in bench["results"]}
    return {"seed": [seed_row(e["backbone"]) for e in entries],
            "measured": [measured_row(e, by_path, s.formats) for e in entries],
            "reference": reference_row(twin, s.reference, by_path) if s.reference else None,
            "benchmark": bench["results"], "system": bench["system"],
            "settings": {**(bench["settings"] or {}), "threads": s.threads[0], "classes": s.classes,
                         "data": str(s.data) if s.data else None, "weights_dir": s.weights_dir,
                         "depth_counting": DEPTH_COUNTING, "param_tolerance": PARAM_TOLERANCE,
                         "formats": list(s.formats)},
            "workdir": str(work), "classic_source": CLASSIC_SOURCE}
