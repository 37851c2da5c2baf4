"""Which files, which labels, which split: the data layouts edgetl recognises, or refuses.

Listing is kept apart from decoding, so that the in-memory loader (``edgetl.data.sources``) and a
streaming input path read the same files into the same splits. ``resolve_layout`` returns a
``Layout``: class names and, per split, ``[(path, class_index), ...]``.

The layouts:

* **split folders**: ``ROOT/train/<class>/`` with ``val/`` (or ``valid/``, ``validation/``) and/or
  ``test/``, names case-insensitive. With train + val only, the early-stopping split is carved from
  train (stratified, seeded) and the final figures come from the given val folder.
* **class folders**: ``ROOT/<class>/``, split by seed into train/val/test (stratified).
* **labels CSV** (Kaggle style): ``--labels-csv labels.csv`` with an id/file column and a label
  column, the images in one flat folder ``ROOT``; ids may omit the extension. Split by seed.

Refused (one line, exit 2): class folders named like split names, splits whose class sets
differ, a CSV with a missing column, empty labels, duplicate ids or ids without an image.
Folder links are followed, but a link back into a folder already read (``loopclass -> .``) is
ignored with a warning, never read twice.
"""
from __future__ import annotations

import csv
import errno
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from edgetl.data.images import IMAGE_EXTENSIONS
from edgetl.errors import EdgetlError

SPLITS = ("train", "val", "test")
SPLIT_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
                 "test": "test", "testing": "test"}
CSV_ID_COLUMNS = ("id", "file", "filename", "file_name", "image", "image_id", "img", "path", "fname")
CSV_LABEL_COLUMNS = ("label", "class", "category", "breed", "target", "labels", "class_name")


@dataclass
class Layout:
    kind: str  # "split-folders" | "class-folders" | "labels-csv"
    root: str
    class_names: list
    splits: dict  # "train"/"val"/"test" -> [(path str, class index), ...]
    test_from: str  # where the test figures come from, in words
    val_from: str  # where the early-stopping split comes from, in words
    warnings: list = field(default_factory=list)
    ignored: list = field(default_factory=list)  # [(path, reason)]: links not followed, files not in the CSV
    leakage: dict = field(default_factory=dict)  # find_leakage(): the same bytes in two splits

    @property
    def split_from(self) -> str:
        return "folders" if self.kind == "split-folders" else "random"

    def counts(self) -> dict:
        return {s: len(self.splits.get(s, [])) for s in SPLITS}

    def summary(self) -> dict:
        """What metrics.json and the manifest record about the layout (both input pipelines)."""
        return {"layout": self.kind, "test_from": self.test_from, "val_from": self.val_from,
                "leakage": self.leakage or {"count": 0, "examples": []}, "warnings": list(self.warnings),
                "ignored_files": len(self.ignored), "ignored_examples": [f"{p}: {r}" for p, r in self.ignored[:20]]}


def skip_reasons(skipped: list) -> dict:
    """{"unreadable"|"too large"|"too small": count} of [(file, reason)] pairs."""
    out: dict = {}
    for _, r in skipped:
        key = next((k for k in ("too large", "too small") if str(r).startswith(k)), "unreadable")
        out[key] = out.get(key, 0) + 1
    return out


def class_counts(labels_by_split: dict, class_names: list) -> dict:
    """{split: {class: images}}: the class balance of each split."""
    return {name: {c: int(n) for c, n in zip(class_names, np.bincount(np.asarray(labels, np.int64),
                                                                      minlength=len(class_names)))}
            for name, labels in labels_by_split.items()}


# ---- entry point --------------------------------------------------------------------------------

def resolve_layout(source: str | Path, labels_csv: Optional[str] = None, *, val_ratio: float = 0.15,
                   test_ratio: float = 0.15, seed: int = 42, limit_per_class: Optional[int] = None,
                   check_leakage: bool = True) -> Layout:
    """List the files of a data folder (any recognised layout) into train/val/test; refuse what is ambiguous."""
    lay = _resolve(source, labels_csv, val_ratio, test_ratio, seed, limit_per_class)
    if check_leakage:
        lay.leakage = find_leakage(lay.splits)
        if lay.leakage["count"]:
            lay.warnings.append(f"{lay.leakage['count']} image(s) are in more than one split (same bytes, e.g. "
                                f"{lay.leakage['examples'][0]}): the test figures are optimistic; remove the copies")
    return lay


def _resolve(source, labels_csv, val_ratio, test_ratio, seed, limit_per_class) -> Layout:
    root = Path(source).expanduser()
    if not root.is_dir():
        raise EdgetlError(f"data folder {root} does not exist; pass --data DIR with one sub-folder per class, "
                          "or --data digits")
    if labels_csv:
        classes, items, ignored = read_labels_csv(labels_csv, root)
        lay = _seeded(root, "labels-csv", classes, items, val_ratio, test_ratio, seed, limit_per_class)
        lay.ignored += ignored
        if ignored:
            lay.warnings.append(f"{len(ignored)} image(s) in {root} are not in {Path(labels_csv).name} and were not "
                                f"used (e.g. {Path(ignored[0][0]).name})")
        return lay
    split_dirs = _split_dirs(root)
    if split_dirs:
        return _split_layout(root, split_dirs, val_ratio, seed, limit_per_class)
    ignored: list = []
    classes, items = scan_classes(root, ignored)
    lay = _seeded(root, "class-folders", classes, items, val_ratio, test_ratio, seed, limit_per_class)
    lay.ignored += ignored
    lay.warnings += _link_warnings(ignored)
    return lay


# ---- split folders --------------------------------------------------------------------------------

def _split_dirs(root: Path) -> dict:
    """{"train": Path, ...} when ROOT's sub-folders are split folders; {} for class folders; refuse a mixture."""
    subdirs = [d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    named = {}
    for d in subdirs:
        split = SPLIT_ALIASES.get(d.name.lower())
        if split:
            if split in named:
                raise EdgetlError(f"{root} has both {named[split].name}/ and {d.name}/ as the {split} split; "
                                  "keep one of them")
            named[split] = d
    if not named:
        return {}
    others = [d.name for d in subdirs if d.name.lower() not in SPLIT_ALIASES]
    if others or "train" not in named or len(named) < 2:
        what = (f"class folders {[d.name for d in named.values()]} look like split names "
                f"next to {others}" if others else f"only {'/, '.join(d.name for d in named.values())}/ exist")
        raise EdgetlError(f"{root}: {what}; use train/ with val/ and/or test/ (each with one sub-folder per class), "
                          "or class folders only, not named train/val/test")
    return named


def _split_layout(root: Path, split_dirs: dict, val_ratio: float, seed: int, limit) -> Layout:
    ignored: list = []
    listed, classes = {}, None
    for split in SPLITS:
        if split not in split_dirs:
            continue
        d = split_dirs[split]
        found, items = scan_classes(d, ignored)
        clash = [c for c in found if c.lower() in SPLIT_ALIASES]
        if clash:
            raise EdgetlError(f"{d} has class folder(s) {clash} named like splits; a split folder holds one "
                              "sub-folder per class")
        if classes is not None and found != classes:
            missing, extra = sorted(set(classes) - set(found)), sorted(set(found) - set(classes))
            raise EdgetlError(f"{d.name}/ has classes {found} but {split_dirs['train'].name}/ has {classes}"
                              + (f" ({d.name}/ lacks {missing})" if missing else "")
                              + (f" ({d.name}/ has extra {extra})" if extra else "")
                              + "; give every split the same class folders")
        classes = found
        listed[split] = _limit(items, limit)
    test_split = "test" if "test" in listed else "val"
    out = {"test": listed[test_split]}
    if "val" in listed and test_split == "test":
        out["train"], out["val"] = listed["train"], listed["val"]
        val_from = f"{split_dirs['val'].name}/ folder"
    else:  # carve the early-stopping split out of train, stratified and seeded
        tr, va = stratified_split(listed["train"], val_ratio or 0.15, seed)
        out["train"], out["val"] = tr, va
        val_from = f"{round(100 * (val_ratio or 0.15))}% of each class of {split_dirs['train'].name}/ (seed {seed})"
    lay = Layout("split-folders", str(root), classes, out, test_from=f"{split_dirs[test_split].name}/ folder",
                 val_from=val_from, ignored=ignored)
    lay.warnings += _link_warnings(ignored)
    return lay


# ---- class folders ----------------------------------------------------------------------------------

def scan_classes(root: Path, ignored: Optional[list] = None) -> tuple[list, list]:
    """(class_names, [(file, class_index), ...]) of a class-per-folder directory, sorted; links checked."""
    ignored = [] if ignored is None else ignored
    root_real = os.path.realpath(root)
    subdirs = [d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    real_dirs = {os.path.realpath(d) for d in subdirs if not d.is_symlink()}
    classes = []
    for d in subdirs:
        if d.is_symlink():
            real = os.path.realpath(d)
            if real == root_real or _is_ancestor(real, root_real) or real in real_dirs:
                ignored.append((str(d), "folder link to a folder already read (a loop or a duplicate class)"))
                continue
        classes.append(d.name)
    if not classes:
        raise EdgetlError(f"data folder {root} has no class sub-folders; put each class's images in its own sub-folder")
    if len(classes) < 2:
        raise EdgetlError(f"data folder {root} has a single class ({classes[0]}); a classifier needs at least 2 "
                          "class sub-folders")
    items = []
    for ci, name in enumerate(classes):
        files = list_images(root / name, ignored, seen={root_real} | real_dirs)
        if not files:
            raise EdgetlError(f"class folder {root / name} holds no images ({'/'.join(IMAGE_EXTENSIONS)}); "
                              "add images or remove the folder")
        items += [(str(f), ci) for f in files]
    return classes, items


def list_images(folder: Path, ignored: list, seen: set) -> list:
    """Image files under ``folder`` (recursively, sorted). Folder links are followed unless they lead to a
    folder already on the path or already read; those are recorded in ``ignored``."""
    out = []
    stack = [(Path(folder), frozenset(seen) | {os.path.realpath(folder)})]
    visited = set()
    while stack:
        cur, ancestors = stack.pop()
        try:
            entries = sorted(os.scandir(cur), key=lambda e: e.name)
        except OSError as e:
            ignored.append((str(cur), f"cannot list ({e.strerror})"))
            continue
        for e in entries:
            if e.name.startswith("."):
                continue
            p = Path(e.path)
            try:
                is_dir = e.is_dir()
                is_file = e.is_file()
            except OSError:
                is_dir = is_file = False
            if is_dir:
                real = os.path.realpath(p)
                if real in ancestors or real in visited:
                    ignored.append((str(p), "folder link to a folder already read (a loop or a duplicate)"))
                    continue
                visited.add(real)
                stack.append((p, ancestors | {real}))
            elif is_file and p.suffix.lower() in IMAGE_EXTENSIONS:
                out.append(p)
            elif e.is_symlink() and not is_file and not is_dir:
                ignored.append((str(p), _dead_link_reason(p)))
    return sorted(out)


def _is_ancestor(candidate: str, path: str) -> bool:
    return path.startswith(candidate.rstrip(os.sep) + os.sep)


def _dead_link_reason(p: Path) -> str:
    try:
        os.stat(p)
    except OSError as err:
        if err.errno == errno.ELOOP:
            return "link loop (the link leads back to itself)"
    return "broken link"


def _link_warnings(ignored: list) -> list:
    folders = [p for p, r in ignored if r.startswith("folder link")]
    dead = [p for p, r in ignored if r in ("broken link",) or r.startswith("link loop")]
    out = []
    if folders:
        out.append(f"{len(folders)} folder link(s) not followed (a loop or a folder read twice), e.g. {folders[0]}")
    if dead:
        out.append(f"{len(dead)} link(s) skipped (broken, or a loop of links), e.g. {dead[0]}")
    return out


# ---- labels CSV ----------------------------------------------------------------------------------------

def read_labels_csv(csv_path: str | Path, image_dir: Path) -> tuple[list, list, list]:
    """(class_names, [(file, class_index)], ignored) from a Kaggle-style labels CSV and a flat image folder."""
    path = Path(csv_path).expanduser()
    if not path.is_file():
        raise EdgetlError(f"labels CSV {path} not found; pass --labels-csv FILE with an id column and a label column")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise EdgetlError(f"cannot read labels CSV {path} ({e}); save it as UTF-8 text") from e
    rows = list(csv.reader(text.splitlines()))
    rows = [r for r in rows if any(c.strip() for c in r)]
    if len(rows) < 2:
        raise EdgetlError(f"labels CSV {path} has no data rows; it needs a header (e.g. id,label) and one row per image")
    header = [c.strip().lower() for c in rows[0]]
    id_col = next((header.index(c) for c in CSV_ID_COLUMNS if c in header), None)
    label_col = next((header.index(c) for c in CSV_LABEL_COLUMNS if c in header), None)
    if len(header) == 2 and (id_col is None or label_col is None):  # two columns: id then label, whatever the names
        id_col = id_col if id_col is not None else (1 - label_col if label_col is not None else 0)
        label_col = 1 - id_col
    if id_col is None:
        raise EdgetlError(f"labels CSV {path} has no id/file column (one of {', '.join(CSV_ID_COLUMNS)}); "
                          f"its columns are {rows[0]}")
    if label_col is None:
        raise EdgetlError(f"labels CSV {path} has no label column (one of {', '.join(CSV_LABEL_COLUMNS)}); "
                          f"its columns are {rows[0]}")
    by_name = _image_index(image_dir)
    entries, missing, seen = [], [], {}
    for n, row in enumerate(rows[1:], start=2):
        ident = row[id_col].strip() if id_col < len(row) else ""
        label = row[label_col].strip() if label_col < len(row) else ""
        if not ident:
            raise EdgetlError(f"labels CSV {path} line {n} has an empty id; fill it or remove the line")
        if not label:
            raise EdgetlError(f"labels CSV {path} line {n} (id '{ident}') has an empty label; fill it or remove the line")
        if ident in seen:
            raise EdgetlError(f"labels CSV {path} lists id '{ident}' twice (lines {seen[ident]} and {n}); "
                              "keep one label per image")
        seen[ident] = n
        if not _inside(ident, image_dir):
            raise EdgetlError(f"labels CSV {path} line {n}: id '{ident}' points outside --data {image_dir}; "
                              "ids are image names (or sub-paths) inside the --data folder")
        f = _find_image(ident, image_dir, by_name)
        if f is None:
            missing.append(ident)
        else:
            entries.append((f, label))
    if missing:
        raise EdgetlError(f"{len(missing)} id(s) in {path.name} have no image in {image_dir} (e.g. '{missing[0]}', "
                          f"looked for it with and without {'/'.join(IMAGE_EXTENSIONS)}); fix the ids or --data")
    classes = sorted({lab for _, lab in entries})
    if len(classes) < 2:
        raise EdgetlError(f"labels CSV {path} has a single label ({classes[0]}); a classifier needs at least 2")
    index = {c: i for i, c in enumerate(classes)}
    items = sorted((str(f), index[lab]) for f, lab in entries)
    used = {str(f) for f, _ in entries}
    ignored = [(str(f), f"not in {path.name}") for f in sorted(set(by_name.values())) if str(f) not in used]
    return classes, sorted(items, key=lambda it: (it[1], it[0])), ignored


def _image_index(image_dir: Path) -> dict:
    """{name: path, stem: path} of the images directly in ``image_dir`` (a stem shared by two files is dropped)."""
    idx, stems = {}, {}
    for p in sorted(image_dir.iterdir()):
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS:
            idx[p.name] = p
            stems.setdefault(p.stem, []).append(p)
    for stem, ps in stems.items():
        if len(ps) == 1 and stem not in idx:
            idx[stem] = ps[0]
    return idx


def _inside(ident: str, image_dir: Path) -> bool:
    """Whether a CSV id names a path inside ``image_dir`` as written (no absolute path, no way out through ..)."""
    if os.path.isabs(ident):
        return False
    root = os.path.normpath(str(image_dir))
    return os.path.normpath(os.path.join(root, ident)).startswith(root.rstrip(os.sep) + os.sep)


def _find_image(ident: str, image_dir: Path, by_name: dict) -> Optional[Path]:
    if ident in by_name:
        return by_name[ident]
    p = image_dir / ident  # ids with a sub-folder, e.g. images/abc.jpg
    if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS:
        return p
    for ext in IMAGE_EXTENSIONS:
        for cand in (image_dir / (ident + ext), image_dir / (ident + ext.upper())):
            if cand.is_file():
                return cand
    return None


# ---- seeded splits --------------------------------------------------------------------------------------

def _limit(items: list, limit: Optional[int]) -> list:
    if not limit:
        return items
    per, out = {}, []
    for f, c in items:
        if per.get(c, 0) < limit:
            per[c] = per.get(c, 0) + 1
            out.append((f, c))
    return out


def _seeded(root: Path, kind: str, classes: list, items: list, val_ratio: float, test_ratio: float, seed: int,
            limit) -> Layout:
    items = _limit(items, limit)
    counts = np.bincount([c for _, c in items], minlength=len(classes))
    if counts.min() < 3:
        raise EdgetlError(f"class '{classes[int(counts.argmin())]}' has {counts.min()} image(s); "
                          "each class needs at least 3 (train, val, test)")
    rest, test = stratified_split(items, test_ratio, seed)
    if val_ratio > 0:
        train, val = stratified_split(rest, val_ratio / (1.0 - test_ratio), seed + 1)
    else:
        train, val = rest, []
    share = f"{round(100 * test_ratio)}% of each class (seed {seed})"
    return Layout(kind, str(root), list(classes), {"train": train, "val": val, "test": test},
                  test_from=f"random {share}", val_from=f"random {round(100 * val_ratio)}% of each class (seed {seed + 1})")


def stratified_indices(labels, ratio: float, seed: int) -> tuple[list, list]:
    """Indices (first, second): about ``ratio`` of every class (at least one) goes to the second part."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    first, second = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        n = max(1, int(round(len(idx) * ratio))) if len(idx) > 1 else 0
        second += list(idx[:n])
        first += list(idx[n:])
    return sorted(first), sorted(second)


def stratified_split(items: list, ratio: float, seed: int) -> tuple[list, list]:
    a, b = stratified_indices([c for _, c in items], ratio, seed)
    return [items[i] for i in a], [items[i] for i in b]


# ---- leakage ----------------------------------------------------------------------------------------------

def find_leakage(splits: dict) -> dict:
    """Files with the same bytes in two splits: {"count": distinct duplicated images, "examples": [...]}.

    Only files whose size matches a file in another split are hashed, so this is cheap.
    """
    by_size: dict = {}
    for split, items in splits.items():
        for f, _ in items:
            try:
                by_size.setdefault(os.path.getsize(f), []).append((split, f))
            except OSError:
                continue
    by_hash: dict = {}
    for group in by_size.values():
        if len({s for s, _ in group}) < 2:
            continue
        for split, f in group:
            try:
                digest = hashlib.sha256(Path(f).read_bytes()).hexdigest()
            except OSError:
                continue
            by_hash.setdefault(digest, []).append((split, f))
    dups = [g for g in by_hash.values() if len({s for s, _ in g}) > 1]
    return {"count": len(dups),
            "examples": [" = ".join(f"{Path(f).parent.name}/{Path(f).name} ({s})" for s, f in g[:2]) for g in dups[:5]]}
