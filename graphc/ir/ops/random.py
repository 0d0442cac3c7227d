"""Ops: random (being written)."""
