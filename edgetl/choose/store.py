"""What one search learned about a candidate, kept for every later search on the same data, whatever its --out.

A search into a new --out would otherwise redo, for every candidate, the cross-validation, the two TFLite
conversions, the int8 file's own features and the benchmark, though none of them changed: the features are
already shared through the feature cache, and this store does the same for the rest. It lives beside the
feature cache (``<cache>/search``, ``--cache-dir none`` turns it off) and holds:

- one entry per candidate and fingerprint (data hash, folds, seed, split, CV method ... and the weights file's
  bytes): its scored record and its float32 and int8 files. An entry is written in a staging folder and renamed
  into place whole, so an interrupted search leaves no half entry; a file whose bytes no longer match its
  recorded sha256 makes the entry a miss.
- ``latency.json``: p50/p90 by file sha256, thread count and host (the host line without its load average).
  The same bytes on the same CPU and runtimes, measured by an earlier search; ``latency_source`` says so.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Optional

from edgetl.fsutil import atomic_path, file_sha256, read_json, write_json

STORE_FORMAT = 1


def store_root(cache_dir: Optional[str]) -> Optional[Path]:
    from edgetl.data.feature_cache import resolve_cache_dir

    root, _ = resolve_cache_dir(cache_dir)
    return None if root is None else root / "search"


def _entry(root: Path, cand_id: str, fingerprint: dict, weights_digest: str) -> Path:
    key = json.dumps({"format": STORE_FORMAT, "candidate": cand_id, "fingerprint": fingerprint,
                      "weights": weights_digest}, sort_keys=True)
    return root / cand_id / hashlib.sha256(key.encode()).hexdigest()[:24]


def load(root: Optional[Path], cand_id: str, fingerprint: dict, weights_digest: str, models: Path) -> Optional[dict]:
    """The stored record with its files copied into ``models``, or None (no entry, or a damaged one)."""
    if root is None:
        return None
    entry = _entry(root, cand_id, fingerprint, weights_digest)
    try:
        rec = read_json(entry / "record.json")
        files = [(entry / p["file"], p["sha256"]) for p in rec["precisions"].values()]
        if not all(f.is_file() and file_sha256(f) == sha for f, sha in files):
            return None
        models.mkdir(parents=True, exist_ok=True)
        for f, _ in files:
            with atomic_path(models / f.name) as tmp:
                shutil.copyfile(f, tmp)
        return rec
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def save(root: Optional[Path], cand_id: str, fingerprint: dict, weights_digest: str, rec: dict,
         models: Path) -> None:
    """Store (or replace) a candidate's record and files. A cache: a failure to write is not an error."""
    if root is None:
        return
    entry = _entry(root, cand_id, fingerprint, weights_digest)
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=".staging-", dir=entry.parent))
    except OSError:
        return
    try:
        for p in rec["precisions"].values():
            shutil.copyfile(models / p["file"], stage / p["file"])
        write_json(stage / "record.json", rec)
        old = entry.with_name(entry.name + f".old-{os.getpid()}")
        if entry.exists():
            os.replace(entry, old)
        os.replace(stage, entry)
        shutil.rmtree(old, ignore_errors=True)
    except OSError:
        shutil.rmtree(stage, ignore_errors=True)


def _latency_key(sha256: str, threads: int, host: str) -> str:
    return f"{sha256}:x{threads}:{hashlib.sha256(host.encode()).hexdigest()[:16]}"


def stored_latency(root: Optional[Path], sha256: str, threads: int, host: str) -> Optional[dict]:
    if root is None:
        return None
    try:
        return read_json(root / "latency.json").get(_latency_key(sha256, threads, host))
    except (OSError, ValueError, AttributeError):
        return None


def store_latency(root: Optional[Path], measured: dict, threads: int, host: str) -> None:
    """``measured``: {sha256: {p50_ms, p90_ms, runs}} from this search's benchmark."""
    if root is None or not measured:
        return
    f = root / "latency.json"
    try:
        table = read_json(f) if f.is_file() else {}
        if not isinstance(table, dict):
            table = {}
    except (OSError, ValueError):
        table = {}
    for sha, lat in measured.items():
        table[_latency_key(sha, threads, host)] = {**lat, "host": host}
    try:
        root.mkdir(parents=True, exist_ok=True)
        write_json(f, table)
    except OSError:
        pass
