"""edgetl benchmark: statistics, system info, real TFLite/ONNX/Keras measurements, accuracy, bad input."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgetl.measure import stats, sysinfo
from edgetl.config.stages import BenchmarkConfig
from edgetl.measure.bench import ROW_KEYS, benchmark, expand_artifacts
from edgetl.cli import main
from edgetl.errors import EdgetlError

from fixtures_bench import CORAL_MNV2, LABELS, coral_data, need_coral

REQUIRED = ("artifact", "runtime", "threads", "init_ms", "first_ms", "mean_ms", "std_ms", "p50_ms", "p90_ms", "p99_ms",
            "fps", "size_mb", "gzip_mb", "peak_rss_mb", "accuracy", "meets_budget", "error")
FAST = ["--runs", "5", "--min-seconds", "0.1", "--warmup", "1", "--rounds", "1"]


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def error_lines(result) -> list:
    return [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]


# ---- statistics -----------------------------------------------------------------------------

def test_stats_on_known_samples():
    xs = [4.0, 1.0, 3.0, 2.0]
    assert stats.mean(xs) == 2.5
    assert stats.std(xs) == pytest.approx(math.sqrt(1.25))  # population std: sum((x-2.5)^2)/4 = 1.25
    assert stats.percentile(xs, 0) == 1.0 and stats.percentile(xs, 100) == 4.0
    assert stats.percentile(xs, 50) == 2.5  # halfway between ranks 1 and 2 of 1,2,3,4
    assert stats.percentile(xs, 90) == pytest.approx(3.7)  # rank 2.7: 3 + 0.7
    assert stats.percentile(xs, 99) == pytest.approx(3.97)
    assert stats.percentile([7.0], 99) == 7.0 and stats.std([7.0]) == 0.0
    s = stats.summarize(list(range(1, 101)))
    assert (s["n"], s["min"], s["max"], s["p50"]) == (100, 1, 100, 50.5)
    assert s["p90"] == pytest.approx(90.1) and s["p99"] == pytest.approx(99.01)


def test_stats_match_numpy_on_random_samples():
    xs = list(np.random.default_rng(1).exponential(5.0, size=257))
    for q in (1, 25, 50, 90, 99):
        assert stats.percentile(xs, q) == pytest.approx(np.percentile(xs, q))
    assert stats.std(xs) == pytest.approx(np.std(xs))
    with pytest.raises(ValueError):
        stats.mean([])
    with pytest.raises(ValueError):
        stats.percentile(xs, 101)


def test_sysinfo_reads_isa_flags():
    text = "processor\t: 0\nmodel name\t: Some CPU @ 2GHz\nflags\t\t: fpu sse avx2 fma avx512f avx512_vnni\n"
    info = sysinfo.parse_cpuinfo(text)
    assert info["model"] == "Some CPU @ 2GHz"
    assert sysinfo.isa_flags(info["flags"]) == ["AVX2", "FMA", "AVX-512F", "AVX-512-VNNI"]
    arm = sysinfo.parse_cpuinfo("Features\t: fp asimd asimddp\n")
    assert sysinfo.isa_flags(arm["flags"]) == ["NEON", "NEON-DOTPROD"]
    s = sysinfo.collect()
    assert s["logical_cores"] >= 1 and s["usable_cores"] >= 1
    assert {"avx2", "avx512", "vnni", "isa", "cpu_model"} <= set(s)
    assert s["versions"]["ai-edge-litert"] and s["versions"]["onnxruntime"]


def _host(cpuinfo: str) -> dict:
    """sysinfo.collect() as it would read on a host with this /proc/cpuinfo text."""
    flags = sysinfo.parse_cpuinfo(cpuinfo)["flags"]
    return {**sysinfo.collect(), "isa": sysinfo.isa_flags(flags), "int8_dot": sysinfo.int8_dot(flags)}


def test_int8_dot_products_are_read_from_cpuinfo_and_a_host_without_them_says_so():
    from edgetl.measure.verdicts import speed_notes

    avx2 = _host("model name\t: AMD EPYC\nflags\t\t: fpu sse avx2 fma\n")
    vnni = _host("model name\t: AMD EPYC\nflags\t\t: fpu avx2 fma avx512f avx512bw avx512_vnni\n")
    amx = _host("flags\t\t: avx2 avx512f amx_tile amx_int8\n")
    phone = _host("Features\t: fp asimd asimddp i8mm\n")
    old_arm = _host("Features\t: fp asimd\n")
    assert avx2["int8_dot"] == [] and vnni["int8_dot"] == ["AVX-512-VNNI"] and amx["int8_dot"] == ["AMX-INT8"]
    assert phone["int8_dot"] == ["NEON-DOTPROD", "I8MM"] and old_arm["int8_dot"] == []
    assert sysinfo.int8_note(avx2) == sysinfo.NO_INT8_DOT and sysinfo.int8_note(old_arm) == sysinfo.NO_INT8_DOT
    assert sysinfo.int8_note(vnni) is None and sysinfo.int8_note(phone) is None and sysinfo.int8_note(amx) is None
    assert "int8 dot product: none" in sysinfo.one_line(avx2) and "int8 dot product: AVX-512-VNNI" in sysinfo.one_line(vnni)
    rows = [{"kind": "tflite:int8", "name": "model_int8.tflite", "p50_ms": 1.0, "artifact": "r/model_int8.tflite",
             "threads": 1}]
    (note,) = speed_notes(rows, avx2)
    assert note.startswith("int8 runs at about float speed on this CPU; phones with ARMv8.2 dot products run it faster")
    assert speed_notes(rows, vnni) == [] and speed_notes([{**rows[0], "kind": "tflite:float32"}], avx2) == []


def test_the_host_record_carries_the_load_average_during_the_run():
    s = sysinfo.collect(load_start=1.25)
    assert s["load_average"]["start"] == 1.25 and s["load_average"]["end"] >= 0
    assert "load 1.2 -> " in sysinfo.one_line(s) or "load 1.3 -> " in sysinfo.one_line(s)


def test_run_dir_expands_to_all_its_artifacts(tmp_path):
    for name in ("model.keras", "model_int8.tflite", "model_float32.tflite", "model.onnx", "contract.json", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    got = [p.name for p, err in expand_artifacts([tmp_path]) if err is None]
    assert got == ["model.keras", "model_float32.tflite", "model_int8.tflite", "model.onnx"]
    (empty := tmp_path / "empty").mkdir()
    assert expand_artifacts([empty])[0][1].startswith(f"{empty} is a folder without")


# ---- real measurements -------------------------------------------------------------------------

@pytest.mark.slow
def test_benchmark_real_tflite_onnx_keras(tiny_artifacts):
    """The run-like folder expands to model.keras, the TFLite and the ONNX file; every field is measured."""
    res = benchmark([tiny_artifacts["dir"]], BenchmarkConfig(threads=list((1,)), runs=6, min_seconds=0.1, warmup=1, rounds=2))
    rows = {r["runtime"]: r for r in res["results"]}
    assert sorted(rows) == ["keras", "onnx", "tflite"]
    for runtime, r in rows.items():
        assert set(REQUIRED) <= set(r) and set(ROW_KEYS) == set(r)
        assert r["error"] is None, r["error"]
        assert r["init_ms"] > 0 and r["first_ms"] > 0
        assert 0 < r["min_ms"] <= r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"] <= r["max_ms"]
        assert r["runs"] >= 6 and r["rounds"] == 2
        assert r["fps"] == pytest.approx(1000.0 / r["mean_ms"])
        size = Path(r["artifact"]).stat().st_size
        assert r["size_bytes"] == size and r["size_mb"] == size / 1e6
        assert 0 < r["gzip_mb"]
        assert r["peak_rss_mb"] > 0 and r["accuracy"] is None
        assert r["meets_budget"] is (r["p50_ms"] <= 33.0)
        assert r["threads"] == 1
    assert rows["tflite"]["xnnpack"] is True and rows["onnx"]["xnnpack"] is None
    # each worker's own memory: the TFLite worker never imports TensorFlow, the Keras one does
    assert rows["tflite"]["peak_rss_mb"] < rows["keras"]["peak_rss_mb"]
    for r in rows.values():
        assert r["peak_rss_mb"] >= r["base_rss_mb"] > 0
    assert res["system"]["logical_cores"] >= 1 and res["settings"]["rounds"] == 2
    assert res["failed"] == 0


@pytest.mark.slow
def test_cli_failed_artifact_gets_its_row_and_others_go_on(tiny_artifacts, tmp_path):
    bad = tmp_path / "truncated.tflite"
    bad.write_bytes(tiny_artifacts["tflite"].read_bytes()[:200])
    r = cli("benchmark", tiny_artifacts["tflite"], bad, tiny_artifacts["onnx"], "--threads", "1,2", "--json", *FAST)
    assert r.exit_code == 2
    out = json.loads(r.stdout)
    by = {(Path(x["artifact"]).name, x["threads"]): x for x in out["results"]}
    assert len(by) == 6
    for t in (1, 2):
        assert by[("truncated.tflite", t)]["error"].startswith("failed: ")
        assert "not a valid TFLite model" in by[("truncated.tflite", t)]["error"]
        assert by[("truncated.tflite", t)]["p50_ms"] is None
        for good in (tiny_artifacts["tflite"].name, "model.onnx"):
            assert by[(good, t)]["error"] is None and by[(good, t)]["p50_ms"] > 0
    assert len(error_lines(r)) == 1 and "truncated.tflite" in error_lines(r)[0]
    assert "edgetl benchmark" in r.stderr  # the rich table


@pytest.mark.slow
def test_cli_csv_and_markdown(tiny_artifacts):
    r = cli("benchmark", tiny_artifacts["tflite"], "--csv", *FAST)
    assert r.exit_code == 0, r.output
    header, row = r.stdout.strip().splitlines()
    assert header.split(",") == list(ROW_KEYS)
    assert dict(zip(header.split(","), row.split(",")))["runtime"] == "tflite"
    r = cli("benchmark", tiny_artifacts["onnx"], "--markdown", "--budget-ms", "1000", *FAST)
    assert r.exit_code == 0, r.output
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith("| artifact | runtime |") and "| model.onnx | onnx | 1 |" in lines[2]
    assert lines[2].rstrip().endswith("| yes |")


# ---- accuracy ------------------------------------------------------------------------------

@pytest.mark.slow
def test_accuracy_on_coral_model_with_shared_images(tmp_path):
    data = coral_data(tmp_path / "data")
    res = benchmark([CORAL_MNV2], BenchmarkConfig(runs=3, min_seconds=0.05, warmup=1, rounds=1), data=str(data))
    (row,) = res["results"]
    assert row["error"] is None, row["error"]
    assert row["accuracy"] == 1.0 and row["accuracy_n"] == 4  # Egyptian cat, macaw, military uniform, hotdog


@pytest.mark.slow
def test_accuracy_counts_wrong_predictions(tmp_path):
    """The cat photo filed under 'macaw' must count as wrong: 3 of 4 right."""
    need_coral()
    data = coral_data(tmp_path / "data")
    (data / "Egyptian cat" / "cat.bmp").rename(data / "macaw" / "cat.bmp")
    (data / "Egyptian cat").rmdir()
    res = benchmark([CORAL_MNV2], BenchmarkConfig(runs=3, min_seconds=0.05, warmup=1, rounds=1), data=str(data))
    assert res["results"][0]["accuracy"] == pytest.approx(0.75)


# ---- bad input -------------------------------------------------------------------------------

def test_bad_input_not_a_model_file(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("hello")
    r = cli("benchmark", f)
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.strip().count("\n") == 0 and "is not a model file" in r.stderr


@pytest.mark.parametrize("suffix,message", [(".tflite", "not a valid TFLite model"), (".onnx", "not a valid ONNX model")])
def test_bad_input_truncated_model(tmp_path, suffix, message):
    f = tmp_path / f"model{suffix}"
    f.write_bytes(b"\x1c\x00\x00\x00TFL3" + b"\x00" * 40)
    r = cli("benchmark", f, *FAST)
    assert r.exit_code == 2
    assert r.stderr.strip().count("\n") == 0 and message in r.stderr and "Traceback" not in r.output


@pytest.mark.parametrize("args,message", [(["--threads", "0"], "--threads must be positive"),
                                          (["--threads", "a,b"], "--threads must be comma-separated"),
                                          (["--runs", "0"], "--runs must be at least 1"),
                                          (["--rounds", "0"], "--rounds must be at least 1"),
                                          (["--min-seconds", "-1"], "--min-seconds must be 0 or more"),
                                          (["--json", "--csv"], "choose one output format")])
def test_bad_input_settings(tmp_path, args, message):
    f = tmp_path / "m.tflite"
    f.write_bytes(b"x")
    r = cli("benchmark", f, *args)
    assert r.exit_code == 2 and r.stderr.strip().count("\n") == 0 and message in r.stderr


def test_bad_settings_through_the_api():
    with pytest.raises(EdgetlError, match="--threads"):
        benchmark(["x.tflite"], BenchmarkConfig(threads=list((0,))))
    with pytest.raises(EdgetlError, match="--runs"):
        benchmark(["x.tflite"], BenchmarkConfig(runs=0))


@pytest.mark.slow
def test_bad_input_data_not_matching_labels(tiny_artifacts, tmp_path):
    data = tmp_path / "data"
    for cls in ("bee", "zebra"):
        (data / cls).mkdir(parents=True)
        from PIL import Image
        Image.new("RGB", (40, 30), (200, 10, 10)).save(data / cls / "a.png")
    r = cli("benchmark", tiny_artifacts["tflite"], "--data", data, *FAST)
    assert r.exit_code == 2
    assert r.stderr.strip().count("\n") == 0
    assert "'zebra'" in r.stderr and "not labels of this model" in r.stderr and "'ant'" in r.stderr
    r = cli("benchmark", tiny_artifacts["tflite"], "--data", tmp_path / "nope", *FAST)
    assert r.exit_code == 2 and "is not a folder" in r.stderr


@pytest.mark.slow
def test_accuracy_on_matching_data_through_the_cli(tiny_artifacts, tmp_path):
    """Images filed under the tiny model's labels: accuracy is a fraction of the 3 images, not None."""
    from PIL import Image
    data = tmp_path / "data"
    for i, cls in enumerate(LABELS):
        (data / cls).mkdir(parents=True)
        Image.new("RGB", (50, 50), (80 * i, 30, 200 - 60 * i)).save(data / cls / "x.png")
    r = cli("benchmark", tiny_artifacts["onnx"], "--data", data, "--json", *FAST)
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout)["results"][0]
    assert row["accuracy_n"] == 3 and row["accuracy"] in (0.0, 1 / 3, 2 / 3, 1.0)
