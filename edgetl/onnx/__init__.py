"""The ONNX exporters below the `convert` stage: float ONNX (``export``, in segments for big chain models:
``segments``), int8 ONNX from the int8 TFLite or by onnxruntime's calibration (``calibration``), and the int8 ->
uint8 graph surgery both int8 routes need (``surgery``)."""
