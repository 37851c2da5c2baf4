"""Issue 6: `edgetl export android`, the Android demo's plain-Java core (JUnit via javac) and its
cross-language parity with the Python runtime layer.

The Java toolchain comes from apt on CI (`default-jdk-headless junit4`); without it the Java tests skip.
Decoding is the platform's job (PIL here, Android's BitmapFactory/CameraX on the phone): the contract,
and these parity checks, start at decoded uint8 RGB pixels, which Python hands to Java as raw bytes.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from android_models import build_tiny_run, flower_files
from java_harness import MAIN_SRC, compile_core, java_files
from edgetl.config.stages import ExportConfig
from edgetl.export.android import export_android
from edgetl.formats.contract import Contract, read_labels
from edgetl.errors import EdgetlError
from edgetl.data.images import decode_rgb, resize_rgb
from edgetl.runtime.runners import top_k
from edgetl.runtime.registry import open_artifact

from shared_data import CORAL, FLOWERS, SHARED, need  # noqa: F401


# ---- fixtures -------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def java_core(tmp_path_factory):
    return compile_core(tmp_path_factory.mktemp("java_core"))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    need(FLOWERS)
    return build_tiny_run(tmp_path_factory.mktemp("android_run") / "run", FLOWERS)


@pytest.fixture(scope="session")
def binary_run(tmp_path_factory):
    """Two classes, one sigmoid logit, a decision on the FIRST label (see android_models.build_tiny_run)."""
    need(FLOWERS)
    return build_tiny_run(tmp_path_factory.mktemp("android_binary") / "run", FLOWERS, binary=True)


@pytest.fixture(scope="session")
def exported(tiny_run, tmp_path_factory):
    """The run's float32 and int8 artifacts exported as app assets: {mode: (out_dir, result)}."""
    out = {}
    for mode in ("float32", "int8"):
        d = tmp_path_factory.mktemp(f"assets_{mode}")
        out[mode] = (d, export_android(ExportConfig(run=str(tiny_run), artifact=mode, out=str(d))))
    return out


def photos(n_per_class=1):
    """Real decoded photos of different sizes (the Java side gets them as raw RGB bytes)."""
    need(FLOWERS)
    return [decode_rgb(f) for f in flower_files(FLOWERS, n_per_class)]


def run_cli(*args):
    from edgetl.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


# ---- export android -------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["float32", "int8"])
def test_export_writes_assets_whose_contract_matches_the_real_tensors(exported, tiny_run, mode):
    from ai_edge_litert.interpreter import Interpreter

    out, result = exported[mode]
    assert sorted(p.name for p in out.iterdir()) == ["labels.txt", "model.json", "model.tflite"]
    assert (out / "model.tflite").read_bytes() == (tiny_run / f"model_{mode}.tflite").read_bytes()
    contract = Contract.load(out / "model.json")
    assert read_labels(out / "labels.txt") == contract.labels == ["daisy", "dandelion", "roses", "sunflowers", "tulips"]

    it = Interpreter(model_path=str(out / "model.tflite"))
    it.allocate_tensors()
    (inp,), (outp,) = it.get_input_details(), it.get_output_details()
    assert list(inp["shape"]) == [1, contract.height, contract.width, 3]
    assert int(np.prod(outp["shape"][1:])) == contract.output_units == len(contract.labels)
    for detail, spec in ((inp, contract.input), (outp, contract.output)):
        assert np.dtype(detail["dtype"]).name == spec.dtype
        if spec.quantized:
            scale, zp = detail["quantization"]
            assert spec.scale == pytest.approx(scale, rel=1e-7) and spec.zero_point == zp
    expected = {"float32": "float32", "int8": "uint8"}[mode]
    assert contract.input.dtype == contract.output.dtype == expected
    assert result["input"]["dtype"] == expected and result["bytes"] == (out / "model.tflite").stat().st_size


def test_export_refuses_a_contract_that_does_not_describe_the_model(tiny_run, tmp_path):
    run = Path(shutil.copytree(tiny_run, tmp_path / "run"))
    side = run / "model_int8.json"
    doc = json.loads(side.read_text())
    doc["input"]["zero_point"] += 1
    side.write_text(json.dumps(doc))
    out = tmp_path / "assets"
    with pytest.raises(EdgetlError, match=r"input is uint8 .* says uint8"):
        export_android(ExportConfig(run=str(run), artifact="int8", out=str(out)))
    assert not out.exists() or not any(out.iterdir()), "a refused export must write nothing"

    # the float32 model's contract swapped in for the int8 model: dtype mismatch
    shutil.copy(run / "model_float32.json", side)
    with pytest.raises(EdgetlError, match=r"input is uint8 .* says float32"):
        export_android(ExportConfig(run=str(run), artifact="int8", out=str(out)))


def test_export_cli_json_and_errors(tiny_run, tmp_path):
    out = tmp_path / "assets"
    r = run_cli("export", "android", tiny_run, "--artifact", "tflite:int8", "--out", out, "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["artifact"] == "tflite:int8" and Path(doc["files"]["model.json"]).is_file()

    for args, needle in (
        ([tmp_path / "nope"], "not an edgetl run directory"),
        ([tiny_run, "--artifact", "qat"], "no TFLite artifact 'qat'"),
        ([tiny_run, "--artifact", "onnx:float32"], "runs TFLite"),
    ):
        r = run_cli("export", "android", *args, "--out", tmp_path / "other")
        assert r.exit_code == 2, r.output
        lines = [ln for ln in r.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], r.output
        assert "Traceback" not in r.output
    assert "float32, int8" in run_cli("export", "android", tiny_run, "--artifact", "qat").output
    assert not (tmp_path / "other").exists()


def test_export_default_out_is_the_app_assets_in_a_checkout_else_inside_the_run(tiny_run, tmp_path, monkeypatch):
    run = Path(shutil.copytree(tiny_run, tmp_path / "run"))
    monkeypatch.chdir(tmp_path)  # not an edgetl checkout: no android_demo/ here
    r = run_cli("export", "android", run, "--artifact", "float32")
    assert r.exit_code == 0, r.output
    assert (run / "android" / "model.tflite").read_bytes() == (run / "model_float32.tflite").read_bytes()
    assert "android_demo/app/src/main/assets" in r.output
    (tmp_path / "android_demo" / "app" / "src" / "main").mkdir(parents=True)  # now it looks like a checkout
    r = run_cli("export", "android", run, "--artifact", "float32")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "android_demo" / "app" / "src" / "main" / "assets" / "model.json").is_file()


# ---- the plain-Java core --------------------------------------------------------------------

def android_wiring_problems(root: Path) -> list:
    """What is mis-wired in the Gradle project at ``root``, resolved the way Gradle and the compiler would:

    every ``libs.*`` accessor of the app resolves to a catalog entry whose version exists, and LiteRT,
    its GPU delegate and CameraX are among the app's resolved dependencies; the SDK levels are
    consistent (min <= 24 <= target <= compile); the manifest's launcher activity is a class of the
    app and the camera permission is declared; every edgetl-core class the app imports exists, and
    every core constructor and static method the app calls is declared public there.
    """
    import tomllib
    import xml.dom.minidom

    problems = []
    app_dir = root / "app"
    for f in sorted((app_dir / "src" / "main").rglob("*.xml")):
        xml.dom.minidom.parse(str(f))
    settings = root / "settings.gradle.kts"
    modules = set(re.findall(r'include\(\s*"(:[\w-]+)"\s*\)', settings.read_text()))
    for m in (":app", ":edgetl-core"):
        if m not in modules or not (root / m[1:]).is_dir():
            problems.append(f"module {m} not included or missing")
    gradle = (app_dir / "build.gradle.kts").read_text()
    catalog = tomllib.loads((root / "gradle" / "libs.versions.toml").read_text())
    libs, versions = catalog.get("libraries", {}), catalog.get("versions", {})
    resolved = set()
    for accessor in re.findall(r"implementation\(libs\.([\w.]+)\)", gradle):
        key = accessor.replace(".", "-")
        entry = libs.get(key)
        if entry is None:
            problems.append(f"libs.{accessor} is not in the version catalog")
            continue
        version = entry.get("version")
        ref = version.get("ref") if isinstance(version, dict) else None
        if ref and ref not in versions:
            problems.append(f"libs.{accessor} refers to version '{ref}', which the catalog does not define")
        resolved.add(entry["module"])
    for module in ("com.google.ai.edge.litert:litert", "com.google.ai.edge.litert:litert-gpu",
                   "androidx.camera:camera-camera2"):
        if module not in resolved:
            problems.append(f"the app does not depend on {module}")
    if 'project(":edgetl-core")' not in gradle:
        problems.append("the app does not depend on :edgetl-core")
    if 'noCompress += "tflite"' not in gradle:
        problems.append("the app compresses .tflite assets (LiteRT maps them: noCompress += \"tflite\")")
    sdk = {k: int(v) for k, v in re.findall(r"\b(minSdk|targetSdk|compileSdk)\s*=\s*(\d+)", gradle)}
    if not sdk.get("minSdk", 99) <= 24 <= sdk.get("targetSdk", 0) <= sdk.get("compileSdk", 0):
        problems.append(f"SDK levels {sdk} are not min <= 24 <= target <= compile")
    manifest = xml.dom.minidom.parse(str(app_dir / "src" / "main" / "AndroidManifest.xml"))
    perms = {e.getAttribute("android:name") for e in manifest.getElementsByTagName("uses-permission")}
    if "android.permission.CAMERA" not in perms:
        problems.append("the manifest does not declare the CAMERA permission")
    kotlin = {p: p.read_text() for p in (app_dir / "src" / "main").rglob("*.kt")}
    app_classes = {m for text in kotlin.values() for m in re.findall(r"\bclass\s+(\w+)", text)}
    launchers = [a.getAttribute("android:name").lstrip(".") for a in manifest.getElementsByTagName("activity")
                 if "android.intent.action.MAIN" in a.toxml()]
    if not launchers or any(name.split(".")[-1] not in app_classes for name in launchers):
        problems.append(f"launcher activity {launchers} is not a class of the app")
    exported = [a.getAttribute("android:name").lstrip(".") for a in manifest.getElementsByTagName("activity")
                if a.getAttribute("android:exported") == "true"]
    if "BenchmarkActivity" not in exported or "BenchmarkActivity" not in app_classes:
        problems.append("the benchmark mode (`am start -n io.edgetl.demo/.BenchmarkActivity`) needs BenchmarkActivity "
                        "declared exported in the manifest and defined in the app")
    core = root / "edgetl-core" / "src" / "main" / "java" / "io" / "edgetl" / "core"
    all_kotlin = "\n".join(kotlin.values())
    for cls in sorted(set(re.findall(r"^import io\.edgetl\.core\.(\w+)", all_kotlin, re.M))):
        src = core / f"{cls}.java"
        if not src.is_file() or not re.search(rf"public\s+(final\s+)?(class|interface|enum)\s+{cls}\b", src.read_text()):
            problems.append(f"the app imports io.edgetl.core.{cls}, which edgetl-core does not declare public")
            continue
        java = src.read_text()
        if re.search(rf"(?<![\w.]){cls}\(", all_kotlin) and not re.search(rf"public\s+{cls}\s*\(", java) \
                and re.search(rf"\b{cls}\s*\(", java):
            problems.append(f"the app constructs {cls}, whose constructors are not public")
        for method in sorted(set(re.findall(rf"\b{cls}\.(\w+)\(", all_kotlin))):
            if not re.search(rf"public\s+static\s+[\w<>\[\], ]+\s+{method}\s*\(", java):
                problems.append(f"the app calls {cls}.{method}(), which edgetl-core does not declare public static")
    core_java = "\n".join(p.read_text() for p in core.glob("*.java"))
    for method in ("checkTensors", "checkLabels"):  # the contract checks the app must run on the real model
        if not re.search(rf"\.{method}\(", all_kotlin):
            problems.append(f"the app never calls {method}()")
        if not re.search(rf"public\s+[\w<>\[\], ]+\s+{method}\s*\(", core_java):
            problems.append(f"edgetl-core declares no public {method}()")
    for use in ("setNumThreads(", "GpuDelegate(", "OUTPUT_IMAGE_FORMAT_RGBA_8888", "rotationDegrees"):
        if use not in all_kotlin:
            problems.append(f"the app does not use {use}")
    return problems


def test_android_project_is_wired_as_the_issue_asks():
    """Static checks only (no Gradle/Android SDK here), resolved as Gradle and the compiler would resolve them."""
    assert android_wiring_problems(Path(__file__).resolve().parents[1] / "android_demo") == []


@pytest.mark.parametrize("break_it,expected", [
    (lambda r: _edit(r / "gradle" / "libs.versions.toml", 'litert-gpu = {', 'litert-gpu-x = {'), "libs.litert.gpu"),
    (lambda r: _edit(r / "app" / "build.gradle.kts", "minSdk = 24", "minSdk = 26"), "SDK levels"),
    (lambda r: _edit(r / "app" / "src" / "main" / "AndroidManifest.xml", 'android:name=".BenchmarkActivity"\n'
                     '            android:exported="true"', 'android:name=".BenchmarkActivity"\n'
                     '            android:exported="false"'), "BenchmarkActivity"),
    (lambda r: _edit(r / "app" / "src" / "main" / "AndroidManifest.xml", 'android:name=".MainActivity"',
                     'android:name=".GoneActivity"'), "launcher activity"),
    (lambda r: _edit(r / "edgetl-core" / "src" / "main" / "java" / "io" / "edgetl" / "core" / "Labels.java",
                     "public static List<String> parse(", "static List<String> parse("), "Labels.parse()"),
    (lambda r: (r / "edgetl-core" / "src" / "main" / "java" / "io" / "edgetl" / "core" / "RgbFrame.java").unlink(),
     "io.edgetl.core.RgbFrame"),
    (lambda r: _edit(r / "edgetl-core" / "src" / "main" / "java" / "io" / "edgetl" / "core" / "ModelContract.java",
                     "public void checkTensors(", "void checkTensors("), "checkTensors"),
])
def test_the_wiring_check_catches_a_broken_project(tmp_path, break_it, expected):
    import shutil

    src = Path(__file__).resolve().parents[1] / "android_demo"
    root = tmp_path / "android_demo"
    shutil.copytree(src, root, ignore=shutil.ignore_patterns("build", ".gradle", "*.tflite", "*.jar", "*.png", "*.webp", "test"))
    break_it(root)
    problems = android_wiring_problems(root)
    assert any(expected in p for p in problems), problems


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new))


def test_java_core_is_plain_java8_without_android_or_lambdas():
    sources = java_files(MAIN_SRC)
    assert len(sources) >= 8
    for src in sources:
        text = re.sub(r"/\*.*?\*/|//[^\n]*", "", Path(src).read_text(encoding="utf-8"), flags=re.S)
        text = re.sub(r'"(\\.|[^"\\])*"', '""', text)
        assert "import android" not in text and "android." not in text, src
        assert "->" not in text and "::" not in text, f"{src}: lambdas / method references are not allowed"


def test_junit_suite_passes(java_core):
    proc = java_core.run_junit()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    m = re.search(r"OK \((\d+) tests\)", proc.stdout)
    assert m and int(m.group(1)) >= 25, proc.stdout


MUTANTS = {
    "round half up instead of numpy's half-to-even": ("InputEncoder.java", "Math.rint(y)", "Math.floor(y + 0.5)"),
    "zero point ignored": ("InputEncoder.java", "x / t.scale + (float) t.zeroPoint", "x / t.scale"),
    "std ignored": ("InputEncoder.java", "return d / std;", "return d;"),
    "one sigmoid unit not expanded": ("OutputDecoder.java", "if (y.length == 1) {", "if (y.length == -1) {"),
    "labels count unchecked": ("ModelContract.java", "if (labels.size() != expected) {", "if (false) {"),
    "resize rounds down": ("ImageResizer.java", "int round = 1 << (2 * FRAC_BITS - 1);", "int round = 0;"),
    "decision ignored": ("OutputDecoder.java", "if (contract.hasDecision() && probabilities.length == 2) {", "if (false) {"),
    "decision strict (>)": ("OutputDecoder.java", "probabilities[pos] >= contract.threshold", "probabilities[pos] > contract.threshold"),
    "latency percentile not interpolated": ("LatencyBench.java", " + (sorted[hi] - sorted[lo]) * (pos - lo);", ";"),
    "latency warm-up skipped": ("LatencyBench.java", "i < warmup; i++", "i < 0; i++"),
    "sha256 of the remaining bytes only": ("LatencyReport.java", "view.rewind();", ""),
    "latency JSON quotes unescaped": ("LatencyReport.java", 'case \'"\':', "case '\\u0000':"),
}


@pytest.mark.parametrize("mutant", list(MUTANTS))
def test_junit_suite_fails_when_the_java_core_is_wrong(java_core, tmp_path, mutant):
    """The JUnit tests can fail: each deliberate bug in a copy of the library must turn the suite red."""
    from java_harness import JavaCore, javac, junit_classpath

    name, old, new = MUTANTS[mutant]
    src = tmp_path / "src"
    shutil.copytree(MAIN_SRC, src)
    f = next(src.rglob(name))
    text = f.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"mutation target not found in {name}: {old}"
    f.write_text(text.replace(old, new), encoding="utf-8")
    broken = JavaCore(tmp_path / "main", java_core.test_classes)
    javac(java_files(src), broken.main_classes, junit_classpath())
    proc = broken.run_junit()
    assert proc.returncode != 0 and "FAILURES!!!" in proc.stdout, f"JUnit did not notice: {mutant}"


# ---- cross-language parity ------------------------------------------------------------------

@pytest.mark.parametrize("src,dst", [((7, 5), (64, 80)), ((1, 1), (3, 2)), ((480, 640), (96, 96)),
                                     ((1000, 13), (31, 17)), ((96, 96), (96, 96))])
def test_java_resize_is_byte_identical_to_imageops(java_core, tmp_path, src, dst):
    """Up- and down-scaling, odd and extreme aspect ratios: Java's ImageResizer == imageops.resize_rgb."""
    pixels = np.random.default_rng(sum(src) + sum(dst)).integers(0, 256, size=(*src, 3), dtype=np.uint8)
    identity = Contract(labels=["a", "b"], height=dst[0], width=dst[1], mean=[0, 0, 0], std=[1, 1, 1])
    (tmp_path / "model.json").write_text(identity.to_json(), encoding="utf-8")
    got = java_core.input_tensor(tmp_path / "model.json", pixels, tmp_path, np.float32)
    expected = resize_rgb(pixels, *dst).reshape(-1)
    assert got.shape == expected.shape
    assert np.array_equal(got, expected.astype(np.float32)), f"{np.count_nonzero(got != expected)} values differ"


@pytest.mark.parametrize("mode", ["float32", "int8"])
def test_java_input_buffer_equals_the_python_runtime_input(java_core, exported, tmp_path, mode):
    out, _ = exported[mode]
    runner = open_artifact(out / "model.tflite")  # model.json is model.tflite's sidecar: the runtime layer reads it
    contract = runner.contract
    assert contract == Contract.load(out / "model.json")
    for i, pixels in enumerate(photos()):
        assert pixels.shape[:2] != (contract.height, contract.width)  # the resize is exercised
        expected = runner.prepare(resize_rgb(pixels, contract.height, contract.width)[None]).reshape(-1)
        got = java_core.input_tensor(out / "model.json", pixels, tmp_path, expected.dtype)
        assert got.shape == expected.shape
        if contract.input.quantized:
            assert got.tobytes() == expected.tobytes(), f"photo {i}: {np.count_nonzero(got != expected)} bytes differ"
        else:
            assert np.max(np.abs(got - expected)) <= 1e-6, f"photo {i}"


@pytest.mark.parametrize("mode", ["float32", "int8"])
def test_java_top3_equals_python_top3(java_core, exported, tmp_path, mode):
    out, _ = exported[mode]
    contract = Contract.load(out / "model.json")
    runner = open_artifact(out / "model.tflite", contract=contract)
    labels = read_labels(out / "labels.txt")
    distinct = set()
    for pixels in photos(2):
        raw = runner.invoke(runner.prepare(resize_rgb(pixels, contract.height, contract.width)[None]))
        expected = top_k(contract.to_probabilities(raw)[0], labels, 3)
        got = java_core.top_k(out / "model.json", out / "labels.txt", raw[0], tmp_path)
        assert [g[0] for g in got] == [e[0] for e in expected]
        # softmax: Java's exp and numpy's float32 exp may differ in the last bit
        np.testing.assert_allclose([g[1] for g in got], [e[1] for e in expected], rtol=0, atol=1e-6)
        distinct.add(tuple(e[0] for e in expected))
    assert len(distinct) > 1, "every photo gave the same top-3: the comparison would prove little"


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["float32", "int8"])
def test_java_decision_equals_python_on_a_thresholded_binary_run(java_core, binary_run, tmp_path, mode):
    """Issue 10 item 4: the contract's decision travels to the app (model.json and the contract embedded in
    the .tflite), and Java reports the class Python's evaluate/predict report (Contract.decide) on real photos."""
    out = tmp_path / "assets"
    export_android(ExportConfig(run=str(binary_run), artifact=mode, out=str(out)))
    run_contract = Contract.load(binary_run / "contract.json")
    contract = Contract.load(out / "model.json")
    assert (contract.positive_label, contract.threshold) == (run_contract.positive_label, run_contract.threshold)
    assert contract.positive_label == contract.labels[0] and contract.output_units == 1
    runner = open_artifact(out / "model.tflite", contract=contract)
    raws = [runner.invoke(runner.prepare(resize_rgb(p, contract.height, contract.width)[None])) for p in photos(4)]
    probs = contract.to_probabilities(np.concatenate(raws))
    expected = [contract.labels[i] for i in contract.decide(probs)]
    for source in (out / "model.json", out / "model.tflite"):  # sidecar, and the app's embedded-contract fallback
        got = [java_core.decide(source, out / "labels.txt", raw[0], tmp_path) for raw in raws]
        assert got == expected, source.name
    argmax = [contract.labels[i] for i in probs.argmax(axis=1)]
    assert expected != argmax, "the threshold never changed a decision: the comparison would prove little"
    assert len(set(expected)) == 2, "every photo got the same class: the comparison would prove little"


def test_java_top3_equals_python_on_googles_uint8_mobilenet(java_core, tmp_path):
    model = need(CORAL / "mobilenet_v2_1.0_224_quant.tflite")
    runner = open_artifact(model)  # no sidecar: contract inferred, labels from imagenet_labels.txt
    c = runner.contract
    (tmp_path / "model.json").write_text(c.to_json(), encoding="utf-8")
    (tmp_path / "labels.txt").write_text("\n".join(c.labels) + "\n", encoding="utf-8")
    pixels = decode_rgb(need(CORAL / "cat.bmp"))
    x = runner.prepare(resize_rgb(pixels, c.height, c.width)[None])
    got_in = java_core.input_tensor(tmp_path / "model.json", pixels, tmp_path, np.uint8)
    assert got_in.tobytes() == x.reshape(-1).tobytes()
    raw = runner.invoke(x)
    expected = top_k(c.to_probabilities(raw)[0], c.labels, 3)
    got = java_core.top_k(tmp_path / "model.json", tmp_path / "labels.txt", raw[0], tmp_path)
    assert got == expected  # dequantisation only: bit-identical float32 scores
    assert "cat" in expected[0][0].lower()


def test_java_rejects_mismatched_assets(java_core, exported, tmp_path):
    out, _ = exported["int8"]
    labels = tmp_path / "labels.txt"
    labels.write_text("daisy\ndandelion\nroses\n", encoding="utf-8")
    raw = np.zeros(5, np.uint8)
    with pytest.raises(AssertionError, match="labels.txt has 3 labels but model.json has 5"):
        java_core.top_k(out / "model.json", labels, raw, tmp_path)



# ---- the benchmark mode's latency file (BenchmarkActivity -> edgetl search --latency-from) ---------------

def test_benchmark_latency_file_is_read_by_search_latency_from(java_core, tmp_path):
    """The app's benchmark core (LatencyBench + LatencyReport, run on the JVM with a fake clock instead of the
    interpreter) hashes real .tflite files as the app does and writes edgetl-latency/1; edgetl's --latency-from
    reader accepts it and gives each candidate file its own p50, computed as edgetl computes percentiles."""
    import hashlib
    import subprocess

    from edgetl.choose.latency import latency_of, read_latency_file
    from edgetl.measure.stats import percentile
    from test_metadata import tiny_tflite

    models = tmp_path / "models"
    models.mkdir()
    files = {"mobilenet_v2_a0.35_96_int8.tflite": tiny_tflite(4, 4), "mobilenet_a0.25_96_float32.tflite": tiny_tflite(8, 8),
             "mobilenet_a0.25_96_int8.tflite": tiny_tflite(6, 6)}  # the last one is not measured on the "phone"
    for name, data in files.items():
        (models / name).write_bytes(data)
    timed = {"mobilenet_v2_a0.35_96_int8.tflite": [1.25, 0.75, 1.0, 3.5], "mobilenet_a0.25_96_float32.tflite": [4.0, 2.0, 2.5]}
    out = tmp_path / "latency.json"
    args = [str(out), "3"] + [a for name, ms in timed.items() for a in (str(models / name), ",".join(map(str, ms)))]
    proc = subprocess.run(["java", "-cp", java_core.classpath, "io.edgetl.core.LatencyHarness", *args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    table = read_latency_file(out)  # the --latency-from reader: a malformed file would raise EdgetlError
    assert table["device"].startswith("JVM test harness") and "fake clock, 1 thread(s)" in table["device"]
    sha = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    for name, ms in timed.items():
        assert latency_of(table, name, sha[name]) == pytest.approx(percentile(ms, 50), abs=1e-9)
    assert latency_of(table, "mobilenet_a0.25_96_int8.tflite", sha["mobilenet_a0.25_96_int8.tflite"]) is None

    # the search's own step: candidate rows get the phone's p50 by sha256, the unmeasured file none
    from edgetl.choose.run import _latencies

    rows = [{"file": n, "sha256": sha[n], "path": str(models / n)} for n in files]
    state, said = {"latency": {"macs:" + sha[n]: 1 for n in files}}, []
    assert _latencies(rows, None, table, state, tmp_path, {}, None, said.append) == table["device"]
    got = {r["file"]: r["p50_ms"] for r in rows}
    assert got == {"mobilenet_v2_a0.35_96_int8.tflite": pytest.approx(1.125), "mobilenet_a0.25_96_float32.tflite": 2.5,
                   "mobilenet_a0.25_96_int8.tflite": None}, got
    assert said == ["no latency for mobilenet_a0.25_96_int8.tflite in --latency-from: left out"]
    assert all(r["latency_source"] == f"--latency-from ({table['device']})" for r in rows)
    with pytest.raises(EdgetlError, match="measure the current files again"):  # rebuilt since it was measured
        latency_of(table, "mobilenet_v2_a0.35_96_int8.tflite", sha["mobilenet_a0.25_96_int8.tflite"])

    doc = json.loads(out.read_text(encoding="utf-8"))
    entry = {m["file"]: m for m in doc["models"]}["mobilenet_v2_a0.35_96_int8.tflite"]
    assert entry["p90_ms"] == pytest.approx(percentile(timed["mobilenet_v2_a0.35_96_int8.tflite"], 90), abs=1e-9)
    assert entry["max_ms"] == 3.5 and entry["runs"] == 4 and entry["warmup"] == 3  # warm-up runs (1 s each) left out
    assert doc["failed"] == [] and doc["settings"]["warmup"] == 3

@pytest.mark.slow
def test_real_trained_run_int8_export_and_java_parity(small_run, java_core, tmp_path):
    """The whole road on a real run (MobileNetV2 0.35, 96 px, trained on flowers): quantize int8 with
    edgetl, export for Android, and the Java core feeds and reads the model exactly as Python does."""
    from edgetl.config.stages import QuantizeConfig
    from edgetl.stages.quantize import quantize_run

    run = Path(shutil.copytree(small_run[0], tmp_path / "run", symlinks=True))
    quantize_run(QuantizeConfig(run=str(run), modes=["int8"], calibration_images=32, parity_images=16,
                                min_agreement=["int8=0.0"], max_drop=None))
    out = tmp_path / "assets"
    result = export_android(ExportConfig(run=str(run), artifact="int8", out=str(out)))
    assert result["input"]["dtype"] == "uint8" and result["output"]["dtype"] == "uint8"
    runner = open_artifact(out / "model.tflite")
    c = runner.contract
    for pixels in photos():
        x = runner.prepare(resize_rgb(pixels, c.height, c.width)[None])
        assert java_core.input_tensor(out / "model.json", pixels, tmp_path, np.uint8).tobytes() == x.reshape(-1).tobytes()
        raw = runner.invoke(x)
        expected = top_k(c.to_probabilities(raw)[0], c.labels, 3)
        got = java_core.top_k(out / "model.json", out / "labels.txt", raw[0], tmp_path)
        assert [g[0] for g in got] == [e[0] for e in expected]
        np.testing.assert_allclose([g[1] for g in got], [e[1] for e in expected], rtol=0, atol=1e-6)
