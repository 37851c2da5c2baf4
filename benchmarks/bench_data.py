"""Beyond RAM (issue 13): streaming input and the disk feature cache on a ~20,000-image set. Prints figures.

1. Generates N JPEGs (random crops and flips of ../shared/data/flower_photos) in 120 class folders
   under a temporary folder (the labels are synthetic: no accuracy figure is drawn from them).
2. Runs `edgetl train` (MobileNetV2 alpha 0.35, ImageNet weights, 224 px; phase 1 = one frozen-base
   feature pass + 3 head epochs on the features; one fine-tune epoch) in a child process per run, and reads each child's peak RSS from the kernel:
   - stream, first run (empty feature cache), then the same command again (the cache is reused);
   - on a subset that fits in memory (--subset-per-class images per class): the in-memory path
     beside the streaming path, same command otherwise.
3. Quantizes the second run to int8 (`edgetl quantize RUN --mode int8`: calibration images, the parity
   gate's validation sample and the whole test split read from the files, as training streamed them) in
   a child process, and prints its wall time and peak RSS.
4. Prints peak RSS (bound: 2.5 GB), images/s of the frozen-base feature pass, of the head epochs on
   cached features and of fine-tuning, the phase-1 speed-up of cached features over recomputing the
   frozen base each epoch, and the wall time of both runs.

    nice -n 5 python benchmarks/bench_data.py                 # 20,000 images (CPU heavy: ~30-60 min on 2 cores)
    python benchmarks/bench_data.py --images 600 --subset-per-class 3    # a quick check
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
PHOTOS = SHARED / "data" / "flower_photos"
WEIGHTS = SHARED / "weights" / "imagenet"
RSS_BOUND_GB = 2.5
# Phase 1 = one pass of the frozen base (the features) + head epochs on them. Three head epochs (cheap) so that
# a steady-state head epoch, free of Keras' first-epoch tracing, can be timed.
HEAD_EPOCHS = 3


# ---- the data set ------------------------------------------------------------------------------

def _make_one(job) -> None:
    src, dest, seed = job
    from PIL import Image, ImageOps

    rng = random.Random(seed)
    with Image.open(src) as im:
        im = im.convert("RGB")
        w, h = im.size
        s = rng.uniform(0.55, 1.0)
        cw, ch = max(32, int(w * s)), max(32, int(h * s))
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        im = im.crop((x, y, x + cw, y + ch))
        if rng.random() < 0.5:
            im = ImageOps.mirror(im)
        im.save(dest, "JPEG", quality=rng.randint(80, 95))


def generate(dest: Path, n: int, classes: int, seed: int = 0) -> float:
    srcs = sorted(p for p in PHOTOS.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    rng = random.Random(seed)
    jobs = []
    for c in range(classes):
        (dest / f"c{c:03d}").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        c = i % classes
        jobs.append((str(rng.choice(srcs)), str(dest / f"c{c:03d}" / f"img{i:06d}.jpg"), seed * 1_000_003 + i))
    t = time.perf_counter()
    with ProcessPoolExecutor(max_workers=2) as ex:
        list(ex.map(_make_one, jobs, chunksize=64))
    return time.perf_counter() - t


# ---- one measured training run ---------------------------------------------------------------------

def run_train(data: Path, out: Path, cache: Path, pipeline: str, limit=None, batch: int = 32) -> dict:
    """`edgetl train` in a child process: (metrics, wall seconds, peak RSS of the child in GB)."""
    cmd = [sys.executable, "-m", "edgetl", "train", "--data", str(data), "--weights-dir", str(WEIGHTS),
           "--backbone", "mobilenet_v2", "--alpha", "0.35", "--input-size", "224", "--epochs", str(HEAD_EPOCHS),
           "--fine-tune-epochs", "1", "--batch-size", str(batch), "--input-pipeline", pipeline,
           "--cache-dir", str(cache), "--out", str(out), "--json"]
    if limit:
        cmd += ["--limit-images", str(limit)]
    metrics, wall, rss = run_child(cmd, out.parent / out.name, "training")
    history = json.loads((out / "history.json").read_text())
    return {"metrics": metrics, "history": history, "wall_s": wall, "peak_rss_gb": rss}


def run_child(cmd: list, log: Path, what: str):
    """``cmd`` (an edgetl command with --json) in a child process, stdout/stderr in LOG.stdout/.stderr:
    (its JSON, wall seconds, the child's peak RSS in GB read from the kernel). Exits naming ``what`` if it fails."""
    t = time.perf_counter()
    with open(f"{log}.stdout", "wb") as so, open(f"{log}.stderr", "wb") as se:
        proc = subprocess.Popen(cmd, stdout=so, stderr=se, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{what} failed ({' '.join(cmd)}):\n" + Path(f"{log}.stderr").read_text()[-3000:])
    return json.loads(Path(f"{log}.stdout").read_text()), wall, usage.ru_maxrss / 1024 ** 2


def run_quantize(run: Path) -> dict:
    """`edgetl quantize RUN --mode int8 --json` in a child process: (record, wall seconds, peak RSS in GB)."""
    # The labels are synthetic (crops of random photos), so the model's outputs are nearly flat and top-1 agreement
    # says little: the gate is measured and printed, not enforced (--min-agreement int8=0).
    cmd = [sys.executable, "-m", "edgetl", "quantize", str(run), "--mode", "int8", "--min-agreement", "int8=0", "--json"]
    records, wall, rss = run_child(cmd, run.parent / "quantize", "quantize")
    return {"record": records[0], "wall_s": wall, "peak_rss_gb": rss}


def rates(r: dict) -> dict:
    """images/s of each phase, from the run's own history (timed inside the run)."""
    d, h1, h2 = r["metrics"]["data"], r["history"]["phase1"], r["history"].get("phase2", {})
    n_train, n_val = d["train"], d["val"]
    out = {"n_train": n_train, "n_val": n_val, "reused": h1.get("feature_cache_reused")}
    # a reused cache is read, not computed: no feature rate then
    out["features_img_s"] = (n_train + n_val) / h1["cache_seconds"] if h1.get("cache_seconds") and not out["reused"] else None
    ep = h1.get("head_epoch_seconds") or []
    steady = sorted(ep[1:])[len(ep[1:]) // 2] if len(ep) > 1 else (ep[0] if ep else None)
    out["head_img_s"] = n_train / steady if steady else None  # one head epoch (train + validation on features)
    out["head_s"] = h1.get("head_seconds")  # the whole head fit on cached features (epochs, or a solver)
    out["head_solver"] = h1.get("head_solver", "Adam epochs")
    out["head_passes"] = h1.get("head_passes")  # passes the solver made over the training features
    out["phase1_s"] = h1.get("seconds")
    out["finetune_img_s"] = n_train * h2["epochs_run"] / h2["seconds"] if h2.get("seconds") else None
    return out


def print_run(name: str, res: dict) -> None:
    r = rates(res)
    print(f"{name}: wall {res['wall_s']:.0f} s, peak RSS {res['peak_rss_gb']:.2f} GB, features "
          f"{fmt(r['features_img_s'])} img/s, head ({r['head_solver']}) {fmt(r['head_s'])} s"
          f"{'' if r['head_img_s'] is None else ' = ' + fmt(r['head_img_s'], '.0f') + ' img/s an epoch'}, fine-tune "
          f"{fmt(r['finetune_img_s'])} img/s, phase 1 {fmt(r['phase1_s'])} s, cache "
          f"{'reused' if r['reused'] else 'written'}", flush=True)


def fmt(v, spec=".1f"):
    return "-" if v is None else format(v, spec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=20000, help="images to generate (default 20,000)")
    ap.add_argument("--classes", type=int, default=120)
    ap.add_argument("--subset-per-class", type=int, default=20,
                    help="images per class of the in-memory vs streaming comparison (default 20: 2,400 images)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--workdir", default=None, help="where to generate (default: a new temporary folder, removed after)")
    ap.add_argument("--keep", action="store_true", help="keep the generated images and runs")
    ap.add_argument("--skip-subset", action="store_true", help="skip the in-memory vs streaming comparison")
    ap.add_argument("--skip-quantize", action="store_true", help="skip int8 quantization of the second run")
    args = ap.parse_args()
    for need in (PHOTOS, WEIGHTS / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"):
        if not need.exists():
            sys.exit(f"SKIP: {need} is absent (../shared beside the project, see shared/README.md)")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="edgetl-bench-data-"))
    work.mkdir(parents=True, exist_ok=True)
    data, cache, runs = work / "data", work / "cache", work / "runs"
    runs.mkdir(exist_ok=True)
    try:
        if not (data / ".complete").exists():
            gen_s = generate(data, args.images, args.classes)
            (data / ".complete").write_text(str(args.images))
            print(f"generated {args.images} JPEGs in {args.classes} classes under {data} in {gen_s:.0f} s", flush=True)
        first = run_train(data, runs / "stream1", cache, "stream", batch=args.batch_size)
        print_run("first run (stream, cache written)", first)
        second = run_train(data, runs / "stream2", cache, "stream", batch=args.batch_size)
        print_run("second run (stream, same command)", second)
        quant = None
        if not args.skip_quantize:
            quant = run_quantize(runs / "stream2")
            rec = quant["record"]
            print(f"quantize int8 of the second run: wall {quant['wall_s']:.0f} s, peak RSS {quant['peak_rss_gb']:.2f} GB, "
                  f"gate {rec.get('gate')} on {rec.get('parity_images')} val images (agreement {fmt(rec.get('agreement'), '.3f')}), "
                  f"test images {rec.get('accuracy_n')}", flush=True)
        sub = {}
        if not args.skip_subset:
            for pipe in ("memory", "stream"):
                sub[pipe] = run_train(data, runs / f"subset_{pipe}", work / f"cache_subset_{pipe}", pipe,
                                      limit=args.subset_per_class, batch=args.batch_size)
                print_run(f"subset, {pipe} path", sub[pipe])
        report(args, first, second, sub, quant)
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


def report(args, first, second, sub, quant=None) -> None:
    r1, r2 = rates(first), rates(second)
    n = r1["n_train"] + r1["n_val"] + first["metrics"]["data"]["test"]
    print()
    print(f"bench_data: {n} images ({args.classes} classes), MobileNetV2 alpha 0.35, 224 px, batch {args.batch_size}, "
          f"phase 1 = feature pass + head fit (--epochs {HEAD_EPOCHS} if by epochs), 1 fine-tune epoch, cpu count {os.cpu_count()}, "
          f"load average at the end {os.getloadavg()[0]:.1f}")
    print(f"in-memory path would hold {n * 224 * 224 * 3 / 1e9:.2f} GB of uint8 pixels for the images alone")
    rows = [("run", "pipeline", "images", "peak RSS GB", "features img/s", "head s", "fine-tune img/s",
             "phase 1 s", "wall s", "cache")]
    def row(name, pipe, res, r):
        rows.append((name, pipe, str(r["n_train"] + r["n_val"] + res["metrics"]["data"]["test"]),
                     f"{res['peak_rss_gb']:.2f}", fmt(r["features_img_s"]), fmt(r["head_s"]),
                     fmt(r["finetune_img_s"]), fmt(r["phase1_s"]), f"{res['wall_s']:.0f}",
                     "reused" if r["reused"] else "written"))
    row("first", "stream", first, r1)
    row("second", "stream", second, r2)
    for pipe, res in sub.items():
        row("subset", pipe, res, rates(res))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
    peak = max([first["peak_rss_gb"], second["peak_rss_gb"]] + ([quant["peak_rss_gb"]] if quant else []))
    print(f"peak RSS of the full runs{' and of quantize' if quant else ''}: {peak:.2f} GB ({'within' if peak <= RSS_BOUND_GB else 'OVER'} the "
          f"{RSS_BOUND_GB} GB bound)")
    if r1["head_img_s"] and r1["features_img_s"]:
        # Without the cache every phase-1 epoch pushes each image through the frozen base: at best the feature rate.
        print(f"phase-1 epoch speed-up of cached features over recomputing the frozen base: "
              f"{r1['head_img_s'] / r1['features_img_s']:.0f}x (a head epoch on cached features {r1['head_img_s']:.0f} "
              f"img/s vs a frozen-base pass, the least an uncached epoch costs, {r1['features_img_s']:.1f} img/s)")
    elif r1["head_s"] and r1["features_img_s"]:
        feat_s = (r1["n_train"] + r1["n_val"]) / r1["features_img_s"]
        print(f"phase 1: one frozen-base pass over train+val {feat_s:.1f} s; the whole head fit on the cached features "
              f"({r1['head_solver']}) {r1['head_s']:.1f} s.")
        if r1["head_passes"] and r1["phase1_s"]:
            # Without the cache each of the solver's passes over the training set is a frozen-base pass over it.
            uncached = r1["head_passes"] * r1["n_train"] / r1["features_img_s"]
            print(f"phase-1 speed-up of cached features over recomputing the frozen base: {uncached / r1['phase1_s']:.0f}x "
                  f"(the solver made {r1['head_passes']} passes over the {r1['n_train']} training features; uncached, "
                  f"each is a frozen-base pass: {uncached:.0f} s, vs phase 1 with the cache {r1['phase1_s']:.1f} s)")
    if r1["phase1_s"] and r2["phase1_s"]:
        print(f"phase 1 of the second run (cache reused): {r2['phase1_s']:.1f} s vs {r1['phase1_s']:.1f} s "
              f"({r1['phase1_s'] / r2['phase1_s']:.0f}x); wall {second['wall_s']:.0f} s vs {first['wall_s']:.0f} s")
    if sub:
        a, b = rates(sub["memory"]), rates(sub["stream"])
        ta, tb = sub["memory"]["metrics"]["test"]["accuracy"], sub["stream"]["metrics"]["test"]["accuracy"]
        print(f"subset: memory vs stream fine-tune {fmt(a['finetune_img_s'])} vs {fmt(b['finetune_img_s'])} img/s, "
              f"features {fmt(a['features_img_s'])} vs {fmt(b['features_img_s'])} img/s, wall "
              f"{sub['memory']['wall_s']:.0f} vs {sub['stream']['wall_s']:.0f} s; same split "
              f"{sub['memory']['metrics']['data']['data_hash'] == sub['stream']['metrics']['data']['data_hash']}, "
              f"test accuracy {ta:.4f} vs {tb:.4f} (synthetic labels: equality, not quality)")


if __name__ == "__main__":
    main()
