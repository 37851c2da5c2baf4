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

from edgetl.config.params import check
from edgetl.config.stages import SPLIT_CHOICES, EvaluateConfig, PredictConfig
from edgetl.data.images import IMAGE_EXTENSIONS, UnreadableImage, load_image
from edgetl.data.stream import skip_reason
from edgetl.errors import EdgetlError
from edgetl.metrics import classification_metrics, decide
from edgetl.runtime.runners import top_k
from edgetl.runtime.registry import open_artifact
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


def decision_of(contract, threshold: Optional[float]) -> tuple[Optional[int], Optional[float]]:
    """(positive class index, threshold): --threshold (its range checked by the config) overrides the contract's
    own; binary models only."""
    if threshold is not None and len(contract.labels) != 2:
        raise EdgetlError(f"--threshold is for two-class models; this one has {len(contract.labels)} classes")
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
    names: list = field(default_factory=list)  # each pixel row's source, e.g. "digits:17" (built-in sources)

    def __len__(self) -> int:
        return len(self.items) if self.pixels is None else len(self.pixels)


def is_builtin(data) -> bool:
    from edgetl.data.types import DIGITS

    return str(data) == DIGITS or str(data).startswith("tfds:")


def run_data(target) -> Optional[str]:
    """The data source a run (or an artifact inside one) was trained on, from its manifest; None if unknown."""
    return _run_data_options(run_dir_of(target)).get("source")


def select_images(target, data, size: int, labels_csv: Optional[str], split: str) -> Selection:
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
                     pixels=np.concatenate([p.images for p in parts]), labels=np.concatenate([p.labels for p in parts]),
                     names=[f for p in parts for f in p.files])


def batches(sel: Selection, height: int, width: int, chunk: int = _CHUNK, with_names: bool = False):
    """(uint8 pixels, class indices of ``sel.classes``, skipped [(file, reason)]) ``chunk`` images at a time:
    memory stays bounded however large the folder. ``with_names``: a fourth item, each image's file or source."""
    if sel.pixels is not None:
        for i in range(0, len(sel.pixels), chunk):
            part = (sel.pixels[i:i + chunk], sel.labels[i:i + chunk], [])
            yield part + ((sel.names[i:i + chunk] or [f"#{j}" for j in range(i, i + len(part[0]))],)
                          if with_names else ())
        return
    for i in range(0, len(sel.items), chunk):
        pixels, ys, skipped, names = [], [], [], []
        for f, ci in sel.items[i:i + chunk]:
            try:
                pixels.append(load_image(f, height, width))
                ys.append(ci)
                names.append(str(f))
            except UnreadableImage as e:
                skipped.append((str(f), skip_reason(e)))
        part = ((np.stack(pixels) if pixels else np.zeros((0, height, width, 3), np.uint8)), np.asarray(ys, np.int64),
                skipped)
        yield part + ((names,) if with_names else ())


def resolve_data(target, data) -> str:
    """The labelled data evaluate and predict score: ``data`` (a folder, or a built-in source such as digits), else
    the data the run (or the artifact's run) was trained on. One line naming the fix when it is not there."""
    if data is None:
        data = run_data(target)
        if data is None:
            raise EdgetlError(f"{target} is not in a run folder with a manifest naming its data; pass --data DIR")
        if not is_builtin(data) and not Path(data).expanduser().is_dir():
            raise EdgetlError(f"the data {target} was trained on, {data}, is not there any more; pass --data DIR")
    elif not is_builtin(data) and not Path(data).expanduser().is_dir():
        raise EdgetlError(f"--data {data} is not a folder; pass a folder in one of the layouts of docs/data.md, "
                          "or digits")
    return str(data)


def evaluate_artifact(cfg: EvaluateConfig, progress=None) -> dict:
    """Metrics of a run or artifact on the labelled images of ``cfg.data`` (any layout of ``data.layouts``, or a
    built-in source such as ``digits``); without it, the data the run was trained on (its test split)."""
    check(cfg)
    data = resolve_data(cfg.target, cfg.data)
    runner = open_artifact(cfg.target, threads=cfg.threads)
    contract = runner.contract
    pos, t = decision_of(contract, cfg.threshold)
    sel = select_images(cfg.target, data, contract.height, cfg.labels_csv, cfg.split)
    mapping = _label_index(sel.classes, list(contract.labels), data)
    probs, truth, skipped = predict_items(runner, sel, mapping, progress)
    if not len(truth):
        raise EdgetlError(f"--data {data} has no readable image ({len(skipped)} skipped); add .jpg/.png images")
    m = classification_metrics(probs, truth, list(contract.labels), pos, t)
    m.update({
        "artifact": str(cfg.target), "kind": contract.artifact, "runtime": runner.runtime, "data": data,
        "labels_csv": cfg.labels_csv, "layout": sel.layout, "split": sel.split, "images_from": sel.images_from,
        "same_split_as_run": sel.own and sel.split in ("train", "val", "test"),
        "skipped": len(skipped), "skipped_files": [f"{f}: {r}" for f, r in skipped[:20]],
    })
    return m


def _label_index(classes: list, labels: list, data) -> dict:
    unknown = [c for c in classes if c not in labels]
    if unknown:
        raise EdgetlError(f"--data {data} has class(es) {unknown[:5]} that the model does not know (its labels: "
                          f"{labels[:8]}{' ...' if len(labels) > 8 else ''}); pass data with the model's classes")
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


def predict(cfg: PredictConfig, progress=None) -> dict:
    """Label and score per image (top ``cfg.top_k``), through the artifact's contract and decision: of the files
    and folders ``cfg.images``, or of the labelled ``cfg.data`` selected as evaluate selects it (then each
    prediction also carries its true class)."""
    check(cfg)
    if cfg.images and cfg.data is not None:
        raise EdgetlError("pass image files/folders or --data, not both")
    if not cfg.images and cfg.data is None:
        raise EdgetlError("pass at least one image file or folder, or --data (labelled images, e.g. digits)")
    if cfg.data is not None:
        data = resolve_data(cfg.artifact, cfg.data)  # before opening the model: a bad --data fails fast
    runner = open_artifact(cfg.artifact, threads=cfg.threads)
    c = runner.contract
    pos, t = decision_of(c, cfg.threshold)
    out = {"artifact": str(cfg.artifact), "kind": c.artifact, "runtime": runner.runtime, "labels": list(c.labels),
           "decision": ({"positive_label": c.labels[pos], "threshold": t} if t is not None else None)}
    if cfg.data is None:
        results, skipped = _predict_files(runner, cfg.images, pos, t, cfg.top_k, progress)
    else:
        sel = select_images(cfg.artifact, data, c.height, cfg.labels_csv, cfg.split)
        mapping = _label_index(sel.classes, list(c.labels), data)
        results, skipped = [], []
        task = progress.add_task("predicting", total=len(sel)) if progress else None
        for pixels, ys, bad, names in batches(sel, c.height, c.width, with_names=True):
            skipped += bad
            rows = _label_rows(runner, pixels, names, pos, t, cfg.top_k)
            for row, y in zip(rows, ys):
                row["true"] = c.labels[mapping[int(y)]]
            results += rows
            if task is not None:
                progress.advance(task, len(pixels) + len(bad))
        out.update(data=data, split=sel.split, images_from=sel.images_from)
    return {**out, "predictions": results, "skipped": [f"{f}: {r}" for f, r in skipped]}


def _label_rows(runner, pixels: np.ndarray, names: list, pos, t, k: int) -> list:
    """One prediction row per image: its label by the decision, the label's score and the top ``k``."""
    if not len(pixels):
        return []
    c = runner.contract
    probs = runner.predict(pixels)
    return [{"file": str(f), "label": c.labels[int(y)], "score": float(p[int(y)]),
             "top": [{"label": lab, "score": s} for lab, s in top_k(p, c.labels, k)]}
            for f, p, y in zip(names, probs, decide(probs, pos, t))]


def _predict_files(runner, paths: Sequence[str | Path], pos, t, k: int, progress=None) -> tuple[list, list]:
    """(prediction rows, skipped [(file, reason)]) of image files and folders; a named file that is no image is
    refused before anything is predicted, an unreadable image inside a folder is skipped."""
    c = runner.contract
    files = image_files(paths)
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
        results += _label_rows(runner, np.stack(pixels) if pixels else np.zeros((0,)), chunk, pos, t, k)
        if task is not None:
            progress.advance(task, len(files[i:i + _CHUNK]))
    return results, skipped
