"""Which integer type the int8 ONNX file's weights take: int8 where onnxruntime's u8 x s8 kernels are exact, uint8 elsewhere.

onnxruntime's x86 integer GEMM/convolution multiplies uint8 activations by int8 weights (U8S8) or by
uint8 weights (U8U8). On a CPU with int8 dot products (AVX-512 VNNI, AVX-VNNI, AMX) U8S8 runs on
VPDPBUSD, which sums the products in int32: exact and the fastest kernel. On x86 without them (AVX2,
AVX-512F) U8S8 runs on VPMADDUBSW, whose int16 pair sums saturate with full-range int8 weights
(onnxruntime's quantization docs; measured on this project's AVX2 CI machine: 73% top-1 agreement with
the int8 TFLite), so there the weights are shifted to uint8 (+128, exact) and U8U8 runs, which does not
saturate. Other CPUs (ARM) keep the uint8 weights edgetl wrote before issue 19: int8 was not measured there.

Measured 2026-12-03 on an AMD EPYC with AVX-512 VNNI (``benchmarks/bench_int8.py`` part 3, MobileNetV2 1.0,
ImageNet weights, 96 px, onnxruntime 1 thread, CPU-time p50, load ~3 on 2 cores; docs/quantize.md): the
TFLite-route int8 ONNX with uint8 weights ran 2.39 ms against 2.37 ms for the float ONNX (U8U8 has no
VNNI kernel); with int8 weights 1.00 ms. The int8-weight file still agrees with the int8 TFLite
(tests/test_quantize.py::test_int8_onnx_agrees_with_int8_tflite runs on this host).

The choice follows the CPU that converts: convert on the kind of host that will run the file. The
record (``int8_weights``) says which was written and why.
"""
from __future__ import annotations

from typing import Optional


def uint8_weights(info: Optional[dict] = None) -> tuple[bool, str]:
    """(shift the weights to uint8?, why) for the host ``info`` (``measure.sysinfo.collect()``; None: this host)."""
    from edgetl.measure.sysinfo import collect

    info = info if info is not None else collect()
    if info.get("vnni") or info.get("amx"):
        return False, ("int8 weights: this CPU has int8 dot products (VNNI/AMX), where onnxruntime's u8 x s8 "
                       "kernel is exact and fastest")
    machine = str(info.get("machine") or "this CPU")
    if machine.lower() in ("x86_64", "amd64", "i386", "i686") or info.get("avx2"):
        return True, ("uint8 weights: this x86 CPU has no VNNI, where onnxruntime's u8 x s8 kernel saturates "
                      "(VPMADDUBSW) and u8 x u8 is exact; convert on a VNNI host for a file that is faster there")
    return True, (f"uint8 weights: int8 weights were measured faster only on x86 with VNNI, not on {machine}")
