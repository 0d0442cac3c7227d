"""Where in the user's code something happened.

Every node and every error names the user's own line (``model.py:12``), never a line inside
graphc. ``user_location()`` walks the Python stack outwards and returns the first frame that
does not belong to graphc itself.
"""

from __future__ import annotations

import copy
import copyreg
import functools
import os
import pickle
import sys

# The three source folders of the distribution (graphc/, passes/, runtime/), whether installed
# under site-packages or used from a checkout.
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_INTERNAL_DIRS = tuple(
    os.path.join(os.path.dirname(_PACKAGE_ROOT), d) + os.sep for d in ("graphc", "passes", "runtime")
) + (_PACKAGE_ROOT + os.sep,)


# the standard library's copying and pickling machinery, which calls graphc on the user's behalf
# (copy.deepcopy(model) reaches Tensor.__deepcopy__ through copy.py): the user's line is its caller
_PLUMBING = frozenset(os.path.abspath(m.__file__) for m in (copy, copyreg, pickle))


@functools.lru_cache(maxsize=4096)  # every traced op asks, for the same few files
def _is_internal(filename: str) -> bool:
    path = os.path.abspath(filename)
    return path.startswith(_INTERNAL_DIRS) or filename.startswith("<frozen ") or path in _PLUMBING


def display_path(filename: str) -> str:
    """A short, stable spelling of a file name: relative to the working directory when inside it."""
    try:
        return _display_path(filename, os.getcwd())
    except OSError:  # the working directory was removed
        return filename


@functools.lru_cache(maxsize=4096)
def _display_path(filename: str, cwd: str) -> str:
    try:
        rel = os.path.relpath(filename, cwd)
    except ValueError:  # another drive on Windows
        return filename
    return filename if rel.startswith("..") else rel


def user_location(skip_internal: bool = True) -> str | None:
    """Return ``"file:line"`` of the innermost stack frame that is user code, or None."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not (skip_internal and _is_internal(filename)):
            return f"{display_path(filename)}:{frame.f_lineno}"
        frame = frame.f_back
    return None
