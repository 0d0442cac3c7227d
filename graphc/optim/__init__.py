"""graphc.optim (being written)."""
