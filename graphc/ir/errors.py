"""The errors a user of graphc can cause.

Every one is a :class:`GraphcError`. Where PyTorch raises a builtin (``RuntimeError``,
``ValueError``, ``TypeError``, ``IndexError``), the graphc error also subclasses that builtin, so
``except RuntimeError:`` written for PyTorch keeps working. Each message names the user's source
line (found automatically when not given) and, where there is one, the fix::

    >>> raise ShapeError("cannot add f32[2,3] and f32[4]", fix="make the last dims match")
    Traceback (most recent call last):
    graphc.ir.errors.ShapeError: example.py:1: cannot add f32[2,3] and f32[4]
      fix: make the last dims match
"""

from __future__ import annotations

from .source import user_location


class GraphcError(Exception):
    """Base class of every error graphc raises on account of its user."""

    def __init__(self, message: str, *, fix: str | None = None, loc: str | None = None):
        self.message = message
        self.fix = fix
        self.loc = loc if loc is not None else user_location()
        text = f"{self.loc}: {message}" if self.loc else message
        if fix:
            text += f"\n  fix: {fix}"
        super().__init__(text)


class ShapeError(GraphcError, RuntimeError):
    """Shapes that do not fit an operation (PyTorch raises RuntimeError)."""


class DTypeError(GraphcError, RuntimeError):
    """A dtype an operation cannot take (PyTorch raises RuntimeError)."""


class GraphcTypeError(GraphcError, TypeError):
    """An argument of the wrong Python type."""


class GraphcValueError(GraphcError, ValueError):
    """An argument with a value out of its domain."""


class GraphcIndexError(GraphcError, IndexError):
    """An index out of range."""


class GraphcNotImplementedError(GraphcError, NotImplementedError):
    """A mode or input kind PyTorch does not implement either (``F.interpolate`` of 3-D input in
    ``'bilinear'`` mode), or one graphc does not provide (PyTorch raises NotImplementedError)."""


class AutogradError(GraphcError, RuntimeError):
    """Misuse of autograd: backward through a freed graph, a tensor modified after it was saved."""


class TraceError(GraphcError, RuntimeError):
    """Something in a compiled function that cannot become a static graph."""


class CompileError(GraphcError, RuntimeError):
    """A graph that cannot be compiled for the chosen backend."""


class ExportError(GraphcError, RuntimeError):
    """A function that cannot be exported as a C library."""


class IRError(GraphcError, ValueError):
    """Malformed IR: a graph that fails verification or IR text that does not parse."""


class DeviceError(GraphcError, RuntimeError):
    """A device that is not available (PyTorch raises RuntimeError)."""
