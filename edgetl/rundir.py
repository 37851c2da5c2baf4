"""A run directory: what `edgetl train --out DIR` writes and every later stage reads.

    DIR/model.keras      trained tf_keras model (flat functional; float32 NHWC input, normalised per contract)
    DIR/contract.json    the Keras model's contract (labels, size, mean/std, channel order, ...)
    DIR/labels.txt       one class name per line, in output order
    DIR/history.json     per-epoch metrics of both phases
    DIR/metrics.json     {"test": {accuracy, loss, per_class, confusion_matrix[, auc]}}
    DIR/manifest.json    versions, seed, data options and hash, the command, weights source
    DIR/model_<mode>.tflite + model_<mode>.json, model.onnx, ...   (later stages)
    DIR/.edgetl.lock     the run's lock: one writing command at a time (``run_lock``)

``RunDir`` owns everything a stage needs from a run: its files (checked when opened, so a damaged
manifest or contract is one line, not a traceback), the model to convert, the run's own data
splits, calibration images and the parity gate. Every derived artifact records the model it came
from by SHA-256 (``source_model`` in its contract; ``model_pruned.json`` for a pruned Keras model):
an artifact whose model has changed since is *stale*, refused by every consumer and removed when
the model is retrained.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import os
import shutil
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from edgetl.errors import EdgetlError, damaged
from edgetl.fsutil import file_sha256, listed, mapping_of, read_checked_json, sweep_temp  # noqa: F401 - file_sha256 re-exported
from edgetl.formats.contract import Contract
from edgetl.runtime import registry
from edgetl.runtime.runners import RUN_CONTRACT_FILE, RUN_MODEL_FILE, load_keras_model, sidecar_path

MANIFEST_FILE = "manifest.json"
LOCK_FILE = ".edgetl.lock"
SOURCE_KEY = "source_model"  # {"file": "model.keras", "sha256": "..."}: the Keras model an artifact came from


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_dir() or not (self.path / RUN_CONTRACT_FILE).is_file() or not (self.path / MANIFEST_FILE).is_file():
            raise EdgetlError(f"{self.path} is not an edgetl run directory (no {RUN_CONTRACT_FILE}/{MANIFEST_FILE}); "
                              "pass the --out folder of `edgetl train`")
        self._manifest = self._read_manifest()
        self._contract = self._read_contract()

    # ---- the run's files ------------------------------------------------------------------------
    @property
    def model_path(self) -> Path:
        return self.path / RUN_MODEL_FILE

    def _read_manifest(self) -> dict:
        from edgetl.data.sources import DataOptions

        def shape(m):
            wrong = mapping_of(m, keys=("data",))
            if wrong:
                return wrong
            opts = m["data"].get("options") if isinstance(m["data"], dict) else None
            if not isinstance(opts, dict):
                return "no data.options mapping"
            if not isinstance(m.get("config") or {}, dict):
                return "'config' is not an object"
            try:
                DataOptions(**opts).check()
            except (TypeError, ValueError, EdgetlError) as err:
                return f"bad data.options: {err}"
            return None

        return read_checked_json(self.path / MANIFEST_FILE, shape)

    def _read_contract(self) -> Contract:
        return Contract.load(self.path / RUN_CONTRACT_FILE)

    def contract(self) -> Contract:
        return self._contract

    def manifest(self) -> dict:
        return self._manifest

    def resolve_model(self, model: Optional[str] = None) -> Path:
        """The Keras model to convert: the run's model.keras, or ``model`` (a path, or a file name inside the run)."""
        if not model:
            return self.require_model()
        p = Path(model)
        if not p.exists() and (self.path / p).exists():
            p = self.path / p
        if not p.is_file():
            raise EdgetlError(f"--model {model} not found; pass a .keras file such as {self.path / 'model_pruned.keras'} "
                              "(written by `edgetl prune`)")
        self.check_fresh(p)
        return p

    def require_model(self) -> Path:
        """The run's model.keras, or a one-line ``damaged`` error when it is gone."""
        if not self.model_path.is_file():
            raise damaged(self.model_path, "the trained model is missing")
        return self.model_path

    def load_model(self, path: Optional[Path] = None):
        return load_keras_model(path or self.require_model())

    # ---- the run's data --------------------------------------------------------------------------
    def splits(self, data: Optional[str] = None, limit_per_class: Optional[int] = None):
        """The run's own data, split exactly as in training (same options and seed); ``data`` overrides the source.

        Decoded in memory or left as file lists by the rule training used (``data.access.open_splits`` with the
        run's ``--input-pipeline``), so a run too big for memory in training is streamed here too.
        """
        from edgetl.data.access import open_splits
        from edgetl.data.sources import DataOptions

        opts = DataOptions(**self._manifest["data"]["options"])
        if data:
            opts.source = data
        if limit_per_class:
            opts.limit_per_class = limit_per_class
        src = opts.source
        if src != "digits" and not src.startswith("tfds:") and not Path(src).is_dir():
            raise EdgetlError(f"this run's data folder {src} is gone; pass --data DIR (the same class folders) to use it")
        c = self.contract()
        choice = (self._manifest.get("config") or {}).get("input_pipeline") or "auto"
        splits, _ = open_splits(opts, c.height, choice)
        if splits.class_names != list(c.labels):
            raise EdgetlError(f"--data {src} has classes {splits.class_names} but the run's labels are {c.labels}; "
                              "pass the data the run was trained on")
        return splits

    def splits_or_none(self, data: Optional[str], required: bool, why: str):
        """The run's splits; when its data folder is gone, an error if ``required`` (or ``data`` was given) else None."""
        try:
            return self.splits(data)
        except EdgetlError as e:
            if required or data:
                raise EdgetlError(f"{e} ({why})" if why else str(e)) from e
            return None

    @staticmethod
    def calibration(splits, n: int, seed: int = 0) -> np.ndarray:
        """Up to ``n`` training images, stratified (each class in its training share) and seeded; only those are
        decoded when the run streams."""
        from edgetl.data.access import split_labels, split_pixels

        labels = split_labels(splits, "train")
        n = min(int(n), len(labels))
        if n >= len(labels):
            return split_pixels(splits, "train", np.arange(len(labels)))[0]
        classes, counts = np.unique(labels, return_counts=True)
        exact = counts * n / len(labels)
        quota = np.floor(exact).astype(int)
        for i in np.argsort(-(exact - quota), kind="stable")[: n - int(quota.sum())]:  # largest remainders
            quota[i] += 1
        rng = np.random.default_rng(seed)
        idx = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:q] for c, q in zip(classes, quota)])
        return split_pixels(splits, "train", np.sort(idx))[0]

    def gate(self, keras_model, model_path, contract, splits, agreement, parity_images):
        """The parity gate for this run: a stratified seeded sample of its validation images, the whole split when
        small and ``parity_images`` is None (``parity.gate_sample``); random pixels when its data is gone. Test
        accuracy is counted on the whole test split, streamed batch by batch when the run streams."""
        from edgetl.data.access import predict_split, split_labels, split_pixels
        from edgetl.runtime.parity import Gate, gate_sample
        from edgetl.runtime.runners import KerasRunner

        ref = KerasRunner(model_path, contract, model=keras_model)
        if splits is not None and (len(splits.val) or len(splits.train)):
            source = "val" if len(splits.val) else "train"
            pixels = split_pixels(splits, source, gate_sample(split_labels(splits, source), parity_images))[0]
        else:
            rng = np.random.default_rng(0)
            n = min(int(parity_images or 32), 32)
            pixels = rng.integers(0, 256, (n, contract.height, contract.width, 3), dtype=np.uint8)
            source = "random (data folder gone; pass --data for real images)"
        gate = Gate(ref, pixels, dict(agreement or {}), pixels_source=source)
        if splits is not None and len(splits.test):
            gate.eval_with = lambda runner: predict_split(runner.predict, splits, "test", contract)
        return gate

    # ---- provenance: which model each artifact came from ---------------------------------------------
    def provenance(self, model_path: str | Path) -> dict:
        """What an artifact made from ``model_path`` records as its source."""
        p = Path(model_path)
        if not p.is_file():
            raise damaged(p, "the model is missing")
        return {"file": p.name, "sha256": file_sha256(p)}

    def contract_for(self, model_path: str | Path) -> Contract:
        """The run's contract, stamped with ``model_path`` as source: what every artifact made from it carries."""
        return self.contract().replace(source_model=self.provenance(model_path))

    def record_source(self, derived: str | Path, model_path: str | Path) -> None:
        """Record beside a derived Keras model (``model_pruned.keras`` -> ``model_pruned.json``) the model it came from."""
        from edgetl.fsutil import write_json

        write_json(sidecar_path(derived), {SOURCE_KEY: self.provenance(model_path)})

    def stale_reason(self, artifact: str | Path) -> Optional[str]:
        """Why ``artifact`` (a file of this run, or one copied anywhere else) does not come from the run's current model,
        or None if it does."""
        p = Path(artifact)
        rt = registry.find(p)
        if p.name == RUN_MODEL_FILE or rt is None:
            return None
        fix = ("re-run `edgetl prune`" if rt.name == "keras"
               else f"re-run `edgetl quantize`/`edgetl convert` on {self.path}")
        try:
            src = _recorded_source(p)
        except _NoRecord:
            return None  # not an edgetl artifact (no contract): nothing to compare
        except _BadRecord as err:
            return f"{p.name} has an unreadable contract ({err}); {fix}"
        if not isinstance(src, dict) or not src.get("file") or not src.get("sha256"):
            return f"{p.name} does not record which model.keras it came from (made before this run was retrained?); {fix}"
        model = self.path / Path(str(src["file"])).name
        if not model.is_file():
            return f"{p.name} was made from {model.name}, which is gone; {fix}"
        upstream = self.stale_reason(model)
        if upstream:
            return f"{p.name} was made from a stale {model.name}; {fix}"
        if file_sha256(model) != src["sha256"]:
            return f"{p.name} was made from an older {model.name} (it changed since: retrained?); {fix}"
        return None

    def check_fresh(self, artifact: str | Path) -> None:
        """Raise a one-line EdgetlError when ``artifact`` (in this run or anywhere else) was not made from this
        run's current model, by the source hash its contract records."""
        reason = self.stale_reason(artifact)
        if reason:
            raise EdgetlError(reason)

    def artifacts(self) -> list:
        """Every derived model file of the run (any registered runtime's: TFLite, ONNX, Keras other than model.keras);
        never a temp file."""
        return [p for p in listed(self.path) if registry.find(p) is not None and p.name != RUN_MODEL_FILE]

    def remove_stale(self) -> list:
        """Delete every artifact (and its contract) that does not come from the current model; returns the paths."""
        removed = []
        for p in self.artifacts():
            if p.exists() and self.stale_reason(p):
                for f in (p, *registry.contract_files(p)):  # ONNX: contract inside, no file beside
                    if f.exists() and f != self.path / RUN_CONTRACT_FILE:
                        f.unlink()
                        removed.append(f)
        self._forget_gates()
        return removed

    def _forget_gates(self) -> None:
        """Drop the saved parity-gate records (gate.json) of files that are gone; a damaged gate.json goes whole."""
        from edgetl.fsutil import write_json
        from edgetl.runtime.parity import GATE_FILE, load_records

        path = self.path / GATE_FILE
        if not path.exists():
            return
        try:
            records = load_records(self.path)
        except EdgetlError:
            path.unlink()
            return
        kept = {name: rec for name, rec in records.items() if (self.path / name).is_file()}
        if not kept:
            path.unlink()
        elif kept != records:
            write_json(path, kept)


def read_metrics(run_dir: str | Path) -> dict:
    """A run's metrics.json, shape-checked: {"test": {..., "confusion_matrix": [[...]]}, ...}."""
    def shape(m):
        wrong = mapping_of(m, keys=("test",))
        if wrong or not isinstance(m["test"], dict):
            return wrong or "'test' is not an object"
        cm = m["test"].get("confusion_matrix")
        if not isinstance(cm, list) or not all(isinstance(r, list) for r in cm):
            return "test.confusion_matrix is not a list of rows"
        if not isinstance(m.get("data") or {}, dict):
            return "'data' is not an object"
        return None

    return read_checked_json(Path(run_dir) / "metrics.json", shape)


def read_history(run_dir: str | Path) -> dict:
    """A run's history.json, shape-checked: {metric name: [value per epoch]} (per phase)."""
    def shape(h):
        wrong = mapping_of(h)
        if wrong:
            return wrong
        for phase in ("phase1", "phase2"):
            v = h.get(phase) or {}
            if not isinstance(v, dict) or not all(isinstance(v.get(k, []), list)
                                                  for k in ("loss", "accuracy", "val_loss", "val_accuracy")):
                return f"'{phase}' is not an object with per-epoch lists"
        return None

    return read_checked_json(Path(run_dir) / "history.json", shape)


def check_fresh(artifact: str | Path) -> None:
    """Raise a one-line EdgetlError when ``artifact`` sits in a run folder and is stale there (see ``RunDir``)."""
    reason = stale_reason(artifact)
    if reason:
        raise EdgetlError(reason)


def stale_reason(artifact: str | Path) -> Optional[str]:
    """``RunDir.stale_reason`` for a file inside a run folder; None for a file outside any run."""
    p = Path(artifact)
    parent = p.parent
    if not (parent / MANIFEST_FILE).is_file() or not (parent / RUN_CONTRACT_FILE).is_file():
        return None
    try:
        run = RunDir(parent)
    except EdgetlError as err:
        return str(err)
    return run.stale_reason(p)


class _NoRecord(Exception):
    pass


class _BadRecord(Exception):
    pass


def _recorded_source(p: Path):
    """The ``source_model`` an artifact records (None when its contract has none), read where its runtime keeps the
    contract (``runtime.registry``)."""
    try:
        doc = registry.recorded_contract(p)
    except ValueError as err:
        raise _BadRecord(str(err)) from err
    if doc is None:
        raise _NoRecord()
    return doc.get(SOURCE_KEY)


# ---- one command per run folder ------------------------------------------------------------------------

_HELD: dict = {}  # resolved run path -> depth: a process holding a run's lock may take it again (edgetl run -> stages)


@contextlib.contextmanager
def run_lock(path: str | Path, command: str = "edgetl", *, create: bool = False) -> Iterator[Path]:
    """Hold ``path``'s lock (``fcntl.flock`` on ``path/.edgetl.lock``) for one writing command.

    A second command on the same run gets a one-line EdgetlError naming the holder, instead of two
    commands mixing a ``.tflite`` of one with the ``.json`` of the other. ``create``: make the folder
    if needed; it is removed again if the block fails while the folder holds nothing but the lock.
    """
    p = Path(path)
    if not create and not p.is_dir():  # nothing to lock: the caller reports the missing run in its own words
        yield p
        return
    created = False
    if create and not p.exists():
        try:
            p.mkdir(parents=True)
        except OSError as err:
            raise EdgetlError(f"cannot create output folder {p}: {err.strerror or err}; pass a writable --out") from err
        created = True
    key = str(p.resolve())
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield p
        finally:
            _HELD[key] -= 1
        return
    try:
        fd = os.open(p / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        if err.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
            raise EdgetlError(f"cannot write to run folder {p}: {err.strerror}; pass a writable folder") from err
        raise
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            holder = os.pread(fd, 300, 0).decode("utf-8", "replace").strip() or "another edgetl command"
            raise EdgetlError(f"{p} is in use by {holder}; wait for it to finish, or use another run folder") from err
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}: {command}".encode(), 0)
        sweep_temp(p)  # what a killed command left half-written: nobody else writes here while we hold the lock
        _HELD[key] = 1
        ok = False
        try:
            yield p
            ok = True
        finally:
            del _HELD[key]
            if created and not ok and all(c.name.startswith(".") for c in p.iterdir()):
                shutil.rmtree(p, ignore_errors=True)
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def locks_run(command: str):
    """Decorator: hold the lock of the run folder passed as first argument (a path, or a stage config whose
    ``run`` is one) while ``fn`` runs (see ``run_lock``)."""
    def deco(fn):
        @functools.wraps(fn)
        def wrapper(first, *args, **kwargs):
            with run_lock(getattr(first, "run", first), command):
                return fn(first, *args, **kwargs)
        return wrapper
    return deco
