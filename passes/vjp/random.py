"""VJP rules: random (being written)."""
