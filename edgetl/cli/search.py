"""`edgetl search`: the model to ship within a latency and size budget (edgetl.choose, docs/search.md)."""
from __future__ import annotations

import click

from edgetl.cli.common import emit_json, results_console, user_errors
from edgetl.config.params import click_options
from edgetl.config.stages import SearchConfig


@click.command("search")
@click_options(SearchConfig)
@click.option("--json", "as_json", is_flag=True, help="Print search.json (candidates, front, pick, recipe) to stdout.")
@user_errors
def search_cmd(as_json, **kw):
    """The most accurate model within --budget-ms (and --max-mb), on your photos, with 95% intervals.

    \b
    Every backbone x width x input size with local ImageNet weights (narrow with --backbones,
    --alphas, --sizes), each in float32 and int8: accuracy (two classes: AUC, or precision at
    --target-recall) by K-fold cross-validation of the phase-1 head on cached frozen features, the
    int8 file scored when on or near the front; latency by one interleaved benchmark of every file
    (or --latency-from), size and MACs. Prints the Pareto front and the pick, writes OUT/search.json,
    OUT/search.png, the candidate files in OUT/models and OUT/recipe.yaml (train it with the
    `edgetl run` line shown, or now with --train). A rerun resumes.

    \b
    Examples:
      edgetl search --data photos/ --budget-ms 5
      edgetl search --data ../shared/data/flowers_small --weights-dir ../shared/weights/imagenet \\
                    --budget-ms 2 --backbones mobilenet,mobilenet_v2 --sizes 96,128 --folds 3 --out runs/search
      edgetl search --data photos/ --budget-ms 20 --max-mb 2 --latency-from pixel7.json --out runs/search
      edgetl search --data xrays/ --budget-ms 5 --target-recall 0.95 --train
    """
    from edgetl.cli.progress import progress_bar
    from edgetl.choose.run import search

    from edgetl.choose.run import validate

    cfg = SearchConfig(**kw)
    validate(cfg)  # a bad value is one line before any progress output
    with progress_bar() as progress:
        result = search(cfg, progress=progress, log=lambda m: progress.console.print(m, markup=False, highlight=False))
    if as_json:
        emit_json(result)
    print_search(result, results_console(as_json))


def _score(r) -> str:
    return f"{r['score']:.3f} [{r['low']:.3f}, {r['high']:.3f}]"


METRIC_TITLE = {"accuracy": "accuracy", "auc": "AUC"}


def print_search(result: dict, console) -> None:
    from edgetl.report.tables import show_table

    rows = {r["key"]: r for r in result["candidates"]}
    cfg = result["config"]
    metric = METRIC_TITLE.get(result["metric"], result["metric"])
    budget = f"{cfg['budget_ms']:g} ms" + (f", {cfg['max_mb']:g} MB" if cfg.get("max_mb") else "")
    unscored = sum(1 for r in rows.values() if r["score"] is None)
    pick = result["pick"]["key"]
    cells = [{"name": r["candidate"], "runtime": r["precision"], "score_ci": _score(r) if r["score"] is not None else "-",
              "p50_ms": f"{r['p50_ms']:.2f}", "size_mb": f"{r['size_mb']:.2f}",
              "macs": f"{r['macs'] / 1e6:.1f}" if r.get("macs") else "-",
              "budget": "ok" if r["meets_budget"] else "over", "pick": "PICK" if key == pick else ""}
             for key, r in ((k, rows[k]) for k in result["front"])]
    show_table(console, f"{metric} / latency front ({len(result['front'])} of {len(rows)} files; budget {budget})",
               [("name", "candidate"), ("runtime", "precision"), ("score_ci", f"{metric} [95%]"),
                ("p50_ms", "p50 ms"), ("size_mb", "size MB"), ("macs", "MMACs"), ("budget", "budget"), ("pick", "")],
               cells, drop=("macs", "size_mb"),
               caption=f"{metric}: {cfg['folds']}-fold cross-validated phase-1 head, 95% interval; "
                       f"latency: {result['latency_device']}"
                       + (f"; {unscored} int8 file(s) far from the front not scored" if unscored else ""))
    p = result["pick"]
    console.print(f"[bold]pick:[/] {p['id']}: {metric} {_score(p)}, p50 {p['p50_ms']:.2f} ms, {p['size_mb']:.2f} MB"
                  + (f"; tied with {len(p['tied_with'])} other file(s) inside the best one's interval: the fastest, "
                     "then the smallest, wins" if p["tied_with"] else ""))
    if result.get("plot"):
        console.print(f"plot: {result['plot']}")
    if result.get("train"):
        tr = result["train"]
        console.print(f"trained (--train): {tr['out']}"
                      + (f", test accuracy {tr['test']['accuracy']:.3f}" if (tr.get("test") or {}).get("accuracy")
                         is not None else ""))
    else:
        console.print(f"train it fully:  [bold]{result['run_line']}[/]")
