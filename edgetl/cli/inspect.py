"""`edgetl inspect ARTIFACT`: what a model file carries (thin layer over the runtime registry's readers)."""
from __future__ import annotations

import click

from edgetl.cli.common import emit_json, out, user_errors


@click.command("inspect")
@click.argument("artifact", metavar="ARTIFACT")
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON on stdout.")
@user_errors
def inspect_cmd(artifact, as_json):
    """Embedded metadata, input/output tensors (shape, dtype, scale, zero point) and op counts of a model file.

    Works on any .tflite (edgetl's, Google's Coral models, others: their TFLite metadata and packed
    label files) and on .onnx (metadata_props, with edgetl's contract). Reads the file alone, as a
    client app would, never the sidecar JSON; beside it, the parity gate's saved record (gate.json)
    when it still matches the file.

    \b
    Examples:
      edgetl inspect runs/flowers/model_int8.tflite
      edgetl inspect runs/flowers/model.onnx --json
      edgetl inspect ../shared/models/coral/mobilenet_v2_1.0_224_quant.tflite
    """
    from edgetl.runtime.registry import inspect_artifact

    info = inspect_artifact(artifact)
    from edgetl.runtime.parity import record_for

    info["parity_gate"] = record_for(artifact)  # the run's gate.json, only while it describes this very file
    if as_json:
        emit_json(info)
        return
    _print(info)


def _tensor_line(t: dict) -> str:
    q = ""
    if isinstance(t.get("scale"), float):
        q = f"  scale {t['scale']:.6g}  zero point {t['zero_point']}"
    return f"  {t['name'] or '?'}  {t['shape']}  {t['dtype']}{q}"


def _print(info: dict) -> None:
    out.print(f"[bold]{info['file']}[/]  {info['format']}, {info['bytes'] / 1024:.0f} KiB, "
                  f"{info['op_count']} ops, {info['tensors']['count']} tensors")
    meta = info["metadata"]
    if info["format"] == "tflite":
        if meta is None:
            out.print("[yellow]no TFLite metadata[/]: clients such as MediaPipe Tasks get no labels and refuse a "
                          "float input (re-export with edgetl quantize to embed it)")
        else:
            out.print(f"metadata: [bold]{meta['name']}[/] version {meta['version']}, author {meta['author']}, "
                          f"licence {meta['license']} (parser >= {meta['min_parser_version']})")
            if meta.get("description"):
                out.print(f"  {meta['description']}")
            for t in meta["inputs"]:
                norm = t.get("normalization")
                color = (t.get("content") or {}).get("image", {}).get("color_space")
                out.print(f"  input '{t['name']}': image {color or '-'}, "
                              + (f"mean {norm['mean']} std {norm['std']}" if norm else "no normalisation"))
            for t in meta["outputs"]:
                files = ", ".join(f"{f['name']} ({f['type']})" for f in t["associated_files"]) or "no files"
                out.print(f"  output '{t['name']}': {files}")
            if meta.get("labels"):
                out.print(f"  labels: {meta['labels']['count']} ({', '.join(meta['labels']['first'])}, ...)")
            out.print(f"  packed files: {', '.join(f'{n} ({b} B)' for n, b in meta['packed_files'].items()) or '-'}"
                          + ("; edgetl contract embedded" if meta.get("edgetl_contract") else ""))
    elif info["format"] == "onnx":
        out.print(f"metadata: producer {meta['producer']}, opsets {meta['opsets']}")
        for k, v in meta["metadata_props"].items():
            out.print(f"  {k}: {v}")
    else:  # another registered runtime's reader: its metadata as it gives it
        out.print("metadata: " + (", ".join(f"{k} {v}" for k, v in meta.items()) if meta else "none"))
    out.print("inputs:")
    for t in info["inputs"]:
        out.print(_tensor_line(t))
    out.print("outputs:")
    for t in info["outputs"]:
        out.print(_tensor_line(t))
    out.print("ops: " + ", ".join(f"{k} {v}" for k, v in info["ops"].items()))
    g = info.get("parity_gate")
    if g:
        acc = "" if g.get("accuracy") is None else f"; test accuracy {g['accuracy']:.1%} (Keras {g['keras_accuracy']:.1%})"
        from edgetl.runtime.parity import summary

        out.print(f"parity gate: {g['gate']}, {summary(g)}, max |dp| {g['max_abs_diff']:.3f}{acc}")
        if g.get("layer_error"):  # int8/qat: the quantization debugger's worst tensors (`edgetl quantize`)
            from edgetl.cli.quantize import print_layer_error

            print_layer_error({"file": info["file"], "layer_error": g["layer_error"]}, out)
