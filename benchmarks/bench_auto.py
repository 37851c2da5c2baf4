"""`quantize --auto` on trained runs: what it keeps in float, op coverage, latency and parity against plain int8.

For each RUN_DIR (made by `edgetl train`): float32, plain int8 and int8 `--auto` TFLite files of the
run's model (calibrated on 200 training images, each behind the run's parity gate), written under
--out, then all measured in ONE `edgetl benchmark` run (interleaved rounds, 1 thread) with the cheap op
coverage. Prints per run: what --auto kept and why, and per file p50 (wall and CPU), partitions,
fallback ops, agreement with Keras [95% interval] and test accuracy.

    nice -n 5 python benchmarks/bench_auto.py RUN_DIR [RUN_DIR ...] [--out runs/bench_auto] [--rounds 3]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build(run_dir: Path, out: Path) -> dict:
    """{variant: record} of float32, plain int8 and --auto int8 of one run (records carry the gate figures)."""
    from edgetl.tflite.converter import convert_tflite
    from edgetl.rundir import RunDir
    from edgetl.tflite.auto_float import choose

    run = RunDir(run_dir)
    model_path = run.resolve_model(None)
    contract = run.contract_for(model_path)
    model = run.load_model(model_path)
    splits = run.splits_or_none(None, True, why="int8 needs the run's training images")
    gate = run.gate(model, model_path, contract, splits, None, None)
    cal = run.calibration(splits, 200)
    plain = convert_tflite(model, contract, ["float32", "int8"], out / "plain", calibration=cal, gate=gate,
                           keep_going=True)
    sel = choose(model, contract, cal, "uint8")
    auto = convert_tflite(model, contract, ["int8"], out / "auto", calibration=cal, gate=gate,
                          keep_float=sel["keep_float"], keep_going=True)["int8"]
    auto["auto_keep_float"] = sel
    return {"float32": plain["float32"], "int8": plain["int8"], "int8 --auto": auto}


def main() -> None:
    from edgetl.config.stages import BenchmarkConfig
    from edgetl.measure.bench import benchmark
    from edgetl.tflite.auto_float import short

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--out", default=str(ROOT / "runs" / "bench_auto"))
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    built = {r: build(Path(r), Path(a.out) / Path(r).name) for r in a.runs}
    paths = [rec["artifact"] for recs in built.values() for rec in recs.values() if rec.get("artifact")]
    res = benchmark(paths, BenchmarkConfig(threads=[1], runs=60, min_seconds=2.0, rounds=a.rounds), ops=True, ops_per_op=False, measure_peak=False)
    rows = {r["artifact"]: r for r in res["results"]}
    profs = {p["artifact"]: p for p in res["ops"] or []}
    print(f"\n== quantize --auto: one benchmark run, 1 thread, XNNPACK, {a.rounds} rounds ==")
    for run, recs in built.items():
        sel = recs["int8 --auto"]["auto_keep_float"]
        print(f"\n{run}: --auto kept {', '.join(map(short, sel['keep_float'])) or 'nothing'}")
        for reason in sel["reasons"]:
            print(f"  - {reason}")
        for variant, rec in recs.items():
            if not rec.get("artifact"):
                print(f"  {variant:12s} not written: {rec.get('error')}")
                continue
            b, p = rows.get(rec["artifact"], {}), profs.get(rec["artifact"], {})
            fb = ", ".join(f"{k} x{v}" for k, v in (p.get("fallback_ops") or {}).items()) or "none"
            print(f"  {variant:12s} p50 {b.get('p50_ms') or 0:7.2f} ms (CPU {b.get('cpu_p50_ms') or 0:6.2f})  "
                  f"partitions {p.get('partitions')}  fallback {fb}  agreement {100 * (rec.get('agreement') or 0):.1f}% "
                  f"[{100 * (rec.get('agreement_low') or 0):.1f}-{100 * (rec.get('agreement_high') or 0):.1f}%] "
                  f"n={rec.get('parity_images')} gate {rec.get('gate')}  test acc {rec.get('accuracy')}")
    for n in res.get("notes") or []:
        print(f"note: {n}")


if __name__ == "__main__":
    main()
