"""`edgetl evaluate` and `edgetl predict`: a trained model on other data, through the runtime layer.

Every artifact is opened with ``runtime.open_artifact`` and fed through its own contract (size,
normalisation, quantization, labels, binary decision); metrics come from ``edgetl.metrics``,
the definition metrics.json uses.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from edgetl.data.images import IMAGE_EXTENSIONS, UnreadableImage, load_image
from edgetl.data.stream import skip_reason
from edgetl.errors import EdgetlError
from edgetl.metrics import classification_metrics, decide
from edgetl.runtime.runners import open_artifact, top_k

SPLIT_CHOICES = ("auto", "all", "train", "val", "test")
_CHUNK = 64  # images decoded per step: memory stays bounded on big folders


def run_dir_of(target: str | Path) -> Optional[Path]:
    """The run directory of a run or of an artifact inside one (it has manifest.json), else None."""
    from edgetl.rundir import MANIFEST_FILE

    p = Path(target)
    d = p if p.is_dir() else p.parent
    return d if (d / MANIFEST_FILE).is_file() else None


def _run_data_options(run: Optional[Path]) -> dict:
    if run is None:
        return {}
    try:
        return json.loads((run / "manifest.json").read_text(encoding="utf-8"))["data"]["options"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _same_path(a, b) -> bool:
    if not a or not b:
        return not a and not b
    try:
        return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()
    except OSError:
        return False


def check_threshold(threshold: Optional[float], contract) -> None:
    if threshold is None:
        return
    if len(contract.labels) != 2:
        raise EdgetlError(f"--threshold is for two-class models; this one has {len(contract.labels)} classes")
    if not 0 <= threshold <= 1:
        raise EdgetlError(f"--threshold must be a probability in [0, 1], got {threshold}")


def decision_of(contract, threshold: Optional[float]) -> tuple[Optional[int], Optional[float]]:
    """(positive class index, threshold): --threshold overrides the contract's own; binary models only."""
    check_threshold(threshold, contract)
    pos = contract.positive_index()
    t = threshold if threshold is not None else contract.threshold
    if t is not None and pos is None:
        pos = 1
    return pos, t


def evaluate_artifact(target: str | Path, data: str | Path, labels_csv: Optional[str] = None,
                      threshold: Optional[float] = None, split: str = "auto", threads: Optional[int] = None,
                      progress=None) -> dict:
    """Metrics of a run or artifact on the labelled images of ``data`` (any layout of ``data.layouts``)."""
    from edgetl.data.layouts import resolve_layout

    if split not in SPLIT_CHOICES:
        raise EdgetlError(f"--split must be one of {', '.join(SPLIT_CHOICES)}, got '{split}'")
    if not Path(data).expanduser().is_dir():
        raise EdgetlError(f"--data {data} is not a folder; pass a folder in one of the layouts of docs/data.md")
    runner = open_artifact(target, threads=threads)
    contract = runner.contract
    pos, t = decision_of(contract, threshold)
    run = run_dir_of(target)
    opts = _run_data_options(run)
    own = bool(opts) and _same_path(opts.get("source"), data) and _same_path(opts.get("labels_csv"), labels_csv)
    kw = {k: opts[k] for k in ("val_ratio", "test_ratio", "seed", "limit_per_class") if own and k in opts}
    layout = resolve_layout(data, labels_csv, check_leakage=False, **kw)
    mapping = _label_index(layout.class_names, list(contract.labels), data)
    if split == "auto":
        split = "test" if own or layout.kind == "split-folders" else "all"
    names = ("train", "val", "test") if split == "all" else (split,)
    items = [it for name in names for it in layout.splits.get(name, [])]
    if split == "all" and layout.kind == "split-folders":
        items = sorted(set(items))  # the carved val split is a part of train
    if not items:
        raise EdgetlError(f"--data {data} has no image in split '{split}'; pass --split all")
    probs, truth, skipped = predict_items(runner, items, mapping, progress)
    if not len(truth):
        raise EdgetlError(f"--data {data} has no readable image ({len(skipped)} skipped); add .jpg/.png images")
    m = classification_metrics(probs, truth, list(contract.labels), pos, t)
    m.update({
        "artifact": str(target), "kind": contract.artifact, "runtime": runner.runtime, "data": str(data),
        "labels_csv": labels_csv, "layout": layout.kind, "split": split,
        "images_from": {"test": layout.test_from, "val": layout.val_from, "all": f"every image of {data}",
                        "train": "the training part (what is left after val and test)"}[split],
        "same_split_as_run": own and split in ("train", "val", "test"),
        "skipped": len(skipped), "skipped_files": [f"{f}: {r}" for f, r in skipped[:20]],
    })
    return m


def _label_index(classes: list, labels: list, data) -> dict:
    unknown = [c for c in classes if c not in labels]
    if unknown:
        raise EdgetlError(f"--data {data} has class(es) {unknown[:5]} that the model does not know (its labels: "
                          f"{labels[:8]}{' ...' if len(labels) > 8 else ''}); evaluate on data with the model's classes")
    return {i: labels.index(c) for i, c in enumerate(classes)}


def predict_items(runner, items: Sequence, mapping: dict, progress=None):
    """(probabilities, label indices, skipped) of [(file, class index)], decoded in chunks at the contract's size."""
    c = runner.contract
    probs, truth, skipped = [], [], []
    task = progress.add_task("evaluating", total=len(items)) if progress else None
    for i in range(0, len(items), _CHUNK):
        pixels, ys = [], []
        for f, ci in items[i:i + _CHUNK]:
            try:
                pixels.append(load_image(f, c.height, c.width))
                ys.append(mapping[ci])
            except UnreadableImage as e:
                skipped.append((str(f), skip_reason(e)))
        if pixels:
            probs.append(runner.predict(np.stack(pixels)))
            truth += ys
        if task is not None:
            progress.advance(task, len(items[i:i + _CHUNK]))
    p = np.concatenate(probs) if probs else np.zeros((0, len(c.labels)), np.float32)
    return p, np.asarray(truth, np.int64), skipped


def image_files(paths: Sequence[str | Path]) -> list:
    """Files to predict: each named file, and the images under each named folder (loop-safe, sorted)."""
    from edgetl.data.layouts import list_images

    files, ignored = [], []
    for p in map(Path, paths):
        if p.is_dir():
            found = list_images(p, ignored, seen=set())
            if not found:
                raise EdgetlError(f"{p} holds no images ({'/'.join(IMAGE_EXTENSIONS)}); pass image files or folders")
            files += [(f, False) for f in found]
        elif p.is_file():
            files.append((p, True))
        else:
            raise EdgetlError(f"{p} does not exist; pass image files or folders")
    return files


def predict_paths(artifact: str | Path, paths: Sequence[str | Path], k: int = 3, threshold: Optional[float] = None,
                  threads: Optional[int] = None, progress=None) -> dict:
    """Label and score per image (top ``k``), through the artifact's contract and decision."""
    if k < 1:
        raise EdgetlError(f"--top-k must be at least 1, got {k}")
    if not paths:
        raise EdgetlError("pass at least one image file or folder")
    runner = open_artifact(artifact, threads=threads)
    c = runner.contract
    pos, t = decision_of(c, threshold)
    files = image_files(paths)
    # Decode every explicitly named file first: a non-image is refused before anything is printed.
    named = {}
    for f, explicit in files:
        if explicit:
            try:
                named[f] = load_image(f, c.height, c.width)
            except UnreadableImage as e:
                raise EdgetlError(f"{f} is not an image edgetl can read ({str(e).split(': ', 1)[-1][:100]}); "
                                  "pass .jpg/.png/.bmp/.gif files") from e
    results, skipped = [], []
    task = progress.add_task("predicting", total=len(files)) if progress else None
    for i in range(0, len(files), _CHUNK):
        chunk, pixels = [], []
        for f, explicit in files[i:i + _CHUNK]:
            try:
                pixels.append(named[f] if explicit else load_image(f, c.height, c.width))
                chunk.append(f)
            except UnreadableImage as e:
                skipped.append((str(f), skip_reason(e)))
        if pixels:
            probs = runner.predict(np.stack(pixels))
            pred = decide(probs, pos, t)
            for f, p, y in zip(chunk, probs, pred):
                results.append({"file": str(f), "label": c.labels[int(y)], "score": float(p[int(y)]),
                                "top": [{"label": lab, "score": s} for lab, s in top_k(p, c.labels, k)]})
        if task is not None:
            progress.advance(task, len(files[i:i + _CHUNK]))
    return {"artifact": str(artifact), "kind": c.artifact, "runtime": runner.runtime, "labels": list(c.labels),
            "decision": ({"positive_label": c.labels[pos], "threshold": t} if t is not None else None),
            "predictions": results, "skipped": [f"{f}: {r}" for f, r in skipped]}
