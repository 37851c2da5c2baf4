"""The `--keep-float` vocabulary: keywords, the default and how a list is read (the rule that applies it,
by opening the converted file with the runtime, is in the TFLite converter package, ``tflite/keep_float.py``).

What an int8 file keeps in float by default: the fast int8 (`quantize --keep-float`, issue 19).

XNNPACK, the CPU delegate that runs a .tflite file, has no int8 kernel for some ops (on ai-edge-litert
2.3: HARD_SWISH, which MobileNetV3 uses 20 times). Each such node falls back to TFLite's reference kernel
and cuts the graph into XNNPACK partitions with a hand-over at every cut: plain int8 MobileNetV3 is 2-3.5x
slower than its float32 file. So every int8/qat file keeps those ops in float by default (``fallback``):
the plain conversion is opened with the runtime that will run it, and if an op type falls back between
two partitions, the file is converted again with it kept in float (by the TFLite converter's selective quantization). The
record says what was kept and why. ``none`` writes the plain file.
"""
from __future__ import annotations

from typing import Optional, Sequence

from edgetl.errors import EdgetlError

FALLBACK = "fallback"  # keyword: ops with no int8 kernel in XNNPACK that cut the graph
NONE = "none"  # keyword: nothing in float, the plain int8 file
DEFAULT = (FALLBACK,)  # `--keep-float` when not given (QuantizeConfig.keep_float)
NEVER_KEEP = frozenset({"QUANTIZE", "DEQUANTIZE"})  # the int8 <-> float hand-over itself


def resolve(keep_float: Optional[Sequence[str]]) -> tuple[bool, list]:
    """(apply the fallback rule?, explicit names) of a --keep-float list; None means the default (``DEFAULT``).

    ``fallback`` may be combined with names; ``none`` stands alone (the plain int8 file)."""
    if keep_float is None:
        keep_float = DEFAULT
    names = [n.strip() for raw in keep_float for n in str(raw).split(",") if n.strip()]
    words = {n.lower() for n in names}
    if NONE in words and len(names) > 1:
        raise EdgetlError(f"--keep-float none means nothing in float; drop it or the names beside it "
                          f"({', '.join(n for n in names if n.lower() != NONE)})")
    return FALLBACK in words, [n for n in names if n.lower() not in (FALLBACK, NONE)]
