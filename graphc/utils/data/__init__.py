"""graphc.utils.data (being written)."""
