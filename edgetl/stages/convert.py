"""`edgetl convert`: every format of each ``--to`` target, each through its writer (``writer_of``); the ONNX
exporters themselves live in ``edgetl/onnx/``, the TFLite converter in ``edgetl/tflite/``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from edgetl.config.stages import INT8_ONNX_METHODS, ConvertConfig
from edgetl.formats.registry import check_targets, get_format, parse_agreement, stem_of, target_formats
from edgetl.formats.contract import Contract
from edgetl.errors import EdgetlError
from edgetl.onnx.export import check_opset, export_onnx, export_onnx_int8, export_onnx_int8_ort
from edgetl.rundir import RunDir, locks_run


@locks_run("edgetl convert")
def convert_run(cfg: ConvertConfig, *, progress=None, keep_going: bool = False) -> list:
    """`edgetl convert`: every format of each ``cfg.to`` target in the registry (every parameter, its default and
    its help is ``ConvertConfig``'s): float TFLite
    (``<stem>_float32.tflite``), float ONNX (``<stem>.onnx``) and int8 ONNX (``<stem>_int8.onnx``).

    ``int8_method``: "tflite" (default; tf2onnx from ``<stem>_int8.tflite``, written and gated by
    `edgetl quantize --mode int8`: the same integer graph, uint8 input, top-1 identical to the TFLite file) or
    "ort" (onnxruntime static QDQ quantization of the float ONNX, calibrated on the run's training images,
    float input; see docs/quantize.md). Both write uint8 activations inside (``onnx.surgery.int8_tensors_to_uint8``; the weights' type by ``measure.onnx_weights``).
    ``keep_going``: a format that fails or is refused by the gate gets a record with "error" and the
    others go on (`edgetl run` uses this), as in ``quantize_run``.
    """
    to, opset, int8_method, calibration_images = cfg.to, cfg.opset, cfg.int8_method, cfg.calibration_images
    model, data, parity_images, agreement = cfg.model, cfg.data, cfg.parity_images, parse_agreement(cfg.min_agreement)
    run = RunDir(cfg.run)
    model_path = run.resolve_model(model)  # before the slow imports the opset check needs
    to = check_targets(to)
    if int8_method not in INT8_ONNX_METHODS:
        raise EdgetlError(f"--int8-method {int8_method} is unknown; choose one of: {', '.join(INT8_ONNX_METHODS)}")
    fmts = [f for t in to for f in target_formats(t)]
    opset = check_opset(opset) if any(f.runtime == "onnx" for f in fmts) else opset
    contract = run.contract_for(model_path)  # every artifact records the model it came from
    keras_model = run.load_model(model_path)
    ctx = _ConvertJob(run, keras_model, contract, stem_of(model_path), run.splits_or_none(data, False, why=""),
                      opset, int8_method, calibration_images, None)
    ctx.gate = run.gate(keras_model, model_path, contract, ctx.splits, agreement, parity_images)
    records = []
    for i, fmt in enumerate(fmts):
        if progress:
            progress(f"{fmt.name}" + (f" ({int8_method})" if fmt.name == "onnx:int8" else ""), i, len(fmts))
        try:
            rec = writer_of(fmt)(ctx, fmt)
        except EdgetlError as e:
            if not keep_going:
                raise
            rec = {"artifact": None, "file": fmt.file_name(ctx.stem), "format": fmt.name, "mode": fmt.mode,
                   "runtime": fmt.runtime, "error": str(e)}
        records.append(rec)
    if progress:
        progress("done", len(fmts), len(fmts))
    for r in records:
        r["model"] = str(model_path)
    return records


@dataclass
class _ConvertJob:
    run: object
    model: object
    contract: Contract
    stem: str
    splits: object
    opset: int
    int8_method: str
    calibration_images: int
    gate: object


# The writers of the formats `convert --to` makes: fn(job, fmt) -> record (``writer_of`` picks one).

def tflite_mode(job: _ConvertJob, fmt) -> dict:
    from edgetl.tflite.converter import convert_tflite

    return convert_tflite(job.model, job.contract, [fmt.mode], job.run.path, stem=job.stem, gate=job.gate)[fmt.mode]


def onnx_float(job: _ConvertJob, fmt) -> dict:
    return export_onnx(job.model, job.contract, fmt.path(job.run.path, job.stem), job.opset, gate=job.gate)


def onnx_int8(job: _ConvertJob, fmt) -> dict:
    from edgetl.runtime.runners import sidecar_path
    from edgetl.rundir import stale_reason

    out = fmt.path(job.run.path, job.stem)
    float_onnx = get_format("onnx:float32").path(job.run.path, job.stem)
    int8_tflite = get_format("tflite:int8").path(job.run.path, job.stem)
    if job.int8_method == "ort" and job.splits is not None and float_onnx.is_file():
        rec = export_onnx_int8_ort(float_onnx, job.contract, out, job.run.calibration(job.splits, job.calibration_images),
                                   gate=job.gate)
    elif (job.int8_method == "tflite" and int8_tflite.is_file() and sidecar_path(int8_tflite).is_file()
          and not stale_reason(int8_tflite)):
        rec = export_onnx_int8(int8_tflite, Contract.load(sidecar_path(int8_tflite)), out, job.opset, gate=job.gate)
    else:
        why = ((stale_reason(int8_tflite) if int8_tflite.is_file() else None)
               or f"no {int8_tflite.name}: run `edgetl quantize {job.run.path} --mode int8` first"
               if job.int8_method == "tflite" else
               f"no {float_onnx.name} (its export failed)" if job.splits is not None else
               "the run's data folder is gone (calibration needs it): pass --data DIR")
        rec = {"format": fmt.name, "file": out.name, "skipped": why}
    rec["int8_method"] = job.int8_method
    return rec


def writer_of(fmt) -> Callable:
    """The function that writes ``fmt``: ONNX has one writer per format; every TFLite mode goes through the one
    converter path. The stage owns this mapping; the format registry only describes formats."""
    writers = {"onnx:float32": onnx_float, "onnx:int8": onnx_int8}
    if fmt.name in writers:
        return writers[fmt.name]
    if fmt.runtime == "tflite":
        return tflite_mode
    raise EdgetlError(f"convert cannot write {fmt.name}: add its writer to writer_of in stages/convert.py")
