"""onnxruntime's static int8 calibration of a float ONNX file, with its min/max folded batch by batch."""
from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import numpy as np

from edgetl.errors import EdgetlError

# ORT's calibrator keeps every tensor of every calibration image until it computes ranges (VGG16: ~60 MB an
# image, 12 GB for 200); folding min/max every this many images keeps it bounded and gives the same ranges.
CALIBRATION_BATCH = 16


@contextlib.contextmanager
def _folding_minmax_calibration():
    """Make ORT's MinMax calibrator fold the ranges of each batch of CalibMaxIntermediateOutputs images.

    onnxruntime 1.32's ``MinMaxCalibrater.collect_data`` *drops* the collected outputs when that limit is reached
    (``clear_collected_data`` without ``compute_data``), so only the last partial batch would set the ranges
    (and a count that is a multiple of the limit fails with "No data is collected"). Here the batch is folded into
    the running min/max first, exactly what ``compute_data`` + ``merge_range`` do at the end.
    """
    from onnxruntime.quantization.calibrate import MinMaxCalibrater

    original = MinMaxCalibrater.clear_collected_data

    def fold_then_clear(self):
        if self.intermediate_outputs:
            self.compute_data()  # merges this batch into self.calibrate_tensors_range
        original(self)

    MinMaxCalibrater.clear_collected_data = fold_then_clear
    try:
        yield
    finally:
        MinMaxCalibrater.clear_collected_data = original


def calibration_reader(float_onnx_path, x: np.ndarray):
    """An onnxruntime CalibrationDataReader feeding ``x`` (model-ready float32 images) to ``float_onnx_path``'s
    input, one image a step."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader

    name = onnx.load(str(float_onnx_path), load_external_data=False).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter(x[i:i + 1] for i in range(len(x)))

        def get_next(self):
            item = next(self._it, None)
            return None if item is None else {name: item}

    return Reader()


def quantize_qdq(float_onnx_path, reader):
    """onnxruntime static QDQ quantization of ``float_onnx_path`` calibrated by ``reader`` (per-channel int8
    weights, uint8 activations, min/max folded every CALIBRATION_BATCH images): the quantized ModelProto."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    with tempfile.TemporaryDirectory(prefix=".edgetl-ort-") as tmpdir:
        raw = Path(tmpdir) / "int8.onnx"
        try:
            with _folding_minmax_calibration():
                quantize_static(str(float_onnx_path), str(raw), reader, quant_format=QuantFormat.QDQ,
                                per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                                extra_options={"CalibMaxIntermediateOutputs": CALIBRATION_BATCH})
        except Exception as e:  # onnxruntime.quantization raises many types
            raise EdgetlError(f"onnxruntime int8 quantization failed ({str(e).splitlines()[0][:160]}); "
                              "try --int8-method tflite") from e
        return onnx.load(str(raw))
