"""`edgetl search` on ../shared/data/flower_photos: phase wall times, the front and the pick per budget.

Runs the search with a cold feature cache (a fresh folder), then again with that cache warm into a new
--out (features reused; CV, conversion and benchmark redone), and prints for each: the wall time of
each phase (features, cv, convert, benchmark), the Pareto front, and the pick for budgets of 2, 5 and
10 ms (the picks reuse the scored search: only the rule runs). Prints the host line with every figure.
Goals (issue 21): the default search <= 15 min cold and <= 3 min warm on 2 cores.

    python benchmarks/bench_search.py [--sizes 96,128,160,192,224] [--backbones ...] [--alphas ...] [--folds 5]
                                      [--no-warm] [--out /tmp/bench_search] [--cache-dir DIR]
    python benchmarks/bench_search.py --data ../shared/data/chest_xray_kaggle224 --target-recall 0.95
    python benchmarks/bench_search.py --warm-only --cache-dir DIR --train [--train-budget 5]

--train: the pick within --train-budget ms is trained fully by the pipeline (`edgetl search --train`), and
the --recipes are trained on the same data and split (seed 42: the search's test images are held out of its
cross-validation), quantized to float32 + int8 only (no ONNX, no Android export: only what is compared).
Prints each one's test accuracy with its interval, the shipped file's p50 on this host, and the pick's
cross-validated estimate beside its test accuracy. Goal (issue 21): the pick's test accuracy is at least
that of the recipe closest to it in latency.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
DATA = SHARED / "data" / "flower_photos"
WEIGHTS = SHARED / "weights" / "imagenet"


def _list(kind):
    return lambda s: [kind(x) for x in s.split(",") if x]


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def run(label: str, out: Path, cache: Path, args) -> dict:
    from edgetl.choose.run import search
    from edgetl.config.stages import SearchConfig

    cfg = SearchConfig(data=str(args.data), weights_dir=str(WEIGHTS), download=False, budget_ms=10.0,
                       backbones=args.backbones, alphas=args.alphas, sizes=args.sizes, folds=args.folds,
                       target_recall=args.target_recall, cache_dir=str(cache), out=str(out))
    load0 = _load()
    t0 = time.perf_counter()
    res = search(cfg, log=lambda m: print("  " + m, file=sys.stderr, flush=True))
    wall = time.perf_counter() - t0
    ph = res["phases_seconds"]
    print(f"{label}: {wall:.0f} s wall ({wall / 60:.1f} min; load average before {load0}, after "
          f"{_load()}) for {len(res['candidates'])} files "
          f"({len(res['candidates']) // 2} candidates x float32/int8); phases: "
          + ", ".join(f"{k} {v:.0f} s" for k, v in ph.items()))
    return res


def _shipped(run: Path, summary: dict, precision: str) -> dict:
    """The ``precision`` TFLite file's test accuracy (Wilson 95%; its quantize record, scored on the run's test split)
    and its 1-thread p50 (the run's benchmark)."""
    from edgetl.metrics import wilson_interval

    name = f"model_{precision}.tflite"
    res = summary.get("results", {})
    q = [r for r in (res.get("quantize") or {}).get("artifacts", []) if r.get("file") == name]
    b = [r for r in (res.get("benchmark") or {}).get("results", [])
         if Path(r.get("artifact", "")).name == name and r.get("threads") == 1]
    if not q or q[0].get("accuracy") is None or not b:
        return {"file": name, "missing": True}
    n = q[0]["accuracy_n"]
    lo, hi = wilson_interval(round(q[0]["accuracy"] * n), n)
    return {"file": name, "accuracy": q[0]["accuracy"], "n": n, "low": lo, "high": hi, "p50_ms": b[0]["p50_ms"]}


def train_and_compare(args, out: Path, cache: Path) -> None:
    from edgetl.choose.run import search
    from edgetl.config.stages import SearchConfig
    from edgetl.pipeline.recipes import load_recipe
    from edgetl.pipeline.runner import run_pipeline

    cfg = SearchConfig(data=str(args.data), weights_dir=str(WEIGHTS), download=False, budget_ms=args.train_budget,
                       backbones=args.backbones, alphas=args.alphas, sizes=args.sizes, folds=args.folds,
                       target_recall=args.target_recall, cache_dir=str(cache), out=str(out), train=True)
    t0 = time.perf_counter()
    res = search(cfg, log=lambda m: print("  " + m, file=sys.stderr, flush=True))
    pick = res["pick"]
    run = Path(res["train"]["out"])
    rows = [(f"search pick {pick['id']}", _shipped(run, _summary(run), pick["precision"]), pick,
             time.perf_counter() - t0)]
    for spec in args.recipes:
        name, _, wdir = spec.partition("=")
        recipe, source = load_recipe(name)
        recipe = {**recipe, "data": str(args.data), "weights_dir": str(Path(wdir or WEIGHTS).resolve()),
                  "quantize": ["float32", "int8"], "convert": [], "threads": [1], "android": False}
        t0 = time.perf_counter()
        summary = run_pipeline(recipe, out / "recipes" / name, recipe_source=source,
                               log=lambda m, n=name: print(f"  [{n}] {m}", file=sys.stderr, flush=True))
        rows.append((f"recipe {name}", _shipped(out / "recipes" / name, summary, "int8"), None,
                     time.perf_counter() - t0))
    print(f"\n--train (budget {args.train_budget:g} ms): test accuracy on the held-out test split of seed 42 "
          "(95% Wilson interval), int8 TFLite, p50 on this host, 1 thread")
    print(f"{'model':<44}{'test accuracy [95%]':<26}{'p50 ms':>8}{'CV estimate [95%]':>26}{'wall':>8}")
    for label, f, cv, wall in rows:
        acc = ("-" if f.get("missing") else f"{f['accuracy']:.3f} [{f['low']:.3f}, {f['high']:.3f}] n={f['n']}")
        est = f"{cv['score']:.3f} [{cv['low']:.3f}, {cv['high']:.3f}]" if cv else ""
        p50 = "-" if f.get("missing") else f"{f['p50_ms']:.2f}"
        print(f"{label:<44}{acc:<26}{p50:>8}{est:>26}{wall / 60:>6.1f} m")
    measured = [(label, f) for label, f, _, _ in rows[1:] if not f.get("missing")]
    if measured and not rows[0][1].get("missing"):
        near_label, near = min(measured, key=lambda lf: abs(lf[1]["p50_ms"] - rows[0][1]["p50_ms"]))
        ok = rows[0][1]["accuracy"] >= near["accuracy"]
        print(f"closest recipe in latency: {near_label} ({near['p50_ms']:.2f} ms); the pick's test accuracy is "
              + ("at least" if ok else "BELOW") + f" its ({rows[0][1]['accuracy']:.3f} vs {near['accuracy']:.3f})")


def _summary(run: Path) -> dict:
    import json

    return json.loads((run / "summary.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--sizes", type=_list(int), default=[96, 128, 160, 192, 224])
    ap.add_argument("--backbones", type=_list(str), default=[])
    ap.add_argument("--alphas", type=_list(float), default=[])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--target-recall", type=float, help="two classes: rank by precision at this recall (else AUC), "
                    "e.g. --data ../shared/data/chest_xray_kaggle224 --target-recall 0.95")
    ap.add_argument("--no-warm", action="store_true")
    ap.add_argument("--warm-only", action="store_true", help="only the warm run, on the feature cache --cache-dir "
                    "(or OUT/cache) a cold run filled")
    ap.add_argument("--train", action="store_true", help="train the pick and the --recipes, and compare them")
    ap.add_argument("--train-budget", type=float, default=5.0, help="--train: the budget (ms) whose pick is trained")
    ap.add_argument("--recipes", type=_list(str), help="--train: NAME[=WEIGHTS_DIR],... (default: flowers_mobilenet_v2 "
                    "and the most accurate, flowers_fused, on its dequantized weights)",
                    default=["flowers_mobilenet_v2", f"flowers_fused={SHARED / 'weights' / 'imagenet-dequantized'}"])
    ap.add_argument("--out", default="/tmp/bench_search")
    ap.add_argument("--cache-dir", help="feature cache folder (default OUT/cache, emptied first: a cold start)")
    args = ap.parse_args()
    if not Path(args.data).is_dir():
        sys.exit(f"{args.data} is absent: real data lives in ../shared beside the project")
    from edgetl.measure.front import pick
    from edgetl.errors import EdgetlError
    from edgetl.measure import sysinfo

    out = Path(args.out)
    for sub in ("warm",) if args.warm_only else ("cold", "warm"):
        shutil.rmtree(out / sub, ignore_errors=True)
    print("host:", sysinfo.one_line(sysinfo.collect()))
    print(f"data: {args.data}; sizes {args.sizes}; backbones {args.backbones or 'all with local weights'}; "
          f"alphas {args.alphas or 'all'}; {args.folds} folds")
    cache = Path(args.cache_dir) if args.cache_dir else out / "cache"
    if not args.warm_only:
        shutil.rmtree(cache, ignore_errors=True)
        res = run("cold cache", out / "cold", cache, args)
    if args.warm_only or not args.no_warm:
        res = run("warm cache", out / "warm", cache, args)
    rows = {r["key"]: r for r in res["candidates"]}
    metric = res["metric"]
    unscored = sum(1 for r in rows.values() if r["score"] is None)
    print(f"\nfront ({metric}: {args.folds}-fold CV, 95% interval; p50 on this host, 1 thread; "
          f"{unscored} int8 files far from the front not scored):")
    print(f"{'candidate':<26}{'precision':<10}{metric + ' [95%]':<24}{'p50 ms':>8}{'MB':>7}{'MMACs':>8}")
    for k in res["front"]:
        r = rows[k]
        print(f"{r['candidate']:<26}{r['precision']:<10}{r['score']:.3f} [{r['low']:.3f}, {r['high']:.3f}]    "
              f"{r['p50_ms']:>8.2f}{r['size_mb']:>7.2f}{(r['macs'] or 0) / 1e6:>8.1f}")
    scored = [r for r in rows.values() if r["score"] is not None]
    for budget in (2.0, 5.0, 10.0):
        try:
            p, tied = pick(scored, budget)
            best = max((r for r in scored if r["p50_ms"] <= budget), key=lambda r: r["score"])
            print(f"budget {budget:g} ms: pick {p['id']} {p['score']:.3f} [{p['low']:.3f}, {p['high']:.3f}] "
                  f"p50 {p['p50_ms']:.2f} ms {p['size_mb']:.2f} MB; best within budget {best['id']} "
                  f"{best['score']:.3f} [{best['low']:.3f}, {best['high']:.3f}]; {len(tied)} tied")
        except EdgetlError as e:
            print(f"budget {budget:g} ms: {e}")
    print(f"plot: {res.get('plot')}")
    if args.train:
        train_and_compare(args, out / ("warm" if args.warm_only or not args.no_warm else "cold"), cache)


if __name__ == "__main__":
    main()
