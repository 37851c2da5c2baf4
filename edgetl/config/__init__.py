"""Typed per-stage configs: every parameter once, with its default, type, range and help (see params.py)."""
