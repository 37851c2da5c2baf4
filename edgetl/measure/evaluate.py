"""`edgetl evaluate` and `edgetl predict`: a trained model on other data, through the runtime layer.

Every artifact is opened with ``runtime.open_artifact`` and fed through its own contract (size,
normalisation, quantization, labels, binary decision); metrics come from ``edgetl.metrics``,
the definition metrics.json uses.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from edgetl.data.images import IMAGE_EXTENSIONS, UnreadableImage, load_image
from edgetl.data.stream import skip_reason
from edgetl.errors import EdgetlError
from edgetl.metrics import classification_metrics, decide
from edgetl.runtime.runners import top_k
from edgetl.runtime.registry import open_artifact

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


@dataclass
class Selection:
    """The labelled images a command scores: files of a folder layout, or the pixels of a built-in source."""
    classes: list  # the data's class names; items/labels index into them
    split: str  # "train" | "val" | "test" | "all"
    images_from: str  # in words, for the output
    layout: str
    own: bool  # the run's own data, split as the run split it
    items: list = field(default_factory=list)  # [(file, class index)] (folder layouts)
    pixels: Optional[np.ndarray] = None  # uint8 (N, H, W, 3) at the model's size (built-in sources)
    labels: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return len(self.items) if self.pixels is None else len(self.pixels)


def is_builtin(data) -> bool:
    from edgetl.data.types import DIGITS

    return str(data) == DIGITS or str(data).startswith("tfds:")


def run_data(target) -> Optional[str]:
    """The data source a run (or an artifact inside one) was trained on, from its manifest; None if unknown."""
    return _run_data_options(run_dir_of(target)).get("source")


def select_images(target, data, size: int, labels_csv: Optional[str] = None, split: str = "auto") -> Selection:
    """The images of ``data`` to score ``target`` on. ``auto``: the run's own test split when ``data`` is the data
    the run was trained on (same split options), the test/ (or val/) folder of a split layout, else every image
    (a built-in source: its test split)."""
    if split not in SPLIT_CHOICES:
        raise EdgetlError(f"--split must be one of {', '.join(SPLIT_CHOICES)}, got '{split}'")
    opts = _run_data_options(run_dir_of(target))
    if is_builtin(data):
        return _select_builtin(str(data), size, opts, split)
    from edgetl.data.layouts import resolve_layout

    if not Path(data).expanduser().is_dir():
        raise EdgetlError(f"--data {data} is not a folder; pass a folder in one of the layouts of docs/data.md, "
                          "or digits")
    own = bool(opts) and _same_path(opts.get("source"), data) and _same_path(opts.get("labels_csv"), labels_csv)
    kw = {k: opts[k] for k in ("val_ratio", "test_ratio", "seed", "limit_per_class") if own and k in opts}
    layout = resolve_layout(data, labels_csv, check_leakage=False, **kw)
    if split == "auto":
        split = "test" if own or layout.kind == "split-folders" else "all"
    names = ("train", "val", "test") if split == "all" else (split,)
    items = [it for name in names for it in layout.splits.get(name, [])]
    if split == "all" and layout.kind == "split-folders":
        items = sorted(set(items))  # the carved val split is a part of train
    if not items:
        raise EdgetlError(f"--data {data} has no image in split '{split}'; pass --split all")
    words = {"test": layout.test_from, "val": layout.val_from, "all": f"every image of {data}",
             "train": "the training part (what is left after val and test)"}[split]
    return Selection(list(layout.class_names), split, words, layout.kind, own, items=items)


def _select_builtin(source: str, size: int, run_opts: dict, split: str) -> Selection:
    from edgetl.data.sources import load_splits
    from edgetl.data.types import DataOptions

    own = run_opts.get("source") == source
    kw = {k: run_opts[k] for k in ("val_ratio", "test_ratio", "seed", "limit_per_class") if own and k in run_opts}
    splits = load_splits(DataOptions(source=source, **kw), size)
    split = "test" if split == "auto" else split
    parts = [getattr(splits, n) for n in (("train", "val", "test") if split == "all" else (split,))]
    how = "the run's" if own else f"{source}'s (seed {kw.get('seed', DataOptions.seed)})"
    words = f"every image of {source}" if split == "all" else f"{how} {split} split"
    return Selection(list(splits.class_names), split, words, "builtin", own,
                     pixels=np.concatenate([p.images for p in parts]), labels=np.concatenate([p.labels for p in parts]))


def batches(sel: Selection, height: int, width: int, chunk: int = _CHUNK):
    """(uint8 pixels, class indices of ``sel.classes``, skipped [(file, reason)]) ``chunk`` images at a time:
    memory stays bounded however large the folder."""
    if sel.pixels is not None:
        for i in range(0, len(sel.pixels), chunk):
            yield sel.pixels[i:i + chunk], sel.labels[i:i + chunk], []
        return
    for i in range(0, len(sel.items), chunk):
        pixels, ys, skipped = [], [], []
        for f, ci in sel.items[i:i + chunk]:
            try:
                pixels.append(load_image(f, height, width))
                ys.append(ci)
            except UnreadableImage as e:
                skipped.append((str(f), skip_reason(e)))
        yield (np.stack(pixels) if pixels else np.zeros((0, height, width, 3), np.uint8)), np.asarray(ys, np.int64), skipped


def evaluate_artifact(target: str | Path, data: Optional[str | Path] = None, labels_csv: Optional[str] = None,
                      threshold: Optional[float] = None, split: str = "auto", threads: Optional[int] = None,
                      progress=None) -> dict:
    """Metrics of a run or artifact on the labelled images of ``data`` (any layout of ``data.layouts``, or a
    built-in source such as ``digits``); without ``data``, the data the run was trained on (its test split)."""
    if split not in SPLIT_CHOICES:
        raise EdgetlError(f"--split must be one of {', '.join(SPLIT_CHOICES)}, got '{split}'")
    if data is None:
        data = run_data(target)
        if data is None:
            raise EdgetlError(f"{target} is not in a run folder with a manifest naming its data; pass --data DIR")
        if not is_builtin(data) and not Path(data).expanduser().is_dir():
            raise EdgetlError(f"the data {target} was trained on, {data}, is not there any more; pass --data DIR")
    elif not is_builtin(data) and not Path(data).expanduser().is_dir():
        raise EdgetlError(f"--data {data} is not a folder; pass a folder in one of the layouts of docs/data.md, "
                          "or digits")
    runner = open_artifact(target, threads=threads)
    contract = runner.contract
    pos, t = decision_of(contract, threshold)
    sel = select_images(target, data, contract.height, labels_csv, split)
    mapping = _label_index(sel.classes, list(contract.labels), data)
    probs, truth, skipped = predict_items(runner, sel, mapping, progress)
    if not len(truth):
        raise EdgetlError(f"--data {data} has no readable image ({len(skipped)} skipped); add .jpg/.png images")
    m = classification_metrics(probs, truth, list(contract.labels), pos, t)
    m.update({
        "artifact": str(target), "kind": contract.artifact, "runtime": runner.runtime, "data": str(data),
        "labels_csv": labels_csv, "layout": sel.layout, "split": sel.split, "images_from": sel.images_from,
        "same_split_as_run": sel.own and sel.split in ("train", "val", "test"),
        "skipped": len(skipped), "skipped_files": [f"{f}: {r}" for f, r in skipped[:20]],
    })
    return m


def _label_index(classes: list, labels: list, data) -> dict:
    unknown = [c for c in classes if c not in labels]
    if unknown:
        raise EdgetlError(f"--data {data} has class(es) {unknown[:5]} that the model does not know (its labels: "
                          f"{labels[:8]}{' ...' if len(labels) > 8 else ''}); evaluate on data with the model's classes")
    return {i: labels.index(c) for i, c in enumerate(classes)}


def predict_items(runner, sel: Selection, mapping: dict, progress=None):
    """(probabilities, label indices of the model, skipped) of the selected images, at the contract's size."""
    c = runner.contract
    probs, truth, skipped = [], [], []
    task = progress.add_task("evaluating", total=len(sel)) if progress else None
    for pixels, ys, bad in batches(sel, c.height, c.width):
        skipped += bad
        if len(pixels):
            probs.append(runner.predict(pixels))
            truth += [mapping[int(y)] for y in ys]
        if task is not None:
            progress.advance(task, len(pixels) + len(bad))
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
