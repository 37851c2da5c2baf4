"""The runtime registry: one ``Runtime`` entry per engine that runs a model file (Keras, LiteRT, ONNX Runtime).

An entry says which file suffixes the engine opens, how to open one (its ``runtime.runners`` class), where the
file's contract lives, what ``edgetl inspect`` reads from the file alone, and the two measuring hooks: the op
profiler (``benchmark --ops``) and the MAC counter (GMAC/s, % of peak). Every consumer asks the registry
(``runtime_for(path)``) instead of comparing suffixes: ``open_artifact`` (gate, evaluate, predict, benchmark),
the run directory's artifact list and stale check, benchmark's folder listing, inspect and the parity gate.

The op profilers and MAC counters of the built-in runtimes live in ``measure/`` (above this layer), so that
package attaches them to their entries (``attach``) when its modules load; the only readers of those two hooks
are in those same modules. A runtime from elsewhere registers everything at once: a module that calls
``register(Runtime(...))``, named in the environment variable ``EDGETL_RUNTIMES`` (comma-separated module names)
so that benchmark's worker processes load it too (tests/toy_runtime.py is one).
"""
from __future__ import annotations

import importlib
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Optional

from edgetl.errors import EdgetlError
from edgetl.formats import inspect as file_inspect
from edgetl.formats.registry import ONNX_CONTRACT_KEY
from edgetl.runtime import runners
from edgetl.runtime.runners import RUN_MODEL_FILE, Runner, sidecar_path

PLUGINS_ENV = "EDGETL_RUNTIMES"


def sidecar_contract(path: Path) -> Optional[str]:
    """The contract JSON written beside the file (``<stem>.json``), None without one."""
    side = sidecar_path(path)
    return side.read_text(encoding="utf-8", errors="replace") if side.is_file() else None


@dataclass
class Runtime:
    name: str  # "tflite": the runner's ``runtime``, the "runtime" column of benchmark rows
    suffixes: tuple  # (".tflite",): the files it opens, lower case
    # runner(path, contract=None, *, labels=None, threads=None, xnnpack=True) -> runners.Runner
    runner: Callable[..., Runner]
    # where the contract lives: True = ``<stem>.json`` beside the file (written, copied, deleted and read with it)
    sidecar: bool = True
    # path -> the contract JSON as written, without opening the engine (the run's stale check); None without one;
    # raises for a file it cannot read
    read_contract: Callable[[Path], Optional[str]] = sidecar_contract
    # path -> {"file", "format", "bytes", "metadata", "inputs", "outputs", "tensors", "ops", "op_count"}: `edgetl inspect`
    inspect: Optional[Callable[[Path], dict]] = None
    # (path, threads=, runs=, xnnpack=, per_op=) -> op coverage profile (measure/ops.py's shape): `benchmark --ops`
    profile_ops: Optional[Callable[..., dict]] = None
    # (path, opened runner or None) -> {"macs": int, "precision": "int8" | "float32"}: GMAC/s, % of peak in benchmark
    count_macs: Optional[Callable[[Path, Optional[Runner]], dict]] = None
    # threads -> None: benchmark's worker imports the engine (and sizes its thread pools) before the clock starts
    preimport: Optional[Callable[[int], None]] = None
    # a folder given to benchmark lists this runtime's files (Keras: only the run's own model.keras)
    in_folders: bool = True


_RUNTIMES: dict = {}
_plugins_loaded: set = set()


def register(rt: Runtime) -> Runtime:
    """Add (or replace, by name) an entry; its suffixes must not belong to another runtime."""
    rt = replace(rt, suffixes=tuple(s.lower() for s in rt.suffixes))
    for other in _RUNTIMES.values():
        taken = set(other.suffixes) & set(rt.suffixes)
        if other.name != rt.name and taken:
            raise ValueError(f"runtime {rt.name}: suffix {sorted(taken)} already belongs to runtime {other.name}")
    _RUNTIMES[rt.name] = rt
    return rt


def unregister(name: str) -> None:
    _RUNTIMES.pop(name, None)


def attach(name: str, **hooks) -> None:
    """Fill hooks (``profile_ops``, ``count_macs``) of a registered entry, in place (an entry already looked up sees
    them too); measure/ attaches its own this way."""
    entry = _RUNTIMES[name]
    for key, hook in hooks.items():
        if not hasattr(entry, key):
            raise TypeError(f"Runtime has no hook {key}")
        setattr(entry, key, hook)


def _load_plugins() -> None:
    for module in filter(None, (m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(","))):
        if module in _plugins_loaded:
            continue
        try:
            importlib.import_module(module)
        except Exception as e:  # any failure of a plugin's import: one line naming the variable
            raise EdgetlError(f"{PLUGINS_ENV} names {module}, which does not import ({type(e).__name__}: "
                              f"{str(e)[:120]}); fix PYTHONPATH or remove it from {PLUGINS_ENV}") from e
        _plugins_loaded.add(module)


def runtimes() -> list:
    """Every registered entry, built-in ones first."""
    _load_plugins()
    return list(_RUNTIMES.values())


def get(name: str) -> Runtime:
    for rt in runtimes():
        if rt.name == name:
            return rt
    raise KeyError(name)


def describe() -> str:
    """".keras/.h5, .tflite, .onnx": what edgetl opens, for messages."""
    return ", ".join("/".join(rt.suffixes) for rt in runtimes())


def find(path: str | Path) -> Optional[Runtime]:
    """The entry whose suffix ``path`` has (a run directory: its model.keras's), or None."""
    p = Path(path)
    if p.is_dir():
        p = p / RUN_MODEL_FILE
    suffix = p.suffix.lower()
    return next((rt for rt in runtimes() if suffix in rt.suffixes), None)


def runtime_for(path: str | Path) -> Runtime:
    """The entry that opens ``path``, or a one-line EdgetlError naming what edgetl opens."""
    p = Path(path)
    if p.is_dir() and not (p / RUN_MODEL_FILE).is_file():
        raise EdgetlError(f"{p} is a folder but not an edgetl run directory (no {RUN_MODEL_FILE}); "
                          "pass a run made by `edgetl train --out`")
    rt = find(p)
    if rt is None:
        raise EdgetlError(f"{p} is not a model file edgetl can open ({describe()} or a run directory)")
    return rt


def open_artifact(path: str | Path, contract=None, labels=None, threads: Optional[int] = None,
                  xnnpack: bool = True) -> Runner:
    """Open any artifact through its runtime's entry; its contract comes from the artifact itself unless one is given."""
    p = Path(path)
    if not p.exists():
        raise EdgetlError(f"{p} does not exist; pass a model file ({describe()}) or a run directory")
    return runtime_for(p).runner(p, contract, labels=labels, threads=threads, xnnpack=xnnpack)


def contract_files(path: str | Path) -> list:
    """The files beside ``path`` that hold its contract and go with it (copied, deleted): ``[<stem>.json]`` or []."""
    rt = find(path)
    return [sidecar_path(path)] if rt is not None and rt.sidecar else []


def recorded_contract(path: str | Path) -> Optional[dict]:
    """The contract ``path`` carries as written (sidecar or inside the file), parsed; None without one.
    Raises ValueError naming what is wrong with an unreadable one."""
    rt = find(path)
    if rt is None:
        return None
    text = rt.read_contract(Path(path))
    if text is None:
        return None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"not valid JSON: {err.msg}") from err
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    return doc


def inspect_artifact(path: str | Path) -> dict:
    """What the file says about itself, read by its runtime's ``inspect`` (see formats/inspect.py)."""
    p = Path(path)
    readable = [rt for rt in runtimes() if rt.inspect]
    names = ", ".join(s for rt in readable for s in rt.suffixes)
    if not p.is_file():
        raise EdgetlError(f"{p} does not exist or is not a file; pass a model file ({names})")
    rt = find(p)
    if rt is None or rt.inspect is None:
        raise EdgetlError(f"{p} is not a {names.replace(', ', ' or ')} file; inspect reads model files "
                          "(run directories: their model_<mode>.tflite)")
    return rt.inspect(p)


# ---- the built-in runtimes ------------------------------------------------------------------------------------

def _onnx_contract(path: Path) -> Optional[str]:
    import onnx

    try:
        meta = {e.key: e.value for e in onnx.load(str(path), load_external_data=False).metadata_props}
    except Exception as err:  # onnx raises DecodeError and others for a damaged file
        raise ValueError(f"not a readable ONNX file: {type(err).__name__}") from err
    return meta.get(ONNX_CONTRACT_KEY)


def _keras_runner(path, contract=None, **_ignored) -> Runner:
    return runners.KerasRunner(path, contract)


def _onnx_runner(path, contract=None, *, labels=None, threads=None, **_ignored) -> Runner:
    return runners.OnnxRunner(path, contract, labels=labels, threads=threads)


def _preimport_tflite(threads: int) -> None:
    import ai_edge_litert.interpreter  # noqa: F401


def _preimport_onnx(threads: int) -> None:
    import onnxruntime  # noqa: F401


def _preimport_keras(threads: int) -> None:
    """TensorFlow's thread pools must be sized before first use."""
    from edgetl import _tf

    tf = _tf.tf()
    _tf.keras()
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)


# Keras: the run's model.keras (contract: RUN_DIR/contract.json; a derived model_pruned.keras records its source
# in model_pruned.json). LiteRT: contract in <stem>.json beside it and embedded (TFLite metadata + zip). ONNX
# Runtime: contract in the model's metadata_props.
register(Runtime("keras", (".keras", ".h5"), _keras_runner, preimport=_preimport_keras, in_folders=False))
register(Runtime("tflite", (".tflite",), runners.TFLiteRunner, inspect=file_inspect.inspect_tflite,
                 preimport=_preimport_tflite))
register(Runtime("onnx", (".onnx",), _onnx_runner, sidecar=False, read_contract=_onnx_contract,
                 inspect=file_inspect.inspect_onnx, preimport=_preimport_onnx))
