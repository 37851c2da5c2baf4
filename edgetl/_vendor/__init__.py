"""Third-party code kept as it was generated (not edgetl's own: out of lint and the layer checks)."""
