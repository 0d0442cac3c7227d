"""Settings read from the environment (``GRAPHC_NUM_THREADS``, ``GRAPHC_COMPILE_JOBS``)."""

from __future__ import annotations

import os

from graphc.ir.errors import GraphcValueError


def env_count(name: str) -> int | None:
    """The positive whole number in environment variable ``name``; None when it is unset or empty.
    Anything else is refused with the variable's name and value, never silently ignored."""
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise GraphcValueError(f"{name}={text!r} is not a positive whole number",
                               fix=f"set {name} to a count such as 2, or unset it for the default")
    return value
