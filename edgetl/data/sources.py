"""Data sources (a class-per-folder directory, scikit-learn's digits, tensorflow-datasets) and splits.

Images are decoded once to uint8 RGB at the model's input size (``imageops``) and kept in memory;
unreadable files are skipped and counted, never a crash mid-epoch.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Optional

import numpy as np

from edgetl.data.stream import skip_reason
from edgetl.errors import EdgetlError
from edgetl.data.images import UnreadableImage, load_image, resize_rgb

from edgetl.data.types import DIGITS, SPLIT_NAMES, DataOptions, ImageSet, Splits  # noqa: F401  (re-exported)


def check_source(source: str, labels_csv: Optional[str] = None) -> None:
    """Cheap checks of a data source before any model is built: a recognised layout with >= 2 classes."""
    src = str(source)
    if src == DIGITS or src.startswith("tfds:"):
        if labels_csv:
            raise EdgetlError(f"--labels-csv needs --data DIR (the folder of the images it names), not '{src}'")
        return
    from edgetl.data.layouts import resolve_layout

    resolve_layout(src, labels_csv, check_leakage=False)


def load_splits(opts: DataOptions, size: int, progress=None) -> Splits:
    """Load ``opts.source`` at ``size`` x ``size`` and split it (stratified, seeded)."""
    src = str(opts.source)
    opts.check()
    if src == DIGITS:
        return _split(*_load_digits(size, opts), [], opts, src)
    if src.startswith("tfds:"):
        return _split(*_load_tfds(src, size, opts), [], opts, src)
    root = Path(src).expanduser()
    if not root.is_dir():
        raise EdgetlError(f"data folder {root} does not exist; pass --data DIR with one sub-folder per class, or --data digits")
    # The split is decided from the file list, then decoded: the streaming path shares it (data/stream.py).
    from edgetl.data.stream import list_splits, materialize

    return materialize(list_splits(opts, size), size, progress)


# ---- folders ------------------------------------------------------------------------------

def scan_folder(root: Path) -> tuple[list, list]:
    """(class_names, [(file, class_index), ...]) of a class-per-folder directory, sorted, folder links checked."""
    from edgetl.data.layouts import scan_classes

    return scan_classes(Path(root))


def _load_folder(root: Path, size: int, opts: DataOptions, progress=None, classes=None):
    found, items = scan_folder(root)
    if classes is not None and found != classes:
        raise EdgetlError(f"{root} has classes {found} but the training split has {classes}; give every split the same class folders")
    classes = found
    if opts.limit_per_class:
        per = {}
        limited = []
        for f, c in items:
            if per.get(c, 0) < opts.limit_per_class:
                per[c] = per.get(c, 0) + 1
                limited.append((f, c))
        items = limited
    images, labels, files, skipped = [], [], [], []
    task = progress.add_task(f"decoding {root.name}", total=len(items)) if progress else None
    for f, c in items:
        try:
            images.append(load_image(f, size, size))
            labels.append(c)
            files.append(str(f))
        except UnreadableImage as e:
            skipped.append((str(f), skip_reason(e)))
        if progress:
            progress.advance(task)
    for ci, name in enumerate(classes):
        if ci not in labels:
            raise EdgetlError(f"class folder {root / name} has no readable image; replace its corrupt files or remove the folder")
    return np.stack(images), np.asarray(labels, np.int64), files, classes, skipped


def _folder_splits(root, split_dirs, size, opts, progress) -> Splits:
    sets, skipped, classes = {}, [], None
    for name in SPLIT_NAMES:
        if name not in split_dirs:
            continue
        images, labels, files, classes, sk = _load_folder(split_dirs[name], size, opts, progress, classes)
        sets[name] = ImageSet(images, labels, files)
        skipped += sk
    if "val" not in sets:  # carve validation out of train, stratified
        tr, va = _stratified_two_way(sets["train"], opts.val_ratio or 0.15, opts.seed)
        sets["train"], sets["val"] = tr, va
    h = _hash_sets(sets, classes)
    return Splits(sets["train"], sets["val"], sets["test"], classes, str(root), h, skipped, "folders")


# ---- digits and tfds -----------------------------------------------------------------------

def _load_digits(size: int, opts: DataOptions):
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, offline), as RGB at ``size``."""
    from sklearn.datasets import load_digits

    d = load_digits()
    imgs = (d.images * (255.0 / 16.0)).round().astype(np.uint8)
    labels = d.target.astype(np.int64)
    idx = _limit(labels, opts.limit_per_class)
    images = np.stack([resize_rgb(np.repeat(imgs[i][..., None], 3, axis=-1), size, size) for i in idx])
    return images, labels[idx], [f"digits:{i}" for i in idx], [str(i) for i in range(10)]


def _load_tfds(src: str, size: int, opts: DataOptions):
    parts = src.split(":")
    name, split = parts[1], (parts[2] if len(parts) > 2 else "train")
    try:
        import tensorflow_datasets as tfds
    except ImportError as err:
        raise EdgetlError("--data tfds:... needs tensorflow-datasets: pip install -e '.[tfds]' (or pass a local folder)") from err
    try:
        ds, info = tfds.load(name, split=split, as_supervised=True, with_info=True)
    except Exception as e:  # network or unknown dataset
        raise EdgetlError(f"could not load tfds dataset '{name}' split '{split}' ({str(e).splitlines()[0][:120]}); "
                          "check the name, your network, or download it and pass --data DIR") from e
    classes = list(info.features["label"].names)
    images, labels, per = [], [], {}
    for img, lab in ds.as_numpy_iterator():
        lab = int(lab)
        if opts.limit_per_class and per.get(lab, 0) >= opts.limit_per_class:
            continue
        per[lab] = per.get(lab, 0) + 1
        images.append(resize_rgb(img if img.shape[-1] == 3 else np.repeat(img[..., :1], 3, -1), size, size))
        labels.append(lab)
    return np.stack(images), np.asarray(labels, np.int64), [f"{src}:{i}" for i in range(len(labels))], classes


def _limit(labels: np.ndarray, limit: Optional[int]) -> np.ndarray:
    if not limit:
        return np.arange(len(labels))
    keep = []
    for c in np.unique(labels):
        keep += list(np.flatnonzero(labels == c)[:limit])
    return np.asarray(sorted(keep))


# ---- splitting and hashing -------------------------------------------------------------------

def _split(images, labels, files, classes, skipped, opts: DataOptions, source: str) -> Splits:
    if len(classes) < 2:
        raise EdgetlError("the data has a single class; a classifier needs at least 2")
    full = ImageSet(images, labels, files)
    counts = np.bincount(labels, minlength=len(classes))
    if counts.min() < 3:
        raise EdgetlError(f"class '{classes[int(counts.argmin())]}' has {counts.min()} readable image(s); "
                          "each class needs at least 3 (train, val, test)")
    rest, test = _stratified_two_way(full, opts.test_ratio, opts.seed)
    if opts.val_ratio > 0:
        train, val = _stratified_two_way(rest, opts.val_ratio / (1.0 - opts.test_ratio), opts.seed + 1)
    else:
        train, val = rest, rest.take([])
    h = _hash_sets({"train": train, "val": val, "test": test}, classes)
    return Splits(train, val, test, list(classes), source, h, skipped, "random")


def _stratified_two_way(s: ImageSet, ratio: float, seed: int):
    """Split ``s`` so that about ``ratio`` of every class (at least one image) goes to the second part."""
    rng = np.random.default_rng(seed)
    first, second = [], []
    for c in np.unique(s.labels):
        idx = np.flatnonzero(s.labels == c)
        rng.shuffle(idx)
        n = max(1, int(round(len(idx) * ratio))) if len(idx) > 1 else 0
        second += list(idx[:n])
        first += list(idx[n:])
    return s.take(sorted(first)), s.take(sorted(second))


def _hash_sets(sets: dict, classes) -> str:
    """sha256 over class names and every split's pixels and labels: the data as the model saw it."""
    h = hashlib.sha256()
    h.update("\n".join(classes).encode())
    for name in SPLIT_NAMES:
        if name in sets:
            h.update(name.encode())
            h.update(np.ascontiguousarray(sets[name].images).tobytes())
            h.update(sets[name].labels.tobytes())
    return h.hexdigest()


def class_weights(labels: np.ndarray, n_classes: int) -> dict:
    """Balanced weights n / (k * count_c), as scikit-learn's 'balanced'."""
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    counts[counts == 0] = 1
    w = len(labels) / (n_classes * counts)
    return {i: float(w[i]) for i in range(n_classes)}
