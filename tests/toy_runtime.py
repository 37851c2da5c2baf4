"""A toy runtime, registered from outside edgetl: the whole cost of a new runtime is this file.

A ``.toy`` file is JSON: a linear classifier ``softmax(x . W + b)`` over the flattened normalised pixels, with its
contract inside (``"contract"``). Importing this module registers it (``edgetl.runtime.registry.register``);
naming it in ``EDGETL_RUNTIMES`` makes benchmark's worker processes load it too. tests/test_runtime_registry.py
shows it in ``edgetl benchmark`` (with ``--ops``), ``edgetl inspect`` and the parity gate.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgetl.errors import EdgetlError
from edgetl.formats.contract import Contract, TensorSpec
from edgetl.runtime.registry import Runtime, register
from edgetl.runtime.runners import Runner


def write_toy(path, weights: np.ndarray, bias: np.ndarray, contract: Contract) -> Path:
    """A .toy file: W (h*w*3, classes), b (classes,) and its contract, as JSON."""
    path = Path(path)
    path.write_text(json.dumps({"weights": np.asarray(weights).tolist(), "bias": np.asarray(bias).tolist(),
                                "contract": contract.to_dict()}))
    return path


def _load(path: Path) -> dict:
    try:
        doc = json.loads(Path(path).read_text())
        doc["weights"], doc["bias"] = np.asarray(doc["weights"], np.float32), np.asarray(doc["bias"], np.float32)
        return doc
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise EdgetlError(f"{path} is not a valid toy model ({type(e).__name__}); write it with write_toy") from e


class ToyRunner(Runner):
    runtime = "toy"

    def __init__(self, path, contract=None, **_ignored):
        doc = _load(path)
        self.weights, self.bias = doc["weights"], doc["bias"]
        super().__init__(Path(path), contract or Contract.from_dict(doc["contract"]))

    def input_spec(self) -> TensorSpec:
        return TensorSpec("float32")

    def output_spec(self) -> TensorSpec:
        return TensorSpec("float32")

    def invoke(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(len(x), -1) @ self.weights + self.bias  # logits; the contract's activation is softmax


def _contract_text(path: Path):
    return json.dumps(_load(path)["contract"])


def _inspect(path: Path) -> dict:
    doc = _load(path)
    c = doc["contract"]
    w = doc["weights"]
    return {"file": str(path), "format": "toy", "bytes": Path(path).stat().st_size,
            "metadata": {"labels": len(c["labels"]), "activation": c["output"]["activation"]},
            "inputs": [{"name": "pixels", "shape": [1, c["input"]["height"], c["input"]["width"], 3], "dtype": "float32"}],
            "outputs": [{"name": "logits", "shape": [1, w.shape[1]], "dtype": "float32"}],
            "subgraphs": 1, "tensors": {"count": 4}, "ops": {"MatMul": 1, "Add": 1}, "op_count": 2}


def _count_macs(path, runner=None) -> dict:
    w = runner.weights if runner is not None else _load(path)["weights"]
    return {"macs": int(w.shape[0] * w.shape[1]), "precision": "float32"}


def _profile_ops(path, threads=1, runs=30, xnnpack=True, per_op=True) -> dict:
    """Every op runs in numpy: one node, all of the time."""
    return {"artifact": str(path), "runtime": "toy", "threads": threads, "nodes": 1, "providers": {"numpy": 1},
            "by_op": [{"op": "MatMul", "count": 1, "share": 1.0}]}


TOY = register(Runtime("toy", (".toy",), ToyRunner, sidecar=False, read_contract=_contract_text, inspect=_inspect,
                       profile_ops=_profile_ops, count_macs=_count_macs))
