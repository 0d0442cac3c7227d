"""VJP rules: index (being written)."""
