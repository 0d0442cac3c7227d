"""Ops: index (being written)."""
