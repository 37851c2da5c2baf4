"""The cost of a QAT file's per-layer error table (``edgetl.tflite.qat_error``) and the table itself.

For each RUN_DIR (made by `edgetl train`): the run is copied under --out and `edgetl quantize --mode qat`
(1 QAT epoch, 100 calibration images) writes its QAT file there; the QAT record's "layer_error" is
measured against the float twin on the first 64 calibration images. Prints the host line, then per run
the table's wall and CPU seconds, tensors measured and unmatched, and its worst 5 tensors. The
int8 debugger's table of the same model is not printed beside it: the two are measured differently
(docs/quantize.md) and are not comparable row for row.

    nice -n 5 python benchmarks/bench_qat_error.py RUN_DIR [RUN_DIR ...] [--out runs/bench_qat_error] [--data DIR]
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from edgetl.config.stages import QuantizeConfig
    from edgetl.measure import sysinfo
    from edgetl.stages.quantize import quantize_run
    from edgetl.tflite.auto_float import short

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--out", default=str(ROOT / "runs" / "bench_qat_error"))
    ap.add_argument("--data", default=None, help="the runs' data folder, when it moved (quantize --data)")
    a = ap.parse_args()
    load_start = sysinfo.load_average()
    results = {}
    for run in a.runs:
        dst = Path(a.out) / Path(run).name
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(run, dst, ignore=shutil.ignore_patterns("*.tflite", "*.onnx", "gate.json", "model_*.json"))
        (rec,) = quantize_run(QuantizeConfig(run=str(dst), modes=["qat"], data=a.data, qat_epochs=1, calibration_images=100,
                                             max_drop=None), keep_going=True)
        results[run] = rec
    print(f"\nhost: {sysinfo.one_line(sysinfo.collect(load_start=load_start))}")
    for run, rec in results.items():
        le = rec.get("layer_error") or {"error": rec.get("error") or "no QAT file written"}
        if le.get("error"):
            print(f"\n{run}: per-layer error not measured: {le['error']}")
            continue
        print(f"\n{run}: QAT per-layer error against the float twin on {le['images']} images: "
              f"{le['seconds']:.2f} s wall, {le['cpu_seconds']:.2f} s CPU; {le['tensors_measured']} tensors "
              f"measured, {le['unmatched']} unmatched")
        for r in le["rows"][:5]:
            print(f"  {short(r['tensor'])[:60]:60s} {r['op']:18s} rmse/scale {r['rmse_scale']:6.2f}  "
                  f"scale {r['scale']:.3g}")


if __name__ == "__main__":
    main()
