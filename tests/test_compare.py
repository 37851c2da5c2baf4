"""edgetl compare: the classic (seed's) table, each measured row under its classic row; depth/param flags;
reference check; bad input."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgetl.backbones.registry import SEED_TABLE, build_imagenet_classifier, count_weight_layers, get_backbone
from edgetl.cli import main
from edgetl.compare.compare import claim_flags, compare, seed_depth_range
from edgetl.config.stages import ComparisonConfig

from fixtures_bench import CORAL_MNV2, need_coral

FAST = ["--runs", "5", "--min-seconds", "0.1", "--warmup", "1", "--rounds", "1"]


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_seed_depth_ranges():
    assert seed_depth_range("8") == (8, 8)
    assert seed_depth_range("16-19") == (16, 19)
    assert seed_depth_range("50+") == (50, float("inf"))
    with pytest.raises(ValueError):
        seed_depth_range("deep")


def test_claim_flags():
    mobilenet, vgg, resnet = SEED_TABLE["MobileNet"], SEED_TABLE["VGG"], SEED_TABLE["ResNet"]
    assert claim_flags(mobilenet, 28, 4_253_864) == []  # MobileNet v1 1.0 agrees with "28, ~4.2 M"
    assert claim_flags(vgg, 16, 138_357_544) == [] and claim_flags(vgg, 19, 143_667_240) == []
    assert claim_flags(resnet, 54, 25_636_712) == []
    flags = claim_flags(mobilenet, 53, 3_538_984)  # MobileNetV2 1.0
    assert flags == ["depth 53 vs classic 28", "params 3.54 M vs classic ~4.2 M (-16%)"]
    assert claim_flags(SEED_TABLE["AlexNet"], 8, 70_000_000) == ["params 70.00 M vs classic 60 M (+17%)"]


@pytest.mark.slow
def test_compare_two_backbones_prints_one_table_with_the_classic_row_above(tmp_path):
    """Two real backbones at 96 px: one table, params equal the models' own count_params."""
    plot = tmp_path / "cmp.png"
    r = cli("compare", "--backbones", "mobilenet,mobilenet_v2", "--alpha", "0.5", "--input-size", "96",
            "--workdir", tmp_path / "work", "--plot", plot, "--json", *FAST)
    assert r.exit_code == 0, r.output[-2000:]
    assert "classic rows as claimed, measured rows under them" in r.stderr and "MobileNet (classic)" in r.stderr
    assert "SEED_TABLE" in r.stderr  # the caption says where the classic figures come from
    out = json.loads(r.stdout)
    assert "SEED_TABLE" in out["classic_source"]
    assert [s["backbone"] for s in out["seed"]] == ["mobilenet", "mobilenet_v2"]
    assert out["seed"][0]["depth"] == "28" and out["seed"][0]["key_advantage"] == "Lightweight"
    assert (out["seed"][0]["alpha"], out["seed"][0]["input_size"]) == (1.0, 224)
    for row in out["measured"]:
        spec = get_backbone(row["backbone"])
        model = build_imagenet_classifier(spec, 96, 0.5, 1000)
        assert row["params"] == model.count_params()
        assert row["depth"] == count_weight_layers(model)
        assert row["errors"] == []
        for kind in ("tflite_float32", "tflite_int8", "onnx"):
            path = Path(row[f"{kind}_path"])
            assert row[f"{kind}_mb"] == path.stat().st_size / 1e6
            assert row[f"{kind}_p50_ms"] > 0
        assert row["tflite_int8_mb"] < row["tflite_float32_mb"] / 3  # int8 weights: about a quarter
        # the seed's rows are the classic width 1.0: a 0.5-width network is not held to its ~4.2 M parameters
        assert row["alpha"] == 0.5 and not any(f.startswith("params") for f in row["flags"])
        assert row["family"] == "MobileNet" and row["params_compared"] is False
        assert "params not compared at alpha 0.5" in row["note"]
    v1, v2 = out["measured"]
    assert v1["depth"] == 28 and not v1["flagged"] and v2["depth"] > 28 and "depth" in v2["flags"][0]
    assert plot.stat().st_size > 10_000 and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _result(measured: list) -> dict:
    """A compare result as compare() returns it, from fabricated measured rows (no model is built)."""
    from edgetl.compare.claims import CLASSIC_SOURCE, claim_note, params_compared, seed_row

    fmts = ["tflite:float32", "tflite:int8", "onnx:float32"]
    rows = []
    for name, alpha, size, depth, params, p50 in measured:
        spec = get_backbone(name)
        a = alpha if spec.alphas else None
        row = {"backbone": name, "family": spec.family, "alpha": a, "input_size": size, "depth": depth,
               "params": params, "flags": claim_flags(spec.seed, depth, params, a), "errors": [],
               "params_compared": params_compared(a), "fps_int8": 1000 / p50}
        for k in ("tflite_float32", "tflite_int8", "onnx"):
            row.update({f"{k}_mb": params * (1 if k == "tflite_int8" else 4) / 1e6, f"{k}_p50_ms": p50,
                        f"{k}_accuracy": None})
        rows.append({**row, "flagged": bool(row["flags"]), "note": claim_note(row)})
    return {"seed": [seed_row(m[0]) for m in measured], "measured": rows, "classic_source": CLASSIC_SOURCE,
            "settings": {"formats": fmts, "threads": 1}}


FABRICATED = [("mobilenet", 0.25, 96, 28, 470_000, 0.41), ("resnet50", None, 224, 54, 25_636_712, 27.1),
              ("mobilenet_v2", 1.0, 224, 53, 3_538_984, 4.41)]


def test_each_measured_row_sits_under_its_classic_row_with_its_alpha_and_size():
    """A MobileNet at alpha 0.25 and 96 px sits under the classic MobileNet row (1.0, 224 px) and says so."""
    from edgetl.report.tables import compare_markdown

    from edgetl.measure.sysinfo import collect, one_line

    system = collect()
    lines = compare_markdown({**_result(FABRICATED), "system": system}).splitlines()
    assert lines[-1] == f"Host: {one_line(system)}"  # its speed figures carry the host line
    lines = lines[:-2]
    cells = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines if ln.startswith("| ") and "---" not in ln]
    header, rows = cells[0], cells[1:]
    assert header[:5] == ["backbone", "alpha", "px", "depth", "params"]
    # grouped by the classic row they belong to, in the order the backbones were measured
    assert [r[0] for r in rows] == ["**MobileNet (classic)**", "mobilenet", "mobilenet_v2", "**ResNet (classic)**",
                                    "resnet50"]
    assert rows[0][:5] == ["**MobileNet (classic)**", "1.0", "224", "28", "~4.2 M"]
    assert rows[0][-1] == "MobileNet v1 1.0 (Howard et al. 2017): Lightweight, Mobile apps"
    assert rows[1][:5] == ["mobilenet", "0.25", "96", "28", "0.47 M"]
    assert rows[1][-1] == "agrees; params not compared at alpha 0.25"
    assert rows[2][:3] == ["mobilenet_v2", "1.0", "224"]
    assert rows[2][-1] == "depth 53 vs classic 28; params 3.54 M vs classic ~4.2 M (-16%)"
    assert rows[3][:5] == ["**ResNet (classic)**", "-", "224", "50+", "~25 M"]  # no width multiplier: no alpha
    assert rows[4][:3] == ["resnet50", "-", "224"] and rows[4][-1] == "agrees"
    assert "SEED_TABLE" in lines[-1] and "no source given" in lines[-1]  # where the classic figures come from
    from edgetl.compare.claims import seed_row

    assert seed_row("alexnet")["input_size"] == 227  # the seed's 60 M fit AlexNet at 227 px (62.4 M), not 224


@pytest.mark.parametrize("width", [80, 100, 120])
def test_compare_table_fits_the_terminal_with_alpha_size_and_names_whole(width):
    import io

    from rich.console import Console

    from edgetl.report.tables import compare_columns, comparison_rows, measured_drop, rich_table

    res = _result(FABRICATED)
    cols = compare_columns(res)
    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None).print(
        rich_table("compare", cols, comparison_rows(res), caption=res["classic_source"], width=width,
                   drop=measured_drop(cols)))
    lines = buf.getvalue().splitlines()
    assert max(len(ln) for ln in lines) <= width
    body = [ln for ln in lines if ln.startswith("│")]
    starts = [i for i, ln in enumerate(body) if ln.split("│")[1].strip()]  # the first line of each row
    firsts = [[c.strip() for c in body[i].split("│")[1:-1]] for i in starts]
    assert [f[0] for f in firsts] == ["MobileNet (classic)", "mobilenet", "mobilenet_v2", "ResNet (classic)",
                                      "resnet50"]
    assert firsts[0][1:4] == ["1.0", "224", "28"] and firsts[1][1:4] == ["0.25", "96", "28"]
    assert firsts[4][1:3] == ["-", "224"] and "27.10" in firsts[4]  # a latency is shown at every width
    v2, resnet = lines.index(body[starts[2]]), lines.index(body[starts[3]])
    assert [ln for ln in lines[v2:resnet] if ln.startswith("├")]  # a rule closes the MobileNet group


@pytest.mark.slow
def test_reference_sets_our_int8_mobilenet_v2_beside_googles(tmp_path):
    need_coral()
    res = compare(ComparisonConfig(backbones=["mobilenet"], input_size=96, alpha=0.25, reference=str(CORAL_MNV2),
                                   runs=5, min_seconds=0.1, warmup=1, rounds=1, workdir=str(tmp_path)))
    ref = res["reference"]
    assert ref["error"] is None, ref["error"]
    assert Path(ref["ours"]).name == "mobilenet_v2_1.0_224_int8.tflite"
    assert ref["ratio"] == pytest.approx(ref["ours_p50_ms"] / ref["google_p50_ms"])
    assert ref["google_mb"] == CORAL_MNV2.stat().st_size / 1e6
    assert 0.5 < ref["ours_mb"] / ref["google_mb"] < 2  # the same architecture, both int8


@pytest.mark.parametrize("args,message", [
    (["--backbones", "mobilenet,lenet"], "--backbones: unknown value 'lenet'; choose one of: alexnet"),
    (["--backbones", "resnet50", "--input-size", "16"], "below resnet50's minimum of 32 px"),
    (["--backbones", "mobilenet", "--alpha", "0.3"], "--alpha 0.3 is not valid for mobilenet"),
    (["--backbones", "mobilenet", "--threads", "0"], "--threads must be positive"),
    (["--backbones", "mobilenet", "--runs", "0"], "--runs must be >= 1, got 0"),
    (["--backbones", "mobilenet", "--reference", "nope.tflite"], "--reference nope.tflite is not a .tflite file"),
    (["--backbones", "mobilenet", "--data", "no/such/dir"], "--data no/such/dir is not a folder"),
])
def test_compare_bad_input(args, message):
    r = cli("compare", *args)
    assert r.exit_code == 2, r.output
    assert r.stderr.strip().count("\n") == 0 and message in r.stderr and "Traceback" not in r.output


@pytest.mark.slow
def test_compare_with_data_trains_and_measures_accuracy(tmp_path):
    """--data/--weights-dir: a transfer classifier per backbone; accuracy per artifact on the run's test split."""
    from shared_data import SHARED

    flowers, weights = SHARED / "data" / "flowers_small", SHARED / "weights" / "imagenet"
    if not flowers.is_dir() or not weights.is_dir():
        pytest.skip(f"{flowers} or {weights} is absent (see ../shared/README.md)")
    data = tmp_path / "data"
    for cls in ("daisy", "tulips"):
        (data / cls).mkdir(parents=True)
        for f in sorted((flowers / cls).iterdir())[:10]:
            (data / cls / f.name).symlink_to(f)
    res = compare(ComparisonConfig(backbones=["mobilenet_v2"], input_size=96, alpha=0.35, data=str(data),
                                   weights_dir=str(weights), epochs=1, runs=5, min_seconds=0.1, warmup=1, rounds=1,
                                   workdir=str(tmp_path / "work")))
    (row,) = res["measured"]
    assert row["errors"] == []
    metrics = json.loads((tmp_path / "work" / "mobilenet_v2" / "run" / "metrics.json").read_text())
    assert row["artifact_params"] == metrics["params"] and row["params"] > row["artifact_params"]
    test_files = sorted((tmp_path / "work" / "test_split").rglob("*.jpg"))
    assert len(test_files) == metrics["data"]["test"]
    # the float artifacts agree with the Keras model's own test accuracy; int8 is a fraction of the same images
    assert row["tflite_float32_accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    assert row["onnx_accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    # the int8 figure re-measured here, outside the benchmark worker: the int8 file's own decisions on the test split
    from edgetl.runtime.registry import open_artifact

    runner = open_artifact(row["tflite_int8_path"])
    truth = np.array([list(runner.contract.labels).index(f.parent.name) for f in test_files])
    pred = runner.contract.decide(runner.predict_files(test_files))
    assert row["tflite_int8_accuracy"] == pytest.approx(float(np.mean(pred == truth)))


def test_a_failed_conversion_becomes_its_rows_reason(tmp_path):
    """The conversion subprocess's failure is reported per artifact kind, never raised."""
    from edgetl.compare.compare import convert_in_subprocess

    job = {"backbone": "no_such_net", "size": 96, "alpha": None, "classes": 10, "out_dir": str(tmp_path / "out"),
           "stem": "x", "modes": ["float32", "int8"], "onnx": True, "run_dir": None, "calibration": None}
    done = convert_in_subprocess(job, tmp_path)
    assert sorted(done) == ["onnx", "tflite_float32", "tflite_int8"]
    for path, err in done.values():
        assert path is None and "unknown backbone 'no_such_net'" in err


def test_each_conversion_step_is_its_own_job():
    """A big model's TFLite modes and ONNX export run in separate processes, so their peaks do not add up."""
    from edgetl.compare.jobs import job_kinds, job_steps

    job = {"backbone": "vgg16", "size": 224, "alpha": None, "classes": 1000, "out_dir": "o", "stem": "vgg16",
           "modes": ["float32", "int8"], "onnx": True, "run_dir": None, "calibration": None}
    steps = job_steps(job)
    assert [(s["modes"], s["onnx"]) for s in steps] == [(["float32"], False), (["int8"], False), ([], True)]
    assert [k for s in steps for k in job_kinds(s)] == job_kinds(job)


@pytest.mark.slow
def test_big_model_tflite_path_through_a_saved_model_gives_the_same_file(tmp_path, monkeypatch):
    """Above SAVED_MODEL_PARAMS the converter goes through a temporary SavedModel (VGG's bounded memory): same outputs."""
    from edgetl import _tf
    from edgetl.tflite import converter as tflite
    from edgetl.compare.jobs import imagenet_contract, random_pixels
    from edgetl.runtime.registry import open_artifact

    spec = get_backbone("mobilenet_v2")
    _tf.set_seed(0)
    model = build_imagenet_classifier(spec, 64, 0.35, 4)
    contract = imagenet_contract(spec, 64, 0.35, 4)
    cal = random_pixels(4, 64)
    outs = {}
    for name, limit in (("direct", 10 ** 12), ("saved_model", 0)):
        monkeypatch.setattr(tflite, "SAVED_MODEL_PARAMS", limit)
        info = tflite.convert_tflite(model, contract, ["float32", "int8"], tmp_path / name, calibration=cal, stem="m")
        outs[name] = {m: np.asarray(open_artifact(r.get("artifact") or r["path"]).predict(cal)) for m, r in info.items()}
    for mode in ("float32", "int8"):
        np.testing.assert_allclose(outs["saved_model"][mode], outs["direct"][mode], atol=1e-5)
