"""graphc.utils (being written)."""
