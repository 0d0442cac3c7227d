"""VJP rules: movement (being written)."""
