"""Selective int8: full-integer quantization that keeps named ops or nodes in float.

Why: XNNPACK runs most int8 ops, but not all (on ai-edge-litert 2.3, int8 ``HARD_SWISH``, which
MobileNetV3 uses 20 times, falls back to TFLite's reference kernel and cuts the graph into 21
partitions; see ``edgetl benchmark --ops``). Keeping such an op in float puts a DEQUANTIZE before
and a QUANTIZE after it, all three of which XNNPACK takes, so the graph stays in one partition.

How: ``tf.lite.experimental.QuantizationDebugger`` with ``denylisted_ops`` (TFLite op names such as
``HARD_SWISH``) / ``denylisted_nodes`` (output tensor names, see ``edgetl quantize --help``) and
``get_nondebug_quantized_model()``: TensorFlow's documented route to selective quantization; float
input/output around QUANTIZE/DEQUANTIZE, then TFLite's own io step gives the requested ``--io`` type.

Which ops by default: ``edgetl.formats.keep_float`` (the fast int8).
"""
from __future__ import annotations

from typing import Sequence

from edgetl import _tf
from edgetl.errors import EdgetlError

from edgetl.formats.keep_float import FALLBACK, NONE


def split_keep_float(names: Sequence[str]) -> tuple[list, list]:
    """(op names, node names): upper-case builtin op names (HARD_SWISH, MEAN) vs tensor/node names; the
    keywords ``fallback`` and ``none`` are not names."""
    ops, nodes = [], []
    for raw in names or ():
        for n in str(raw).split(","):
            n = n.strip()
            if n and n.lower() not in (FALLBACK, NONE):  # the keywords are resolved by ``fast_int8``
                (ops if n.isupper() and n.replace("_", "").isalnum() else nodes).append(n)
    return ops, nodes


def convert_keep_float(converter, representative, keep_float: Sequence[str]) -> bytes:
    """Bytes of ``converter`` (set up for full-integer int8) with the ``keep_float`` ops/nodes left in float."""
    tf = _tf.tf()
    ops, nodes = split_keep_float(keep_float)
    if not ops and not nodes:
        return converter.convert()
    # float ops need the builtin (float) kernels beside the int8 ones
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        # fully_quantize=False keeps float input/output around QUANTIZE/DEQUANTIZE, which the converter's own
        # io step then turns into the requested --io type, as TFLiteConverter.convert() does itself
        opts = tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=ops or None, denylisted_nodes=nodes or None,
                                                             fully_quantize=False)
        dbg = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=representative,
                                                        debug_options=opts)
        from tensorflow.lite.python.util import modify_model_io_type

        data = bytes(modify_model_io_type(dbg.get_nondebug_quantized_model(), converter.inference_input_type,
                                          converter.inference_output_type))
    except Exception as e:  # the debugger raises ValueError/RuntimeError/ConverterError
        msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise EdgetlError(f"int8 with --keep-float {','.join(list(ops) + list(nodes))} failed ({msg}); "
                          "name TFLite ops in capitals (HARD_SWISH, MEAN) or tensor names from `edgetl benchmark --ops`") from e
    check_op_names(ops, data)
    return data


def check_op_names(ops: Sequence[str], data: bytes) -> None:
    """Refuse an op name the model does not use (a typo would otherwise quantize everything, silently)."""
    from edgetl.formats.inspect import tflite_op_names

    have = tflite_op_names(data)
    unknown = [o for o in ops if o not in have]
    if unknown:
        raise EdgetlError(f"--keep-float {','.join(unknown)}: no such op in this model; its ops are "
                          f"{', '.join(o for o in have if o not in ('QUANTIZE', 'DEQUANTIZE'))}")
