"""VJP rules: nn (being written)."""
