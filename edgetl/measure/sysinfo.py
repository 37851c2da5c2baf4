"""What machine and software a benchmark ran on: CPU model, cores, ISA flags, runtime versions.

Read from /proc/cpuinfo and package metadata only, so it is cheap and never imports TensorFlow.
"""
from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

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


def package_versions(packages=RUNTIME_PACKAGES) -> dict:
    out = {}
    for p in packages:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = None
    return out


def collect() -> dict:
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
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": package_versions(),
    }


def one_line(info: dict) -> str:
    v = info.get("versions", {})
    return (f"{info['cpu_model']} · {info['usable_cores']}/{info['logical_cores']} cores · "
            f"{' '.join(info['isa']) or 'no SIMD flags found'} · litert {v.get('ai-edge-litert')} · "
            f"onnxruntime {v.get('onnxruntime')} · tensorflow {v.get('tensorflow')}")
