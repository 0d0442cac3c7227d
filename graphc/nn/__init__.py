"""graphc.nn (being written)."""
