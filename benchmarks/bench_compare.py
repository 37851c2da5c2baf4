"""`edgetl compare` for the classic table at 224 px, 1 thread: prints the table (Markdown, each measured row
under its classic row) and the reference ratio.

    python benchmarks/bench_compare.py [--backbones alexnet,vgg16,resnet50,mobilenet,mobilenet_v2,mobilenet_v3_large]
                                       [--input-size 224] [--threads 1] [--runs 50] [--rounds 3]
                                       [--json runs/bench_compare.json] [--plot runs/bench_compare.png]

Slow: VGG16's float32 conversion and ONNX export handle 550 MB each. Random weights (latency and
size do not depend on them). Google's uint8 MobileNetV2 from ../shared is benchmarked beside our
int8 MobileNetV2 1.0 224 when it is there.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
GOOGLE = ROOT.parent / "shared" / "models" / "coral" / "mobilenet_v2_1.0_224_quant.tflite"


def main() -> int:
    from edgetl.config.stages import COMPARE_BACKBONES as DEFAULT_BACKBONES, ComparisonConfig

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backbones", default=",".join(DEFAULT_BACKBONES))
    ap.add_argument("--input-size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--min-seconds", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--json", default=None, help="also write the full result here")
    ap.add_argument("--plot", default=None)
    a = ap.parse_args()

    from edgetl.cli.bench import _reference_line
    from edgetl.report.tables import compare_markdown
    from edgetl.compare.compare import compare, plot
    from edgetl.fsutil import write_json

    t0 = time.perf_counter()
    names = [b for b in a.backbones.split(",") if b]
    result = compare(ComparisonConfig(backbones=names, input_size=a.input_size, threads=[a.threads], runs=a.runs,
                                      min_seconds=a.min_seconds, rounds=a.rounds, workdir=a.workdir,
                                      reference=str(GOOGLE) if GOOGLE.is_file() else None), log=print)
    print(f"# edgetl compare, {a.input_size} px, {a.threads} thread(s), {time.perf_counter() - t0:.0f} s in all\n")
    print(compare_markdown(result) + "\n")  # the host line is its last line
    line = _reference_line(result.get("reference"))
    if line:
        print(line)
    if a.json:
        write_json(a.json, result)
        print(f"wrote {a.json}")
    if a.plot:
        print(f"plot: {plot(result, a.plot)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
