"""Atomic file and folder writes: a failed or interrupted step leaves no half-written artifact."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; it is renamed to ``final`` only if the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    sfx = suffix if suffix is not None else "".join(final.suffixes)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=".tmp" + sfx, dir=final.parent)
    os.close(fd)
    os.unlink(tmp)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if final.is_dir():
            shutil.rmtree(final)
        os.replace(tmp_path, final)
    finally:
        if tmp_path.is_dir():
            shutil.rmtree(tmp_path, ignore_errors=True)
        elif tmp_path.exists():
            tmp_path.unlink()


# What ``atomic_path`` names its temporary files (".model_int8.k3j_x9a2.tmp.tflite") and what ``train`` stages a run in
# (".staging-XXXXXXXX"): an interrupted command may leave them behind; they are never artifacts.
_TEMP_NAME = re.compile(r"^\.(?:.+\.[A-Za-z0-9_]{8}\.tmp(?:\..*)?|staging-[A-Za-z0-9_]{8})$")


def is_temp(path: str | os.PathLike) -> bool:
    """Whether ``path`` is the temporary file or folder of an unfinished write (see ``atomic_path``)."""
    return bool(_TEMP_NAME.match(Path(path).name))


def temp_reason(path: str | os.PathLike) -> str | None:
    """Why ``path`` is no artifact when it is an interrupted write's temporary file, else None."""
    if not is_temp(path):
        return None
    return (f"{path} is the temporary file of an interrupted edgetl command, not an artifact; "
            "rerun that command (the next command on the run folder deletes it)")


def check_not_temp(path: str | os.PathLike) -> None:
    """Refuse, in one line, to open an interrupted write's temporary file as if it were an artifact."""
    reason = temp_reason(path)
    if reason:
        from edgetl.errors import EdgetlError

        raise EdgetlError(reason)


def listed(folder: str | os.PathLike, pattern: str = "*") -> list:
    """The files of ``folder`` matching ``pattern``, sorted, without hidden ones (temporary files, the lock)."""
    return sorted(p for p in Path(folder).glob(pattern) if not p.name.startswith(".") and p.is_file())


def sweep_temp(folder: str | os.PathLike) -> list:
    """Delete what interrupted writes left in ``folder`` (only while holding its lock: a live write's temp is in use)."""
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for p in entries:
        if not is_temp(p):
            continue
        try:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p)
        except OSError:
            pass
    return removed


def gzip_mb(data: bytes) -> float:
    """Size of ``data`` after gzip (level 6), in MB: what an app download of it costs."""
    import gzip

    return len(gzip.compress(data, compresslevel=6)) / 1e6


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def read_json(path: str | os.PathLike):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_checked_json(path: str | os.PathLike, shape, fix: str | None = None):
    """A run file's JSON, checked for shape as well as syntax: the one reader of every run file.

    ``shape(doc)`` returns what is wrong with the parsed document (a short phrase), or None when it is
    usable. An unreadable, non-JSON or wrong-shaped file is a one-line ``damaged`` EdgetlError naming the
    file, what is wrong and ``fix`` (default: retrain with --force or restore it).
    """
    from edgetl.errors import RETRAIN_FIX, damaged

    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise damaged(p, f"not valid JSON: {err}", fix or RETRAIN_FIX) from err
    except IsADirectoryError as err:
        raise damaged(p, "a folder, not a file", fix or RETRAIN_FIX) from err
    wrong = shape(doc)
    if wrong:
        raise damaged(p, wrong, fix or RETRAIN_FIX)
    return doc


def mapping_of(doc, what: str = "object", object_values: bool = False, keys=()) -> str | None:
    """Shape check for ``read_checked_json``: ``doc`` is a JSON object (with ``keys``; every value an object)."""
    if not isinstance(doc, dict):
        return f"a JSON {_json_kind(doc)}, not an {what}"
    missing = [k for k in keys if k not in doc]
    if missing:
        return f"no '{missing[0]}' field"
    if object_values:
        for k, v in doc.items():
            if not isinstance(v, dict):
                return f"'{k}' is a JSON {_json_kind(v)}, not an object"
    return None


def _json_kind(v) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(v), "number" if isinstance(v, (int, float)) else type(v).__name__)


def _json_default(o):
    import numpy as np

    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def check_writable_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` if needed and prove we can write in it, or raise a one-line EdgetlError."""
    from edgetl.errors import EdgetlError

    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=p, prefix=".probe"):
            pass
    except OSError as e:
        raise EdgetlError(f"cannot write to output folder {p}: {e.strerror or e}; pass a writable --out") from e
    return p


def check_creatable(path: str | os.PathLike, option: str, *, folder: bool = False) -> Path:
    """Prove ``path`` (a file, or a folder with ``folder``) can be written later, without creating anything.

    For an output that is only written after slow work: the nearest existing ancestor must be a
    writable folder, and ``path`` itself, if it exists, the right kind. Raises a one-line EdgetlError naming ``option``.
    """
    from edgetl.errors import EdgetlError

    p = Path(path)
    if p.exists():
        if folder and not p.is_dir():
            raise EdgetlError(f"{option} {p} is a file; pass a folder")
        if not folder and p.is_dir():
            raise EdgetlError(f"{option} {p} is a folder; pass a file name")
    anc = p if (folder and p.is_dir()) else p.parent
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise EdgetlError(f"{option} {p} cannot be written: {anc} is a file, not a folder; pass another path")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise EdgetlError(f"{option} {p} cannot be written: no write permission in {anc}; pass another path")
    return p


_SHA_CACHE: dict = {}


def file_sha256(*paths: str | os.PathLike) -> str:
    """SHA-256 of the files' bytes, read in order (of one file: its sha256): the one file hasher of edgetl
    (artifact provenance, gate records, the feature cache's weights key). Cached per (path, size, mtime)."""
    key = tuple((str(Path(p).resolve()), Path(p).stat().st_size, Path(p).stat().st_mtime_ns) for p in paths)
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        for p in paths:
            with open(p, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 22), b""):
                    h.update(chunk)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]

