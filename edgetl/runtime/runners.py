"""The runners: an opened artifact (Keras, TFLite via ai-edge-litert, ONNX via onnxruntime) that predicts images
through its contract.

Parity gate, evaluation, benchmark and the Android contract tests all open files with
``runtime.registry.open_artifact`` (which picks the runner by the file's runtime entry); no consumer
re-implements preprocessing.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from edgetl.formats.contract import Contract, TensorSpec, read_labels
from edgetl.formats.registry import ONNX_CONTRACT_KEY
from edgetl.errors import EdgetlError
from edgetl.data.images import load_image

RUN_MODEL_FILE = "model.keras"
RUN_CONTRACT_FILE = "contract.json"


def sidecar_path(artifact: str | Path) -> Path:
    """Where a TFLite/ONNX artifact's contract JSON lives: model_int8.tflite -> model_int8.json."""
    return Path(artifact).with_suffix(".json")


class Runner:
    """An opened artifact. ``invoke`` takes the exact input tensor; ``predict`` takes uint8 RGB pixels."""

    runtime = "?"
    xnnpack: Optional[bool] = None  # whether the XNNPACK delegate runs it (TFLite); None where that does not apply

    def __init__(self, path: Path, contract: Contract):
        self.path = Path(path)
        self.contract = contract

    # subclasses implement: invoke(x) for a batch of prepared inputs, input_spec(), output_spec()
    def invoke(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def prepare(self, pixels: np.ndarray) -> np.ndarray:
        return self.contract.to_input(pixels)

    def timed_call(self, x: np.ndarray):
        """The zero-argument call benchmark's timed loop repeats on the prepared input ``x`` (the bare invoke)."""
        return lambda: self.invoke(x)

    def max_batch(self) -> int:
        """The batch size benchmark's accuracy pass calls ``predict`` with."""
        return 32

    def predict(self, pixels: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """uint8 NHWC RGB pixels at the contract's size -> probabilities (N, len(labels))."""
        pixels = np.asarray(pixels)
        if pixels.ndim == 3:
            pixels = pixels[None]
        out = [self.contract.to_probabilities(self.invoke(self.prepare(pixels[i:i + batch_size])))
               for i in range(0, len(pixels), batch_size)]
        return np.concatenate(out, axis=0) if out else np.zeros((0, len(self.contract.labels)), np.float32)

    def predict_files(self, paths: Sequence[str | Path]) -> np.ndarray:
        c = self.contract
        return self.predict(np.stack([load_image(p, c.height, c.width) for p in paths]))

    def random_input(self, seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        pixels = rng.integers(0, 256, size=(1, self.contract.height, self.contract.width, 3), dtype=np.uint8)
        return self.prepare(pixels)


# ---- TFLite ---------------------------------------------------------------------------

class TFLiteRunner(Runner):
    runtime = "tflite"

    def __init__(self, path, contract: Optional[Contract] = None, labels=None, threads: Optional[int] = None, xnnpack: bool = True,
                 preserve_tensors: bool = False):
        """``preserve_tensors``: keep every intermediate tensor readable after invoke (no XNNPACK; `edgetl search`
        reads an int8 file's own pooled features this way)."""
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        path = Path(path)
        kwargs = {"num_threads": threads} if threads else {}
        if not xnnpack or preserve_tensors:
            kwargs["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        if preserve_tensors:
            kwargs["experimental_preserve_all_tensors"] = True
        try:
            self.interpreter = Interpreter(model_path=str(path), **kwargs)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise EdgetlError(f"{path} is not a valid TFLite model ({str(e).splitlines()[0][:160]}); re-export it with `edgetl quantize`") from e
        self._in = self.interpreter.get_input_details()[0]
        self._out = self.interpreter.get_output_details()[0]
        self.xnnpack = bool(xnnpack and not preserve_tensors)
        if contract is None:
            meta = _tflite_metadata(path)
            contract = _contract_beside(path) or _embedded_contract(meta) or self._infer_contract(path, labels, meta)
        super().__init__(path, contract)

    def input_spec(self) -> TensorSpec:
        return _spec_of(self._in)

    def output_spec(self) -> TensorSpec:
        return _spec_of(self._out)

    def invoke_one(self, x: np.ndarray) -> np.ndarray:
        it = self.interpreter
        it.set_tensor(self._in["index"], x)
        it.invoke()
        return it.get_tensor(self._out["index"])

    def invoke(self, x: np.ndarray) -> np.ndarray:
        return np.concatenate([self.invoke_one(x[i:i + 1]) for i in range(len(x))], axis=0)

    def timed_call(self, x: np.ndarray):
        """The input is set once and ``interpreter.invoke`` is timed, as TFLite's benchmark_model does."""
        self.interpreter.set_tensor(self._in["index"], x)
        return self.interpreter.invoke

    def _infer_contract(self, path: Path, labels, meta: Optional[dict] = None) -> Contract:
        """A contract for a TFLite file nobody here made: labels and normalisation from its TFLite metadata when it
        has some, else uint8 input means raw pixels go in as they are."""
        from edgetl.formats import metadata as tflite_metadata

        inp, out = self.input_spec(), self.output_spec()
        if labels is None and meta is not None and tflite_metadata.labels(meta):
            labels = tflite_metadata.labels(meta)
        labels = _find_labels(path, labels)
        norm = next((t["normalization"] for t in (meta or {}).get("inputs", []) if "normalization" in t), None)
        if norm is not None and not inp.quantized:
            mean = [float(x) for x in norm["mean"]] * (3 if len(norm["mean"]) == 1 else 1)
            std = [float(x) for x in norm["std"]] * (3 if len(norm["std"]) == 1 else 1)
        elif inp.quantized:
            # choose mean/std so that quantize(normalize(p)) == p: mean = zero_point, std = 1/scale
            mean = [float(inp.zero_point)] * 3
            std = [1.0 / float(inp.scale)] * 3
        else:
            raise EdgetlError(f"{path} has a float input and no contract ({sidecar_path(path).name}); "
                              "its normalisation is unknown: export it with edgetl or write that JSON beside it")
        h, w = int(self._in["shape"][1]), int(self._in["shape"][2])
        units = int(np.prod(self._out["shape"][1:]))
        c = Contract(labels=labels, height=h, width=w, mean=mean, std=std, input=inp, output=out,
                     output_units=units, activation="none", artifact="tflite:foreign")
        c.check_labels()
        return c


def _spec_of(detail) -> TensorSpec:
    dtype = np.dtype(detail["dtype"]).name
    scale, zp = detail.get("quantization", (0.0, 0))
    if dtype in ("uint8", "int8") and scale:
        return TensorSpec(dtype, float(scale), int(zp))
    return TensorSpec(dtype)


def _find_labels(path: Path, labels) -> list:
    if isinstance(labels, (list, tuple)):
        return list(labels)
    if labels is not None:
        return read_labels(labels)
    candidates = [path.parent / "labels.txt"] + sorted(path.parent.glob("*labels*.txt"))
    for c in candidates:
        if c.is_file():
            return read_labels(c)
    raise EdgetlError(f"no contract or labels file found for {path}; pass --labels FILE")


def _tflite_metadata(path: Path) -> Optional[dict]:
    """The file's TFLite metadata (edgetl.formats.metadata.read), or None when it has none or it does not parse."""
    from edgetl.formats import metadata as tflite_metadata

    try:
        return tflite_metadata.read(path)
    except EdgetlError:
        return None


def _embedded_contract(meta: Optional[dict]) -> Optional[Contract]:
    from edgetl.formats import metadata as tflite_metadata

    return tflite_metadata.embedded_contract(meta) if meta else None


def _contract_beside(path: Path) -> Optional[Contract]:
    side = sidecar_path(path)
    return Contract.load(side) if side.is_file() else None


# ---- ONNX -----------------------------------------------------------------------------

class OnnxRunner(Runner):
    runtime = "onnx"

    def __init__(self, path, contract: Optional[Contract] = None, labels=None, threads: Optional[int] = None):
        import onnxruntime as ort

        path = Path(path)
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = int(threads)
            opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types
            raise EdgetlError(f"{path} is not a valid ONNX model ({str(e).splitlines()[0][:160]}); re-export it with `edgetl convert`") from e
        self._in = self.session.get_inputs()[0]
        self._out_name = self.session.get_outputs()[0].name
        if contract is None:
            meta = self.session.get_modelmeta().custom_metadata_map
            if ONNX_CONTRACT_KEY in meta:
                contract = Contract.from_json(meta[ONNX_CONTRACT_KEY])
            else:
                contract = _contract_beside(path)
            if contract is None:
                raise EdgetlError(f"{path} carries no edgetl contract (metadata '{ONNX_CONTRACT_KEY}'); export it with `edgetl convert`")
        super().__init__(path, contract)

    def input_spec(self) -> TensorSpec:
        return self.contract.input

    def output_spec(self) -> TensorSpec:
        return self.contract.output

    def max_batch(self) -> int:
        """1 for a model exported with a fixed batch of 1 (it rejects bigger batches), else 32."""
        dim = self._in.shape[0] if self._in.shape else None
        return 1 if isinstance(dim, int) and dim == 1 else 32

    def invoke(self, x: np.ndarray) -> np.ndarray:
        if self._in.shape and self._in.shape[0] == 1 and len(x) > 1:  # a fixed batch of 1 (e.g. converted from TFLite)
            return np.concatenate([self.session.run([self._out_name], {self._in.name: x[i:i + 1]})[0]
                                   for i in range(len(x))], axis=0)
        return self.session.run([self._out_name], {self._in.name: x})[0]


# ---- Keras ----------------------------------------------------------------------------

class KerasRunner(Runner):
    """The Keras model, called through a tf.function at inference (batch-norm and dropout in inference mode)."""

    runtime = "keras"

    def __init__(self, path, contract: Optional[Contract] = None, model=None, **_ignored):
        from edgetl import _tf

        path = Path(path)
        model_file = path / RUN_MODEL_FILE if path.is_dir() else path
        if contract is None:
            side = model_file.parent / RUN_CONTRACT_FILE
            if not side.is_file():
                raise EdgetlError(f"no {RUN_CONTRACT_FILE} beside {model_file}; pass a run directory made by `edgetl train`")
            contract = Contract.load(side)
        if model is None:
            model = load_keras_model(model_file)
        self.model = model
        tf = _tf.tf()
        spec = tf.TensorSpec([None, contract.height, contract.width, 3], tf.float32)
        self._fn = tf.function(lambda x: self.model(x, training=False), input_signature=[spec])  # one trace, any batch
        super().__init__(model_file, contract)

    def input_spec(self) -> TensorSpec:
        return TensorSpec("float32")

    def output_spec(self) -> TensorSpec:
        return TensorSpec("float32")

    def invoke(self, x: np.ndarray) -> np.ndarray:
        return self._fn(x).numpy()


def load_keras_model(path: str | Path):
    from edgetl import _tf

    keras = _tf.keras()
    path = Path(path)
    if not path.is_file():
        raise EdgetlError(f"model file {path} not found; pass a run directory made by `edgetl train`")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as e:  # load_model raises many types for foreign files
        raise EdgetlError(f"{path} does not load as a tf_keras model ({str(e).splitlines()[0][:160]}); retrain with `edgetl train`") from e


def top_k(probs: np.ndarray, labels: Sequence[str], k: int = 3) -> list:
    """[(label, score), ...] best first, for one probability vector."""
    idx = np.argsort(-probs, kind="stable")[:k]
    return [(labels[i], float(probs[i])) for i in idx]
