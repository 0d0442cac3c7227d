"""Ops: movement (being written)."""
