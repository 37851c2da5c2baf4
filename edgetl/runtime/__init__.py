"""The runtime layer: open and run any artifact (``runners``: Keras, LiteRT, ONNX Runtime) and the parity gate
that judges a file against its Keras model before it takes its name (``parity``).

It sits above ``formats`` (what a file is and carries) and below everything that runs files: the run directory,
measure, the stages, export and the CLI.
"""
