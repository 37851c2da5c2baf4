"""`edgetl run`: recipe -> train -> prune -> quantize -> convert -> benchmark -> compare -> report [-> android].

Resumable: each stage has a fingerprint (its own recipe keys, chained with the stage before it, and
for training the data's fingerprint). ``stages.json`` records the fingerprint of every finished
stage, written after each stage, so a rerun skips what is unchanged, a changed value reruns that
stage and the ones after it, and Ctrl-C or a failure keeps every finished stage.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from edgetl.config.params import from_recipe, recipe_keys
from edgetl.config.stages import (BenchmarkConfig, CompareConfig, ComparisonConfig, ConvertConfig, ExportConfig,
                                  PruneConfig, QuantizeConfig)
from edgetl.config.stages import TrainConfig as TrainParams
from edgetl.errors import EdgetlError
from edgetl.fsutil import mapping_of, read_checked_json, write_json
from edgetl.progress import steps

STATE_FILE = "stages.json"
SUMMARY_FILE = "summary.json"
IDENTITY_KEYS = ("name", "data", "backbone")  # what makes a run folder "a different run"


@dataclass(frozen=True)
class Stage:
    name: str
    keys: tuple  # recipe keys this stage depends on
    run: Callable  # run(ctx) -> dict (the stage's figures, JSON-serialisable)
    enabled: Callable = lambda r: True


class Context:
    def __init__(self, recipe: dict, out: Path, progress, log):
        self.recipe, self.out, self.progress, self.log = recipe, out, progress, log
        self.results: dict = {}  # stage name -> its figures
        self.stage_seconds: dict = {}  # stage name -> seconds this invocation spent on it (0 when skipped)


# ---- stages -----------------------------------------------------------------------------------

def _train(ctx: Context) -> dict:
    from edgetl.stages.train import TrainConfig, train

    cfg = from_recipe(TrainConfig, ctx.recipe, out=str(ctx.out))  # every training recipe key, by its config field
    result = train(cfg, progress=ctx.progress, log=ctx.log, force=True)  # the run's own folder: stages.json decides
    return {k: v for k, v in result.items() if k != "history"}


def _check_training(recipe: dict, out: Path) -> None:
    """The training stage's cheap checks (options, split ratios, --limit-images, the data source), run before
    the run folder is created."""
    from edgetl.data.sources import check_source
    from edgetl.stages.train import TrainConfig

    cfg = from_recipe(TrainConfig, recipe, out=str(out))
    cfg.validate()
    cfg.data_options().check()
    check_source(cfg.data, cfg.labels_csv)


def _prune(ctx: Context) -> dict:
    from edgetl.stages.prune import prune_run

    rec = prune_run(from_recipe(PruneConfig, ctx.recipe, run=str(ctx.out)))
    if rec.get("max_drop_warning"):
        ctx.log(f"[yellow]{rec['file']}: {rec['max_drop_warning']}[/]")
    return rec


def _quantize(ctx: Context) -> dict:
    from edgetl.stages.quantize import quantize_run

    cfg = from_recipe(QuantizeConfig, ctx.recipe, run=str(ctx.out))
    cfg.auto_keep_float = cfg.auto_keep_float and "int8" in cfg.modes  # the recipe's --auto applies to its int8 only
    rows = quantize_run(cfg, progress=steps(ctx.progress, "quantize"), keep_going=True)
    for row in rows:
        if row.get("error"):
            ctx.log(f"[bold red]{row['file']} not written: {row['error']}[/]")
        if row.get("max_drop_warning"):
            ctx.log(f"[yellow]{row['file']}: {row['max_drop_warning']}[/]")
    return {"artifacts": rows}


def _convert(ctx: Context) -> dict:
    from edgetl.stages.convert import convert_run

    r = ctx.recipe
    to = convert_targets(r)
    if not to:
        ctx.log("stage convert: every format of " + ", ".join(r["convert"]) + " was written by the quantize stage")
        return {"artifacts": []}
    cfg = from_recipe(ConvertConfig, r, run=str(ctx.out))
    cfg.to = to
    rows = convert_run(cfg, progress=steps(ctx.progress, "convert"), keep_going=True)
    for row in rows:
        if row.get("error"):
            ctx.log(f"[bold red]{row['file']} not written: {row['error']}[/]")
    return {"artifacts": rows}


def convert_targets(recipe: dict) -> list:
    """The recipe's `convert:` targets, less those whose every format the quantize stage already writes
    (`convert: [tflite]` beside `quantize: [float32, ...]`)."""
    from edgetl.formats.registry import target_formats

    quantized = set(recipe["quantize"])
    return [t for t in recipe["convert"] if not all(f.configure and f.mode in quantized for f in target_formats(t))]


def _benchmark(ctx: Context) -> dict:
    from edgetl.measure.bench import benchmark

    return benchmark([ctx.out], from_recipe(BenchmarkConfig, ctx.recipe), progress=ctx.progress,
                     ops=True, ops_per_op=False)  # op coverage for report.md; per-op-type timing is the slow part


def _compare(ctx: Context) -> dict:
    from edgetl.compare.compare import compare

    r = ctx.recipe
    backbones = r["compare_backbones"] or [r["backbone"]]
    size = r["compare_input_size"] or ctx.results["train"]["input_size"]
    own = backbones == [r["backbone"]]  # the run's own backbone is measured at the run's alpha, beside its classic row
    alpha = ctx.results["train"].get("alpha") if own else None
    return compare(ComparisonConfig(backbones=backbones, input_size=size, alpha=alpha, threads=r["threads"][:1],
                                    workdir=str(ctx.out / "compare"), runs=max(10, r["runs"] // 2),
                                    min_seconds=min(r["min_seconds"], 0.5), warmup=r["warmup"],
                                    rounds=r["bench_rounds"]), progress=ctx.progress)


def _report(ctx: Context) -> dict:
    from edgetl.report.markdown import write_report

    return write_report(ctx.out, ctx.recipe, ctx.results, stage_seconds=ctx.stage_seconds)


def _android(ctx: Context) -> dict:
    from edgetl.export.android import export_android

    return export_android(from_recipe(ExportConfig, ctx.recipe, run=str(ctx.out)))


TRAIN_KEYS = recipe_keys(TrainParams)  # the training stage's fingerprint: every recipe key of its config

# Each stage's fingerprint is every recipe key of its config (edgetl/config/stages.py), never a hand-kept list:
# a new parameter reruns its stage when its value changes.
STAGES = (
    Stage("train", TRAIN_KEYS, _train),
    Stage("prune", recipe_keys(PruneConfig), _prune, lambda r: r["prune_sparsity"] is not None),
    Stage("quantize", recipe_keys(QuantizeConfig), _quantize),
    Stage("convert", recipe_keys(ConvertConfig), _convert, lambda r: bool(r["convert"])),
    Stage("benchmark", recipe_keys(BenchmarkConfig), _benchmark),
    Stage("compare", recipe_keys(CompareConfig), _compare),
    Stage("report", (), _report),
    Stage("android", recipe_keys(ExportConfig), _android, lambda r: r["android"]),
)


# ---- fingerprints and state ---------------------------------------------------------------------

def data_fingerprint(source: str) -> str:
    """Cheap fingerprint of the data source: every file's relative path, size and mtime for a folder."""
    p = Path(source).expanduser()
    if source == "digits" or source.startswith("tfds:") or not p.is_dir():
        return source
    h = hashlib.sha256()
    for f in sorted(x for x in p.rglob("*") if x.is_file()):
        st = f.stat()
        h.update(f"{f.relative_to(p)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def fingerprints(recipe: dict) -> dict:
    fps, prev = {}, "edgetl-pipeline/1"
    for st in STAGES:
        payload = {k: recipe[k] for k in st.keys}
        if st.name == "train":
            payload["_data"] = data_fingerprint(str(recipe["data"]))
            csv_file = Path(str(recipe.get("labels_csv") or "")).expanduser()
            if recipe.get("labels_csv") and csv_file.is_file():
                payload["_labels_csv"] = hashlib.sha256(csv_file.read_bytes()).hexdigest()
        payload["_enabled"] = bool(st.enabled(recipe))
        prev = hashlib.sha256((prev + json.dumps(payload, sort_keys=True, default=str)).encode()).hexdigest()
        fps[st.name] = prev
    return fps


def _load_state(out: Path, recipe: dict, force: bool) -> dict:
    state_path = out / STATE_FILE
    if not state_path.is_file():
        others = [p.name for p in out.iterdir() if not p.name.startswith(".")] if out.is_dir() else []
        if others and not force:
            if "manifest.json" in others and "contract.json" in others:
                raise EdgetlError(f"{out} holds a run made by `edgetl train`, not by `edgetl run` (no {STATE_FILE}); "
                                  "pick another --out or pass --force to redo it with `edgetl run`")
            raise EdgetlError(f"{out} already holds files that are not an edgetl run ({', '.join(others[:3])}); "
                              "pick another --out or pass --force")
        return {"identity": {k: recipe[k] for k in IDENTITY_KEYS}, "stages": {}}
    if force:  # redo the run whatever its stages.json says, damaged or not
        return {"identity": {k: recipe[k] for k in IDENTITY_KEYS}, "stages": {}}
    state = read_checked_json(state_path, _state_shape, "pass --force to redo the run")
    ident = {k: recipe[k] for k in IDENTITY_KEYS}
    if state["identity"] != ident:
        diff = ", ".join(f"{k}: {state['identity'].get(k)!r} -> {ident[k]!r}" for k in IDENTITY_KEYS
                         if state["identity"].get(k) != ident[k])
        raise EdgetlError(f"{out} holds a different run ({diff}); pick another --out or pass --force to replace it")
    return state


def _state_shape(state) -> Optional[str]:
    """What is wrong with a stages.json document (None when usable): a damaged one is never "a different run"."""
    wrong = mapping_of(state, keys=("identity", "stages"))
    if wrong:
        return wrong
    if not isinstance(state["stages"], dict) or not isinstance(state["identity"], dict):
        return "'identity' and 'stages' must be objects"
    missing = [k for k in IDENTITY_KEYS if k not in state["identity"]]
    if missing:
        return f"identity has no '{missing[0]}'"
    if not all(isinstance(v, dict) for v in state["stages"].values()):
        return "a stage record is not an object"
    return None


def _outputs_present(out: Path, done: dict) -> bool:
    """A finished stage counts only while the files it reported are still there, made from the current model."""
    result = done.get("result") or {}
    files = [r.get("artifact") for r in result.get("artifacts", []) if isinstance(r, dict) and not r.get("error")]
    from edgetl.rundir import stale_reason

    files = [f for f in files if f]
    # an artifact whose model.keras was swapped by hand since is not "up to date": its stage is redone
    return (all(Path(f).exists() for f in files) and (out / "model.keras").exists()
            and not any(stale_reason(f) for f in files))


def run_pipeline(recipe: dict, out: str | Path, *, force: bool = False, progress=None, log=print,
                 recipe_source: str = "built-in", until: Optional[str] = None) -> dict:
    """Run every enabled stage whose fingerprint changed (up to stage ``until``); return summary.json's content.

    The run folder is locked meanwhile (a second command on it gets a one-line error)."""
    from edgetl.rundir import run_lock

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise EdgetlError(f"--out {out} is a file; pass a folder")
    if not (out / STATE_FILE).is_file():  # a new run: a bad training value must not leave a folder behind
        _check_training(recipe, out)
    with run_lock(out, "edgetl run", create=True):
        return _run_stages(recipe, out, force=force, progress=progress, log=log, recipe_source=recipe_source,
                           until=until)


def _run_stages(recipe: dict, out: Path, *, force: bool, progress, log, recipe_source: str,
                until: Optional[str]) -> dict:
    from edgetl.fsutil import check_writable_dir

    check_writable_dir(out)
    state = _load_state(out, recipe, force)
    fps = fingerprints(recipe)
    ctx = Context(recipe, out, progress, log)
    summary = {"recipe": recipe, "recipe_source": recipe_source, "out": str(out), "stages": {}}
    t_total = time.perf_counter()
    names = [s.name for s in STAGES]
    for st in STAGES[: names.index(until) + 1] if until else STAGES:
        done = state["stages"].get(st.name)
        if not st.enabled(recipe):
            summary["stages"][st.name] = {"status": "disabled"}
            state["stages"].pop(st.name, None)
            continue
        if done and done.get("fingerprint") == fps[st.name] and _outputs_present(out, done):
            log(f"stage {st.name}: up to date, skipped (inputs unchanged; --force redoes it)")
            ctx.results[st.name] = done["result"]
            summary["stages"][st.name] = {"status": "skipped", "seconds": 0.0, "ran_seconds": done.get("seconds")}
            ctx.stage_seconds[st.name] = 0.0
            continue
        log(f"stage {st.name}: running")
        t0 = time.perf_counter()
        # A stage being redone invalidates everything after it, even if interrupted mid-way.
        for later in STAGES[names.index(st.name):]:
            state["stages"].pop(later.name, None)
        write_json(out / STATE_FILE, state)
        result = st.run(ctx)
        seconds = round(time.perf_counter() - t0, 2)
        ctx.results[st.name] = result
        state["stages"][st.name] = {"fingerprint": fps[st.name], "seconds": seconds, "result": result,
                                    "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        write_json(out / STATE_FILE, state)
        summary["stages"][st.name] = {"status": "ran", "seconds": seconds}
        ctx.stage_seconds[st.name] = seconds
        log(f"stage {st.name}: done in {seconds:.1f} s")
    summary["total_seconds"] = round(time.perf_counter() - t_total, 2)
    summary["refused"] = [f"{row['file']}: {row['error']}" for stage in ("quantize", "convert")
                          for row in (ctx.results.get(stage) or {}).get("artifacts", []) if row.get("error")]
    summary["results"] = ctx.results
    write_json(out / SUMMARY_FILE, summary)
    return summary
