"""Disk-backed cache of the frozen base's pooled features for phase 1.

Phase 1's head (dropout -> dense) follows global average pooling, which has no weights, so the
pooled features (C floats per image, 1,280 for MobileNetV2) are all the head needs: 5 KB an image
instead of 250 KB. They are written batch by batch to raw float32 files and read back memory-mapped,
so memory stays bounded by a batch however large the data.

Where: ``--cache-dir DIR`` (or $EDGETL_CACHE_DIR), default ``$XDG_CACHE_HOME/edgetl`` (~/.cache/edgetl):
a shared folder, so a second run on the same data reuses the features whatever its --out.
``--cache-dir none`` turns the disk cache off (features stay in memory, as before).

Key: sha256 of backbone, alpha, input size, the weights file's bytes, the data hash (file bytes and
split) and the preprocessing (resize, mean/std, channel order). An entry is written in a staging
folder and renamed into place whole: an interrupted or full-disk write leaves no half entry, and
never touches the run directory.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np

from edgetl.errors import EdgetlError

CACHE_ENV = "EDGETL_CACHE_DIR"
FORMAT_VERSION = 1


def default_cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgetl"


def resolve_cache_dir(option: Optional[str]) -> tuple[Optional[Path], bool]:
    """(folder or None when off, explicit?) for ``--cache-dir``."""
    if option is None or option == "":
        return default_cache_dir(), bool(os.environ.get(CACHE_ENV))
    if str(option).lower() == "none":
        return None, True
    return Path(option).expanduser(), True


def file_digest(path: Optional[str]) -> str:
    """sha256 of a weights file; of its files in turn for a fused backbone's ``os.pathsep``-joined files."""
    from edgetl.fsutil import file_sha256

    return file_sha256(*str(path).split(os.pathsep)) if path else "none"


def cache_key(backbone: str, alpha, size: int, weights_path: Optional[str], data_hash: str, contract) -> tuple[str, dict]:
    fields = {"format": FORMAT_VERSION, "backbone": backbone, "alpha": alpha, "input_size": size,
              "weights_sha256": file_digest(weights_path), "data_hash": data_hash,
              "preprocessing": {"resize": "integer-bilinear-v1", "mean": list(contract.mean), "std": list(contract.std),
                                "channel_order": contract.channel_order}, "features": "global-average-pooled"}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32], fields


class FeatureCache:
    """One cache entry: ``<dir>/features/<key>/{train,val}.f32``, labels, files and meta.json."""

    def __init__(self, root: Path, key: str, fields: dict):
        self.root = Path(root)
        self.key, self.fields = key, fields
        self.entry = self.root / "features" / key

    def check_writable(self) -> None:
        """Create the cache folder and prove it is writable, or raise a one-line EdgetlError."""
        base = self.root / "features"
        try:
            base.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=base, prefix=".probe"):
                pass
        except OSError as e:
            raise EdgetlError(f"cannot write the feature cache in {self.root}: {e.strerror or e}; "
                              "pass a writable --cache-dir DIR or --cache-dir none") from e

    def load(self) -> Optional[dict]:
        """{split: (features memmap, labels)} plus "skipped", or None when absent or unreadable."""
        meta_file = self.entry / "meta.json"
        if not meta_file.is_file():
            return None
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
            out = {"skipped": [tuple(x) for x in meta.get("skipped", [])], "meta": meta}
            for split, info in meta["splits"].items():
                n, dim = int(info["n"]), int(info["dim"])
                feats = (np.memmap(self.entry / f"{split}.f32", np.float32, "r", shape=(n, dim)) if n
                         else np.zeros((0, dim), np.float32))
                labels = np.load(self.entry / f"{split}.labels.npy")
                out[split] = (feats, labels)
            return out
        except (OSError, ValueError, KeyError):
            return None  # a damaged entry is recomputed

    def write(self, extract_splits: dict, skipped_fn) -> dict:
        """Write ``{split: iterator of (features batch, labels batch)}`` into a staged entry, then rename."""
        base = self.root / "features"
        stage = None
        _remove_orphans(base)
        try:
            stage = Path(tempfile.mkdtemp(prefix=f".tmp-{self.key}-{socket.gethostname()}-{os.getpid()}-", dir=base))
            splits = {}
            for split, batches in extract_splits.items():
                n, dim, labels = 0, None, []
                with open(stage / f"{split}.f32", "wb") as fh:
                    for feats, labs in batches:
                        feats = np.ascontiguousarray(feats, np.float32)
                        dim = feats.shape[1]
                        fh.write(feats.tobytes())
                        n += len(feats)
                        labels.append(np.asarray(labs))
                lab = np.concatenate(labels) if labels else np.zeros((0,), np.int64)
                np.save(stage / f"{split}.labels.npy", lab)
                splits[split] = {"n": n, "dim": int(dim or 0)}
            meta = {"key": self.key, "fields": self.fields, "splits": splits, "skipped": [list(x) for x in skipped_fn()]}
            (stage / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
            try:
                os.replace(stage, self.entry)
                stage = None
            except OSError:
                if not (self.entry / "meta.json").is_file():
                    raise
                # another run (e.g. a second worker on this machine) finished the same entry first: keep theirs
        except OSError as e:
            full = e.errno in (errno.ENOSPC, errno.EDQUOT)
            raise EdgetlError(f"feature cache {self.root} is {'full' if full else 'not writable'} "
                              f"({e.strerror or e}); free space, pass another --cache-dir DIR, or --cache-dir none") from e
        finally:
            if stage is not None:
                shutil.rmtree(stage, ignore_errors=True)
        return self.load()


def _remove_orphans(base: Path) -> None:
    """Remove staging folders of killed runs on this machine (their process is gone): they are never entries."""
    host = socket.gethostname()
    for d in base.glob(".tmp-*"):
        parts = d.name.split("-")
        if len(parts) < 5 or "-".join(parts[2:-2]) != host or not parts[-2].isdigit():
            continue
        try:
            os.kill(int(parts[-2]), 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except OSError:
            pass
