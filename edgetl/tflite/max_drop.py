"""`edgetl quantize --max-drop POINTS`: int8 within a stated accuracy drop from float, or a plain refusal to pretend.

After the int8 file is written, its accuracy on the run's validation split is set beside the Keras
model's on the same images (paired: per image, right-in-float minus right-in-int8; the drop in points
with a 95% normal interval of that mean). While the drop is above the limit, the tensor with the worst
measured quantization error not yet in float (TFLite's quantization debugger: rmse/scale, the ranking of
``edgetl.tflite.auto_float``) is put back into float, the file converted again and measured again, up
to ``MAX_STEPS`` tensors. If a step brings the drop within the limit, that file is written through the
ordinary path and parity gate. Otherwise the best step is kept and the record says so, with the figure,
and names `--mode qat` (quantization-aware training) as the fix. Every step is recorded: what was kept,
the drop and its interval. The validation split chooses; the test split only reports.
"""
from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from edgetl.errors import EdgetlError

MAX_STEPS = 5  # tensors put back into float at most (each costs a conversion and a validation pass)
Z95 = 1.959964


def paired_drop(ref_ok: np.ndarray, got_ok: np.ndarray) -> dict:
    """{"drop", "low", "high" (points, 95% normal interval of the paired mean), "n", "reference_acc" (float or
    unpruned), "candidate_acc" (int8 or pruned)}."""
    ref_ok, got_ok = np.asarray(ref_ok, bool), np.asarray(got_ok, bool)
    d = ref_ok.astype(float) - got_ok.astype(float)
    n = len(d)
    mean = float(d.mean()) if n else 0.0
    half = Z95 * float(d.std(ddof=1)) / math.sqrt(n) if n > 1 else 0.0
    return {"drop": 100 * mean, "low": 100 * (mean - half), "high": 100 * (mean + half), "n": int(n),
            "reference_acc": float(ref_ok.mean()) if n else None, "candidate_acc": float(got_ok.mean()) if n else None}


def control(measure: Callable[[list], dict], rank: Callable[[], Sequence[str]], limit: float,
            max_steps: int = MAX_STEPS) -> dict:
    """The greedy put-back (pure): ``measure(extra tensors in float)`` -> ``paired_drop`` of that file; ``rank()``:
    tensors, worst first (asked only when the first file is above the limit). Returns {"limit", "steps"
    [{"kept", **drop}], "best" (index of the smallest drop), "verdict", "message"}."""
    kept: list = []
    steps = [{"kept": [], **measure([])}]
    queue = list(rank()) if steps[0]["drop"] > limit else []
    while steps[-1]["drop"] > limit and queue and len(steps) <= max_steps:
        kept = kept + [queue.pop(0)]
        try:
            steps.append({"kept": list(kept), **measure(list(kept))})
        except EdgetlError as e:  # a tensor the converter cannot keep in float: say so, stop searching
            steps.append({"kept": list(kept), "error": str(e)})
            break
    best = min((i for i, st in enumerate(steps) if "drop" in st), key=lambda i: (steps[i]["drop"], i))
    b = steps[best]
    where = f"{b['drop']:+.1f} points [{b['low']:+.1f}, {b['high']:+.1f}] on {b['n']} validation images"
    if b["drop"] <= limit:
        verdict = "fits"
        how = f" after putting {len(b['kept'])} tensor(s) back into float" if b["kept"] else ""
        message = f"int8 accuracy drop from float {where}: within --max-drop {limit:g}{how}"
    else:
        verdict = "exceeds" if b["low"] > limit else "above"
        tried = len(steps) - 1
        message = (f"int8 drops {where}, above --max-drop {limit:g}"
                   f"{' (the interval shows it)' if verdict == 'exceeds' else ' (the interval includes the limit)'}"
                   f"{f' after putting back the {tried} worst tensor(s) into float' if tried else ''}; "
                   "use --mode qat (quantization-aware training), which learns the int8 rounding")
    return {"limit": limit, "steps": steps, "best": best, "verdict": verdict, "message": message}


def measurer(keras_model, contract, cal, io: str, keep_float: Optional[Sequence[str]], reference_ok: np.ndarray,
             predict_val: Callable) -> Callable[[list], dict]:
    """``measure(extra)`` for ``control``: int8 of ``keras_model`` with ``keep_float`` + ``extra`` in float, converted
    to a temporary file, run on the validation split (``predict_val(runner) -> (probs, labels)``), paired with
    the Keras model's right/wrong ``reference_ok``."""
    from edgetl.formats.keep_float import FALLBACK, resolve
    from edgetl.formats.registry import tflite_format
    from edgetl.tflite.converter import artifact_contract, convert_mode, trace
    from edgetl.runtime.runners import TFLiteRunner

    fn = trace(keras_model, contract)
    rule, names = resolve(keep_float)

    def measure(extra: list) -> dict:
        data, _ = convert_mode(fn, "int8", names + list(extra) + ([FALLBACK] if rule else []), calibration=cal,
                               contract=contract, io=io)
        with tempfile.TemporaryDirectory(prefix="edgetl-maxdrop-") as tmp:
            path = Path(tmp) / "candidate_int8.tflite"
            path.write_bytes(data)
            c = artifact_contract(contract, tflite_format("int8"), TFLiteRunner(path, contract=contract))
            runner = TFLiteRunner(path, contract=c)
            probs, labels = predict_val(runner)
            got_ok = c.decide(probs) == np.asarray(labels)
            del runner
        return paired_drop(reference_ok, got_ok)

    return measure


def ranking(layer_error: Sequence[dict], skip_ops: Sequence[str]) -> list:
    """Tensors by the quantization debugger's rmse/scale (``auto_float.measure``'s rows), worst first, leaving
    out those made by ``skip_ops``."""
    from edgetl.tflite.auto_float import ranked

    return [e["tensor"] for e in ranked(layer_error) if e.get("op") not in set(skip_ops)]
