"""edgetl's version: one line below every package (the CLI and the TFLite metadata read it)."""
__version__ = "0.1.0"
