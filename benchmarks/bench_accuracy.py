"""edgetl's test accuracy beside the simplest honest baseline (issue 10). Prints figures; asserts nothing.

For each shared dataset (../shared/data): `edgetl train` with its defaults writes a run; then the
same frozen ImageNet features (the run's backbone and weights, global average pooling, the run's
own preprocessing contract) are computed for the run's own train/val/test split, and a
scikit-learn LogisticRegression (default C=1, L2) is fitted on the train split's features. Both are
scored on the same test images. A second baseline column fits the same regression on train + val
(edgetl uses val only for early stopping and to choose between phase 1 and phase 2).

    python benchmarks/bench_accuracy.py                          # MobileNet v1 1.0, imagenet-dequantized
    python benchmarks/bench_accuracy.py --backbone mobilenet_v2 --alpha 0.35 --weights-dir ../shared/weights/imagenet
    python benchmarks/bench_accuracy.py --datasets flower_photos --seeds 42,0,1
    python benchmarks/bench_accuracy.py --quick                  # 30 images per class, 1 fine-tuning epoch
    python benchmarks/bench_accuracy.py --use-run flower_photos=runs/flowers_mobilenet_v1   # a recipe's run
    python benchmarks/bench_accuracy.py --recipe flowers_mobilenet_v1 --datasets flower_photos --seeds 0,1,2,3,4
        # the recipe's own training flags (backbone, width, size, epochs, ...) at each split seed
    python benchmarks/bench_accuracy.py --recipe flowers_fused --datasets flower_photos --seeds 0,1,2,3,4 --int8
        # also `edgetl quantize RUN --mode int8` with its defaults (fast int8, --max-drop 1.0) at each seed:
        # the int8 file's test accuracy beside the Keras model's, on the same test images
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import numpy as np

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without `pip install -e .`, as the other scripts
SHARED = ROOT.parent / "shared"
DATASETS = ("flower_photos", "plantvillage_apple", "chest_xray_kaggle224")


def frozen_features(run: Path, sets: dict) -> dict:
    """Pooled features of the run's backbone with its ImageNet weights (not the fine-tuned ones)."""
    from edgetl import _tf
    from edgetl.backbones.registry import build_base, get_backbone
    from edgetl.backbones.weights import resolve_weights
    from edgetl.rundir import RunDir
    from edgetl.data.access import make_dataset

    rd = RunDir(run)
    c, cfg = rd.contract(), rd.manifest()["config"]
    spec = get_backbone(cfg["backbone"])
    w = resolve_weights(spec, cfg["alpha"], cfg["input_size"], cfg["weights"], cfg["weights_dir"])
    keras = _tf.keras()
    base = build_base(spec, cfg["input_size"], cfg["alpha"], w.path)
    model = keras.Model(base.input, keras.layers.GlobalAveragePooling2D()(base.output))
    return {name: model.predict(make_dataset(s.images, s.labels, c, 32), verbose=0) for name, s in sets.items()}


def baseline(feats: dict, sets: dict, n_classes: int) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    out = {}
    for name, fit_on in (("lr_train", ("train",)), ("lr_train_val", ("train", "val"))):
        x = np.concatenate([feats[k] for k in fit_on if len(sets[k])])
        y = np.concatenate([sets[k].labels for k in fit_on if len(sets[k])])
        clf = LogisticRegression(max_iter=5000).fit(x, y)
        out[name] = {"accuracy": float(clf.score(feats["test"], sets["test"].labels))}
        if n_classes == 2:
            out[name]["auc"] = float(roc_auc_score(sets["test"].labels, clf.predict_proba(feats["test"])[:, 1]))
    return out


def one(data: Path, seed: int, a, workdir: Path, run: Optional[str] = None) -> dict:
    """Train (or, with ``run``, take an existing run of ``data``) and set the baseline beside it."""
    from edgetl.fsutil import read_json
    from edgetl.rundir import RunDir
    from edgetl.stages.train import TrainConfig, train

    t = time.perf_counter()
    if run:
        out, r = run, read_json(Path(run) / "metrics.json")
        print(f"    using the existing run {run} (seed {read_json(Path(run) / 'manifest.json')['seed']})", flush=True)
    else:
        kw = dict(limit_per_class=30, fine_tune_epochs=1) if a.quick else {}
        out = str(workdir / f"{data.name}_s{seed}")
        if a.recipe:  # the recipe's own training flags; the data, split seed and weights folder from here
            import dataclasses

            from edgetl.config.params import from_recipe
            from edgetl.pipeline.recipes import load_recipe

            cfg = dataclasses.replace(from_recipe(TrainConfig, load_recipe(a.recipe)[0], out=out), data=str(data),
                                      seed=seed, weights_dir=a.weights_dir, **kw)
        else:
            cfg = TrainConfig(data=str(data), backbone=a.backbone, alpha=a.alpha, input_size=a.input_size,
                              weights="imagenet", weights_dir=a.weights_dir, seed=seed, out=out, **kw)
        r = train(cfg, log=lambda m: print(f"    {m}", flush=True))
        out = cfg.out
    int8 = quantize_int8(out, data) if a.int8 else None
    sets = {k: getattr(RunDir(out).splits(data=str(data)), k) for k in ("train", "val", "test")}
    assert sets["test"].labels.tolist() == _test_labels(r), "baseline split differs from the run's"
    base = baseline(frozen_features(Path(out), sets), sets, len(r["data"]["classes"]))
    seed = read_json(Path(out) / "manifest.json")["seed"]
    model = f"{r['backbone']} a={r['alpha']} {r['input_size']} px, {r['weights_source']}"
    return {"dataset": data.name, "seed": seed, "model": model, "n": {k: len(v) for k, v in sets.items()},
            "edgetl": r["test"]["accuracy"], "edgetl_auc": r["test"].get("auc"), "kept": r["kept_phase"],
            "operating_point": operating_point(r["test"]),
            "val_loss": r["selection"].get("val_loss"), "int8": int8, **base, "seconds": time.perf_counter() - t}


def operating_point(test: dict) -> Optional[dict]:
    """Recall and specificity of the positive class at the run's decision threshold with their Wilson intervals:
    the positive class's recall and the other class's, as metrics.json holds them; None without a threshold."""
    if test.get("threshold") is None or "positive_class" not in test:
        return None
    pos = test["per_class"][test["positive_class"]]
    neg = next(v for k, v in test["per_class"].items() if k != test["positive_class"])
    return {"threshold": test["threshold"], "recall": pos["recall"], "recall_ci": (pos["recall_low"], pos["recall_high"]),
            "specificity": neg["recall"], "specificity_ci": (neg["recall_low"], neg["recall_high"]),
            "positives": pos["support"], "negatives": neg["support"]}


def quantize_int8(run: str, data: Path) -> dict:
    """`edgetl quantize RUN --mode int8` with its defaults; the int8 file's and the Keras model's test accuracy."""
    from edgetl.config.stages import QuantizeConfig
    from edgetl.stages.quantize import quantize_run

    rec = quantize_run(QuantizeConfig(run=run, data=str(data), modes=["int8"]))[0]
    return {"accuracy": rec["accuracy"], "keras": rec["keras_accuracy"], "n": rec["accuracy_n"],
            "mcnemar_p": rec["mcnemar_p"], "gate": rec["gate"]}


def _test_labels(r: dict) -> list:
    """Test labels as the run counted them (from the confusion matrix), to check the baseline's split matches."""
    cm = np.asarray(r["test"]["confusion_matrix"])
    return sorted(np.repeat(np.arange(len(cm)), cm.sum(axis=1)).tolist())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated folder names under ../shared/data")
    ap.add_argument("--backbone", default="mobilenet")
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--input-size", type=int, default=224)
    ap.add_argument("--weights-dir", default=str(SHARED / "weights" / "imagenet-dequantized"))
    ap.add_argument("--seeds", default="42", help="split seeds (comma-separated)")
    ap.add_argument("--recipe", default=None, help="train with this recipe's flags (models/NAME.yaml) instead of "
                    "--backbone/--alpha/--input-size and train's defaults")
    ap.add_argument("--int8", action="store_true", help="also quantize each run to int8 (quantize's defaults) and "
                    "score the int8 file on the same test images")
    ap.add_argument("--quick", action="store_true", help="30 images per class and 1 fine-tuning epoch")
    ap.add_argument("--keep-runs", default=None, help="write the runs here instead of a temporary folder")
    ap.add_argument("--use-run", action="append", default=[], metavar="DATASET=RUN",
                    help="take this finished run of DATASET (e.g. a recipe's) instead of training one")
    a = ap.parse_args()
    use = dict(u.split("=", 1) for u in a.use_run)
    if not (SHARED / "data").is_dir():
        sys.exit(f"skipped: {SHARED / 'data'} absent (see ../shared/README.md)")
    seeds = [int(s) for s in a.seeds.split(",")]
    what = (f"recipe {a.recipe}'s flags" if a.recipe else
            f"{a.backbone} alpha {a.alpha} {a.input_size} px, edgetl train defaults")
    print(f"runs trained here: {what}, weights {a.weights_dir}"
          f"{' (--quick: 30 images/class, 1 fine-tuning epoch)' if a.quick else ''}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_accuracy_") as tmp:
        workdir = Path(a.keep_runs) if a.keep_runs else Path(tmp)
        for name in a.datasets.split(","):
            data = SHARED / "data" / name
            if not data.is_dir():
                print(f"{name}: skipped, {data} absent")
                continue
            for seed in seeds if name not in use else [None]:
                r = one(data, seed, a, workdir, use.get(name))
                rows.append(r)
                auc = (f"  AUC edgetl {r['edgetl_auc']:.3f} LR {r['lr_train']['auc']:.3f}"
                       if r["edgetl_auc"] is not None else "")
                if r["operating_point"]:
                    o = r["operating_point"]
                    auc += (f"  at threshold {o['threshold']:.3f}: recall {o['recall']:.3f} [{o['recall_ci'][0]:.3f}-"
                            f"{o['recall_ci'][1]:.3f}] of {o['positives']}, specificity {o['specificity']:.3f} "
                            f"[{o['specificity_ci'][0]:.3f}-{o['specificity_ci'][1]:.3f}] of {o['negatives']}")
                if r["int8"]:
                    i = r["int8"]
                    auc += (f"  int8 {i['accuracy']:.3f} ({100 * (i['accuracy'] - i['keras']):+.1f} points vs Keras "
                            f"{i['keras']:.3f}, McNemar p {i['mcnemar_p']:.2f}, gate {i['gate']})")
                print(f"{name:22s} seed {r['seed']:3d}  train/val/test {r['n']['train']}/{r['n']['val']}/{r['n']['test']}  "
                      f"edgetl {r['edgetl']:.3f} (kept {r['kept']})  LR(train) {r['lr_train']['accuracy']:.3f}  "
                      f"LR(train+val) {r['lr_train_val']['accuracy']:.3f}  diff {r['edgetl'] - r['lr_train']['accuracy']:+.3f}"
                      f"{auc}  {r['seconds']:.0f} s  [{r['model']}]", flush=True)
    print("\nsummary (mean over seeds)")
    for name in dict.fromkeys(r["dataset"] for r in rows):
        rs = [r for r in rows if r["dataset"] == name]
        e = np.mean([r["edgetl"] for r in rs])
        b = np.mean([r["lr_train"]["accuracy"] for r in rs])
        bv = np.mean([r["lr_train_val"]["accuracy"] for r in rs])
        below = sum(r["edgetl"] < r["lr_train"]["accuracy"] for r in rs)
        sd = np.std([r["edgetl"] for r in rs], ddof=1) if len(rs) > 1 else float("nan")
        print(f"  {name:22s} edgetl {e:.3f} (sd {sd:.3f}; per seed "
              + ", ".join(f"{r['seed']}: {r['edgetl']:.3f}" for r in rs) + f")  LR(train) {b:.3f}  "
              f"LR(train+val) {bv:.3f}  edgetl below LR(train) on {below}/{len(rs)} split(s)")
        if all(r["edgetl_auc"] is not None for r in rs):
            _mean_line("AUC", [r["edgetl_auc"] for r in rs], rs)
        if all(r["operating_point"] for r in rs):
            for key in ("recall", "specificity"):
                _mean_line(f"{key} at the threshold", [r["operating_point"][key] for r in rs], rs)
        if all(r["int8"] for r in rs):
            d = [100 * (r["int8"]["accuracy"] - r["int8"]["keras"]) for r in rs]
            _mean_line("int8", [r["int8"]["accuracy"] for r in rs], rs,
                       f"  int8 - Keras {np.mean(d):+.1f} points mean (per seed " + ", ".join(f"{v:+.1f}" for v in d)
                       + f"; worst {min(d):+.1f})")


def _mean_line(what: str, values: list, rs: list, after: str = "") -> None:
    """One summary line: the mean over seeds, its sd and every seed's value (and ``after``)."""
    sd = np.std(values, ddof=1) if len(values) > 1 else float("nan")
    print(f"  {'':22s} {what} {np.mean(values):.3f} (sd {sd:.3f}; per seed "
          + ", ".join(f"{r['seed']}: {v:.3f}" for r, v in zip(rs, values)) + ")" + after)


if __name__ == "__main__":
    main()
