"""Compile and run the Android demo's plain-Java library (android_demo/edgetl-core) with javac + JUnit 4.

CI installs the toolchain with apt (`default-jdk-headless junit4`); without it these tests skip.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

PROJECT = Path(__file__).resolve().parents[1]
CORE = PROJECT / "android_demo" / "edgetl-core"
MAIN_SRC = CORE / "src" / "main" / "java"
TEST_SRC = CORE / "src" / "test" / "java"
PACKAGE = "io.edgetl.core"
JAVA_DIR = Path("/usr/share/java")
JUNIT_JARS = ("junit4.jar", "hamcrest-core.jar")


def missing_toolchain() -> Optional[str]:
    """Why the Java tests cannot run here, or None."""
    for tool in ("javac", "java"):
        if shutil.which(tool) is None:
            return f"{tool} not found: install a JDK (apt-get install -y default-jdk-headless junit4)"
    for jar in JUNIT_JARS:
        if not (JAVA_DIR / jar).is_file():
            return f"{JAVA_DIR / jar} not found: install JUnit 4 (apt-get install -y junit4)"
    return None


def junit_classpath() -> list:
    return [str(JAVA_DIR / j) for j in JUNIT_JARS]


def java_files(root: Path) -> list:
    return sorted(str(p) for p in root.rglob("*.java"))


def javac(sources: Sequence[str], out: Path, classpath: Sequence[str] = ()) -> None:
    """Compile at the Java 8 language level the library promises (no newer API, no newer syntax)."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = ["javac", "-encoding", "UTF-8", "--release", "8", "-Xlint:-options", "-d", str(out)]
    if classpath:
        cmd += ["-cp", ":".join(classpath)]
    proc = subprocess.run(cmd + list(sources), capture_output=True, text=True, timeout=180)
    if proc.returncode != 0:
        raise AssertionError(f"javac failed:\n{proc.stdout}\n{proc.stderr}")


@dataclass
class JavaCore:
    main_classes: Path
    test_classes: Path

    @property
    def classpath(self) -> str:
        return ":".join([str(self.main_classes), str(self.test_classes)] + junit_classpath())

    def test_class_names(self) -> list:
        return sorted(f"{PACKAGE}.{p.stem}" for p in (TEST_SRC / PACKAGE.replace(".", "/")).glob("*Test.java"))

    def run_junit(self) -> subprocess.CompletedProcess:
        return subprocess.run(["java", "-cp", self.classpath, "org.junit.runner.JUnitCore", *self.test_class_names()],
                              capture_output=True, text=True, timeout=180)

    def harness(self, *args) -> str:
        proc = subprocess.run(["java", "-cp", self.classpath, f"{PACKAGE}.ParityHarness", *[str(a) for a in args]],
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise AssertionError(f"ParityHarness {args[0]} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc.stdout

    def input_tensor(self, model_json: Path, pixels: np.ndarray, work: Path, dtype) -> np.ndarray:
        """Java's input buffer for decoded uint8 RGB ``pixels`` (any size), as a flat array of ``dtype``."""
        h, w = pixels.shape[:2]
        raw, out = work / "pixels.rgb", work / "input.bin"
        raw.write_bytes(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes())
        self.harness("input", model_json, raw, w, h, out)
        return np.frombuffer(out.read_bytes(), dtype=np.dtype(dtype).newbyteorder("<"))

    def top_k(self, model_json: Path, labels_txt: Path, output: np.ndarray, work: Path, k: int = 3) -> list:
        """Java's top-k [(label, score)] for one raw output tensor of the model."""
        out = work / "output.bin"
        arr = np.asarray(output)
        out.write_bytes(arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes())
        rows = []
        for line in self.harness("topk", model_json, labels_txt, out, k).splitlines():
            label, _index, bits, _text = line.split("\t")
            rows.append((label, float(np.array([int(bits, 16)], np.uint32).view(np.float32)[0])))
        return rows

    def decide(self, contract: Path, labels_txt: Path, output: np.ndarray, work: Path) -> str:
        """Java's reported label (OutputDecoder.decide) for one raw output tensor; ``contract`` is model.json
        or a .tflite whose embedded edgetl_contract.json Java reads."""
        out = work / "output.bin"
        arr = np.asarray(output)
        out.write_bytes(arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes())
        label, _index = self.harness("decide", contract, labels_txt, out).rstrip("\n").split("\t")
        return label


def compile_core(work: Path, main_src: Path = MAIN_SRC) -> JavaCore:
    from conftest import need_tool

    need_tool(missing_toolchain())
    core = JavaCore(work / "main", work / "test")
    javac(java_files(main_src), core.main_classes)
    javac(java_files(TEST_SRC), core.test_classes, [str(core.main_classes)] + junit_classpath())
    return core
