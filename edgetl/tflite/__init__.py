"""The TFLite converter: every post-training mode from one trace (``converter``), ops kept in float
(``selective``: ``--keep-float``) and the measured choice of what to keep (``auto_float``: ``--auto``).

Shared by the stages (quantize, convert, prune's size figures) and by ``compare``; it sits above the runtime layer
(a written file is opened and gated before it takes its name) and below the stages. The formats themselves, with
each mode's converter settings, are described in formats/registry.py.
"""
