"""What machine and software a benchmark ran on: CPU model, cores, ISA flags, runtime versions, load.

Read from /proc/cpuinfo, os.getloadavg and package metadata only, so it is cheap and never imports
TensorFlow. Whether int8 beats float32 depends on int8 dot-product instructions: x86 VNNI (AVX-512
VNNI, AVX-VNNI) or AMX-INT8, ARM dotprod (ARMv8.2 SDOT/UDOT, ``asimddp``) or i8mm. Without one, XNNPACK's
int8 kernels widen to 16 bits and multiply-add about as fast as float32 (docs/quantize.md).
"""
from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Optional

# /proc/cpuinfo flag -> the name shown in the table. VNNI comes as AVX-512 VNNI or the VEX AVX-VNNI.
ISA_FLAGS = {
    "avx2": "AVX2",
    "fma": "FMA",
    "avx512f": "AVX-512F",
    "avx512bw": "AVX-512BW",
    "avx512_vnni": "AVX-512-VNNI",
    "avx_vnni": "AVX-VNNI",
    "avx512_bf16": "AVX-512-BF16",
    "amx_int8": "AMX-INT8",
    "asimd": "NEON",
    "asimddp": "NEON-DOTPROD",
    "i8mm": "I8MM",
}
INT8_DOT_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm")  # int8 dot products in one instruction
NO_INT8_DOT = "int8 runs at about float speed on this CPU; phones with ARMv8.2 dot products run it faster"
RUNTIME_PACKAGES = ("tensorflow", "tf-keras", "ai-edge-litert", "onnxruntime", "onnx", "tf2onnx", "numpy")


def parse_cpuinfo(text: str) -> dict:
    """{'model': str|None, 'flags': set} from /proc/cpuinfo text (x86 'flags' or ARM 'Features')."""
    model, flags = None, set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and model is None and value.strip():
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    return {"model": model, "flags": flags}


def isa_flags(flags: set) -> list:
    """The ISA extensions that matter for inference speed, in a fixed order."""
    return [name for flag, name in ISA_FLAGS.items() if flag in flags]


def int8_dot(flags: set) -> list:
    """The int8 dot-product extensions among ``flags`` (display names), e.g. ["AVX-512-VNNI"]; [] = none."""
    return [ISA_FLAGS[f] for f in INT8_DOT_FLAGS if f in flags]


def int8_note(info: dict) -> Optional[str]:
    """``NO_INT8_DOT`` when the host (``collect()``) has no int8 dot product, else None."""
    return None if info.get("int8_dot") else NO_INT8_DOT


def load_average() -> Optional[float]:
    """The 1-minute load average (runnable processes), or None where the OS has none."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def package_versions(packages=RUNTIME_PACKAGES) -> dict:
    out = {}
    for p in packages:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = None
    return out


def collect(load_start: Optional[float] = None) -> dict:
    """The host record; ``load_start``: the load average when the measured work began (``load_average()``),
    kept beside the one now, so the record says how busy the machine was during the run."""
    try:
        info = parse_cpuinfo(Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace"))
    except OSError:
        info = {"model": None, "flags": set()}
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    flags = isa_flags(info["flags"])
    return {
        "cpu_model": info["model"] or platform.processor() or platform.machine(),
        "machine": platform.machine(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "isa": flags,
        "avx2": "AVX2" in flags,
        "avx512": "AVX-512F" in flags,
        "vnni": "AVX-512-VNNI" in flags or "AVX-VNNI" in flags,
        "amx": "AMX-INT8" in flags,
        "int8_dot": int8_dot(info["flags"]),
        "load_average": {"start": load_start, "end": load_average()},
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": package_versions(),
    }


def one_line(info: dict) -> str:
    v = info.get("versions", {})
    dot = info.get("int8_dot")
    dot_text = "" if dot is None else f" · int8 dot product: {' '.join(dot) if dot else 'none'}"
    load = info.get("load_average") or {}
    loads = [f"{load[k]:.1f}" for k in ("start", "end") if load.get(k) is not None]
    load_text = f" · load {' -> '.join(loads)}" if loads else ""
    return (f"{info['cpu_model']} · {info['usable_cores']}/{info['logical_cores']} cores · "
            f"{' '.join(info['isa']) or 'no SIMD flags found'}{dot_text}{load_text} · litert {v.get('ai-edge-litert')} · "
            f"onnxruntime {v.get('onnxruntime')} · tensorflow {v.get('tensorflow')}")
