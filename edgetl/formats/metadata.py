"""TFLite metadata (the schema MediaPipe Tasks, the TFLite Task Library and Android Studio read), written
from an artifact's Contract and read back.

What goes into a classification ``.tflite`` (the layout tflite-support's MetadataPopulator writes):

- a ``TFLITE_METADATA`` entry in the model's ``metadata`` pointing at a buffer holding a
  ``ModelMetadata`` flatbuffer (file identifier ``M001``): name, version, description, author,
  licence; the image input with ``ImageProperties`` (RGB) and ``NormalizationOptions`` (mean/std);
  the output with ``labels.txt`` as its ``TENSOR_AXIS_LABELS`` file; the model-level associated file
  ``edgetl_contract.json`` (the artifact's full contract, the same JSON as its sidecar);
- those associated files in a zip archive appended to the flatbuffer (stored, not deflated: the
  readers map them in place), so the ``.tflite`` is also a valid zip.

The sidecar JSON and the metadata both come from one Contract in one call (``populate``), so they
cannot disagree. The schema code is vendored (``metadata_schema_py_generated``, Apache-2.0, from the
mediapipe wheel); the TFLite model schema is ai-edge-litert's, already a dependency.
"""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import flatbuffers

from edgetl.errors import EdgetlError
from edgetl._vendor import metadata_schema_py_generated as md
from edgetl.formats.contract import Contract

METADATA_NAME = "TFLITE_METADATA"
METADATA_IDENTIFIER = b"M001"
TFLITE_IDENTIFIER = b"TFL3"
MIN_PARSER_VERSION = "1.0.0"  # every field written here exists since metadata schema 1.0.0
LABELS_FILE = "labels.txt"
CONTRACT_FILE = "edgetl_contract.json"
_BUFFER_ALIGN = 16  # the TFLite schema's Buffer.data (force_align: 16), which the generated Pack ignores

_COLOR_SPACES = {v: k for k, v in vars(md.ColorSpaceType).items() if not k.startswith("_")}
_FILE_TYPES = {v: k for k, v in vars(md.AssociatedFileType).items() if not k.startswith("_")}


@dataclass
class ModelInfo:
    """The human-readable fields of ModelMetadata."""

    name: str
    version: str
    description: str
    author: str
    license: str

    @classmethod
    def for_contract(cls, contract: Contract, manifest: Optional[dict] = None) -> "ModelInfo":
        """Defaults from the contract and (when known) the run's manifest.json."""
        from edgetl._version import __version__

        m = manifest or {}
        arch = contract.backbone or "model"
        if contract.alpha is not None:
            arch += f" a={contract.alpha:g}"
        kind = contract.artifact or "tflite"
        data = m.get("data") or {}
        data_hash = str(data.get("hash") or "")[:12]
        version = "-".join(x for x in (m.get("created", "").replace(":", ""), data_hash) if x) or __version__
        labels = ", ".join(contract.labels[:20]) + (", ..." if len(contract.labels) > 20 else "")
        desc = (f"Image classifier of {len(contract.labels)} classes ({labels}), {arch} at "
                f"{contract.height}x{contract.width} px, {kind}. Input: the whole RGB image stretched to "
                f"{contract.width}x{contract.height} (bilinear, no crop; edgetl resize '{_resize_name()}'), "
                f"then (pixel - mean) / std. Trained with edgetl {__version__} from "
                f"{contract.weights_source or 'unknown'} weights"
                + (f" on data {data_hash}" if data_hash else "") + ".")
        author = str(m.get("author") or f"edgetl {__version__}")
        license_ = str(m.get("license") or "unspecified: set by the owner of the training data")
        return cls(name=f"{arch} image classifier ({kind})", version=version, description=desc, author=author,
                   license=license_)


    @classmethod
    def for_run(cls, contract: Contract, run_dir) -> "ModelInfo":
        """``for_contract`` with RUN_DIR/manifest.json when ``run_dir`` is a run directory."""
        manifest = None
        path = Path(run_dir) / "manifest.json"
        if path.is_file():
            try:
                manifest = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                manifest = None
        return cls.for_contract(contract, manifest)


def _resize_name() -> str:
    from edgetl.data.images import RESIZE_METHOD

    return RESIZE_METHOD


# ---- building ------------------------------------------------------------------------------------

def axis_labels(contract: Contract) -> list:
    """The labels of the output axis: one per output unit (a single sigmoid unit is ``labels[1]``)."""
    units = contract.output_units or len(contract.labels)
    return [contract.labels[1]] if units == 1 and len(contract.labels) == 2 else list(contract.labels)


def build_metadata(contract: Contract, info: ModelInfo) -> bytes:
    """The ModelMetadata flatbuffer (identifier M001) of a classification model with this contract."""
    mean = [float(x) for x in contract.mean]
    std = [float(x) for x in contract.std]
    inp = md.TensorMetadataT()
    inp.name = "image"
    inp.description = (f"RGB image, {contract.width}x{contract.height}, the whole image stretched (no crop); "
                       f"tensor = (pixel - mean) / std" + (", then quantized to " + contract.input.dtype
                                                           if contract.input.quantized else "")
                       + (". Channel order BGR: not expressible in this schema" if contract.channel_order != "RGB"
                          else ""))
    inp.content = md.ContentT()
    inp.content.contentPropertiesType = md.ContentProperties.ImageProperties
    inp.content.contentProperties = md.ImagePropertiesT()
    inp.content.contentProperties.colorSpace = (md.ColorSpaceType.RGB if contract.channel_order == "RGB"
                                                else md.ColorSpaceType.UNKNOWN)
    norm = md.ProcessUnitT()
    norm.optionsType = md.ProcessUnitOptions.NormalizationOptions
    norm.options = md.NormalizationOptionsT()
    norm.options.mean, norm.options.std = mean, std
    inp.processUnits = [norm]
    inp.stats = md.StatsT()
    inp.stats.max = [(255.0 - m) / s for m, s in zip(mean, std)]
    inp.stats.min = [(0.0 - m) / s for m, s in zip(mean, std)]

    out = md.TensorMetadataT()
    out.name = "probability"
    units = contract.output_units or len(contract.labels)
    out.description = ("Probability of each class" if contract.activation == "none"
                       else f"Scores before {contract.activation}") + (
        f" (one unit: the probability of '{contract.labels[1]}')" if units == 1 else "")
    out.content = md.ContentT()
    out.content.contentPropertiesType = md.ContentProperties.FeatureProperties
    out.content.contentProperties = md.FeaturePropertiesT()
    if contract.activation == "none":
        out.stats = md.StatsT()
        out.stats.max, out.stats.min = [1.0], [0.0]
    labels = md.AssociatedFileT()
    labels.name = LABELS_FILE
    labels.description = "Labels for the categories the model recognizes."
    labels.type = md.AssociatedFileType.TENSOR_AXIS_LABELS
    out.associatedFiles = [labels]

    sub = md.SubGraphMetadataT()
    sub.inputTensorMetadata = [inp]
    sub.outputTensorMetadata = [out]
    model = md.ModelMetadataT()
    model.name, model.version, model.description = info.name, info.version, info.description
    model.author, model.license = info.author, info.license
    model.subgraphMetadata = [sub]
    model.minParserVersion = MIN_PARSER_VERSION
    side = md.AssociatedFileT()
    side.name = CONTRACT_FILE
    side.description = "The edgetl contract of this artifact (the same JSON as its sidecar file)."
    side.type = md.AssociatedFileType.UNKNOWN
    model.associatedFiles = [side]
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=METADATA_IDENTIFIER)
    return bytes(b.Output())


def associated_files(contract: Contract) -> dict:
    """{name: bytes} of the files packed with the model."""
    return {LABELS_FILE: ("\n".join(axis_labels(contract)) + "\n").encode("utf-8"),
            CONTRACT_FILE: (contract.to_json() + "\n").encode("utf-8")}


def _schema():
    from ai_edge_litert import schema_py_generated as schema

    return schema


def _aligned_pack(schema):
    """A BufferT whose data vector is 16-byte aligned, as the TFLite schema asks (the generated Pack doesn't)."""

    class AlignedBuffer(schema.BufferT):
        def Pack(self, builder):  # noqa: N802 (flatbuffers naming)
            data = None
            if self.data is not None and len(self.data):
                raw = bytes(memoryview(self.data).cast("B")) if not isinstance(self.data, (bytes, bytearray)) \
                    else bytes(self.data)
                builder.StartVector(1, len(raw), _BUFFER_ALIGN)
                builder.head = builder.head - len(raw)
                builder.Bytes[builder.head:builder.head + len(raw)] = raw
                data = builder.EndVector()  # flatbuffers >= 2: the length is tracked by the builder
            schema.BufferStart(builder)
            if data is not None:
                schema.BufferAddData(builder, data)
            if self.offset:
                schema.BufferAddOffset(builder, self.offset)
            if self.size:
                schema.BufferAddSize(builder, self.size)
            return schema.BufferEnd(builder)

    return AlignedBuffer


def _flatbuffer_end(data: bytes) -> int:
    """Length of the model flatbuffer inside ``data`` (without an appended zip): the end of its last table is not
    recorded, so the zip's own start offset is used when there is one."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos = z.infolist()
            if infos:
                return min(i.header_offset for i in infos)
    except zipfile.BadZipFile:
        pass
    return len(data)


def populate(model: bytes, contract: Contract, info: Optional[ModelInfo] = None) -> bytes:
    """``model`` (a .tflite) with metadata and associated files from ``contract``; any existing ones are replaced."""
    schema = _schema()
    if len(model) < 8 or model[4:8] != TFLITE_IDENTIFIER:
        raise EdgetlError("not a TFLite flatbuffer (no TFL3 identifier); pass a .tflite file written by a TFLite converter")
    info = info or ModelInfo.for_contract(contract)
    buf = bytearray(model[:_flatbuffer_end(model)])
    try:
        m = schema.ModelT.InitFromObj(schema.Model.GetRootAs(buf, 0))
    except Exception as e:  # a corrupt flatbuffer raises struct/index errors from deep inside
        raise EdgetlError(f"the TFLite flatbuffer does not parse ({type(e).__name__}); re-export the artifact") from None
    if len(m.subgraphs or []) != 1 or len(m.subgraphs[0].outputs) != 1 or len(m.subgraphs[0].inputs) != 1:
        raise EdgetlError("TFLite metadata for a classifier needs one subgraph with one input and one output tensor")
    for b in m.buffers or []:
        if b.offset:
            raise EdgetlError("this .tflite keeps its weights outside the flatbuffer (buffer offsets); "
                              "re-export it without _experimental_use_buffer_offset")
    aligned = _aligned_pack(schema)
    for b in m.buffers:
        b.__class__ = aligned
    meta_buf = aligned()
    meta_buf.data = build_metadata(contract, info)
    entries = [e for e in (m.metadata or []) if _name(e.name) != METADATA_NAME]
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(m.buffers)
    m.buffers.append(meta_buf)
    m.metadata = entries + [entry]
    b = flatbuffers.Builder(len(buf) + 4096)
    b.Finish(m.Pack(b), file_identifier=TFLITE_IDENTIFIER)
    out = io.BytesIO(bytes(b.Output()))
    out.seek(0, io.SEEK_END)
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_STORED) as z:
        for name, content in associated_files(contract).items():
            zi = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # reproducible bytes
            zi.compress_type = zipfile.ZIP_STORED
            z.writestr(zi, content)
    return out.getvalue()


def write(path: str | Path, contract: Contract, info: Optional[ModelInfo] = None) -> None:
    """Add metadata to the .tflite at ``path`` in place, atomically."""
    from edgetl.fsutil import write_bytes

    path = Path(path)
    write_bytes(path, populate(path.read_bytes(), contract, info))


# ---- reading -------------------------------------------------------------------------------------

def _name(x) -> str:
    return x.decode("utf-8") if isinstance(x, bytes) else (x or "")


def _s(x) -> Optional[str]:
    return None if x is None else _name(x)


def metadata_buffer(model: bytes) -> Optional[bytes]:
    """The raw ModelMetadata flatbuffer of a .tflite, or None."""
    schema = _schema()
    m = schema.Model.GetRootAs(model, 0)
    for i in range(m.MetadataLength()):
        e = m.Metadata(i)
        if _name(e.Name()) == METADATA_NAME:
            b = m.Buffers(e.Buffer())
            if b.Offset():
                return bytes(model[b.Offset():b.Offset() + b.Size()])
            return b.DataAsNumpy().tobytes() if not b.DataIsNone() else None
    return None


def _tensor_md(t) -> dict:
    d = {"name": _s(t.name), "description": _s(t.description)}
    if t.content is not None and t.content.contentProperties is not None:
        props = t.content.contentProperties
        if isinstance(props, md.ImagePropertiesT):
            d["content"] = {"image": {"color_space": _COLOR_SPACES.get(props.colorSpace, props.colorSpace)}}
        elif isinstance(props, md.FeaturePropertiesT):
            d["content"] = {"feature": {}}
    for pu in t.processUnits or []:
        if isinstance(pu.options, md.NormalizationOptionsT):
            d["normalization"] = {"mean": [float(x) for x in pu.options.mean],
                                  "std": [float(x) for x in pu.options.std]}
    if t.stats is not None and (t.stats.min is not None or t.stats.max is not None):
        d["stats"] = {"min": [float(x) for x in (t.stats.min if t.stats.min is not None else [])],
                      "max": [float(x) for x in (t.stats.max if t.stats.max is not None else [])]}
    d["associated_files"] = [_file_md(f) for f in t.associatedFiles or []]
    return d


def _file_md(f) -> dict:
    return {"name": _s(f.name), "type": _FILE_TYPES.get(f.type, f.type), "description": _s(f.description)}


def read(source) -> Optional[dict]:
    """The metadata of a .tflite (path or bytes) as a dict, with the associated files' contents; None without any."""
    data = Path(source).read_bytes() if isinstance(source, (str, Path)) else bytes(source)
    if len(data) < 8 or data[4:8] != TFLITE_IDENTIFIER:
        raise EdgetlError(f"{source if isinstance(source, (str, Path)) else 'data'} is not a TFLite file "
                          "(no TFL3 identifier); pass a .tflite")
    try:
        raw = metadata_buffer(data)
    except Exception as e:  # corrupt flatbuffer
        raise EdgetlError(f"the TFLite flatbuffer does not parse ({type(e).__name__}); re-export the artifact") from None
    if raw is None:
        return None
    if raw[4:8] != METADATA_IDENTIFIER:
        raise EdgetlError("the TFLITE_METADATA buffer is not a metadata flatbuffer (no M001 identifier)")
    m = md.ModelMetadataT.InitFromObj(md.ModelMetadata.GetRootAs(raw, 0))
    doc = {"name": _s(m.name), "version": _s(m.version), "description": _s(m.description), "author": _s(m.author),
           "license": _s(m.license), "min_parser_version": _s(m.minParserVersion),
           "associated_files": [_file_md(f) for f in m.associatedFiles or []], "inputs": [], "outputs": []}
    for sub in m.subgraphMetadata or []:
        doc["inputs"] += [_tensor_md(t) for t in sub.inputTensorMetadata or []]
        doc["outputs"] += [_tensor_md(t) for t in sub.outputTensorMetadata or []]
    doc["files"] = packed_files(data)
    return doc


def packed_files(data: bytes) -> dict:
    """{name: bytes} of the zip appended to a .tflite ({} without one)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return {n: z.read(n) for n in z.namelist()}
    except zipfile.BadZipFile:
        return {}


def labels(doc: dict) -> Optional[list]:
    """The output's TENSOR_AXIS_LABELS from ``read()``'s dict, or None."""
    for out in doc.get("outputs", []):
        for f in out.get("associated_files", []):
            if f["type"] == "TENSOR_AXIS_LABELS" and f["name"] in doc.get("files", {}):
                text = doc["files"][f["name"]].decode("utf-8")
                return [ln.strip() for ln in text.splitlines() if ln.strip()]
    return None


def embedded_contract(doc: dict) -> Optional[Contract]:
    """The edgetl contract packed in the model, or None (a file edgetl did not write)."""
    raw = (doc or {}).get("files", {}).get(CONTRACT_FILE)
    return Contract.from_json(raw.decode("utf-8")) if raw else None
