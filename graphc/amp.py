"""``graphc.amp``: ``autocast`` and ``GradScaler``, for scripts written for mixed precision.

graphc has no float16 or bfloat16: it trains in float32 (or float64). A script written for
automatic mixed precision runs unchanged: ``autocast`` regions compute in the tensors' own
dtypes, and ``GradScaler`` behaves as PyTorch's does when it is disabled: ``scale(loss)``
returns the loss, ``step(optimizer)`` calls ``optimizer.step()``, ``update()`` does nothing,
and the scale is 1.0. Full precision needs no loss scaling: no gradient underflows. Asking for
a lower-precision dtype warns once, saying so.

    >>> import graphc
    >>> scaler = graphc.amp.GradScaler(enabled=False)
    >>> scaler.get_scale()
    1.0
"""

from __future__ import annotations

import functools
import warnings

from graphc.ir import dtypes as D

__all__ = ["autocast", "GradScaler"]

_warned: set = set()


def _warn_once(what: str, message: str) -> None:
    if what not in _warned:
        _warned.add(what)
        warnings.warn(message, UserWarning, stacklevel=3)


class autocast:  # noqa: N801  (torch.autocast)
    """A context manager and decorator accepting PyTorch's arguments; the region computes in
    the tensors' own dtypes (graphc has no float16/bfloat16)."""

    def __init__(self, device_type: str = "cuda", dtype=None, enabled: bool = True, cache_enabled=None):
        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        self.device_type, self.fast_dtype, self.enabled = device_type, dtype, bool(enabled)
        wanted = dtype if dtype is not None else ("bfloat16" if device_type == "cpu" else "float16")
        if self.enabled and (dtype is None or not isinstance(dtype, D.DType)):
            _warn_once("autocast", f"graphc has no {getattr(wanted, 'name', wanted)}: autocast regions compute in "
                                   "float32 (the tensors' own dtype)")

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)

        return wrapper


class GradScaler:
    """``torch.amp.GradScaler`` with the behaviour of a disabled scaler (see the module doc)."""

    def __init__(self, device: str = "cuda", init_scale: float = 2.0**16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000, enabled: bool = True):
        if enabled:
            _warn_once("GradScaler", "graphc trains in float32 and needs no loss scaling: GradScaler passes the loss "
                                     "and the optimizer step through unchanged (as PyTorch's GradScaler(enabled=False))")
        self.device = device

    def scale(self, outputs):
        return outputs

    def unscale_(self, optimizer) -> None:
        return None

    def step(self, optimizer, *args, **kwargs):
        return optimizer.step(*args, **kwargs)

    def update(self, new_scale=None) -> None:
        return None

    def get_scale(self) -> float:
        return 1.0

    def is_enabled(self) -> bool:
        return False

    def get_growth_factor(self) -> float:
        return 2.0

    def get_backoff_factor(self) -> float:
        return 0.5

    def get_growth_interval(self) -> int:
        return 2000

    def state_dict(self) -> dict:
        return {}  # (PyTorch's disabled scaler has an empty state)

    def load_state_dict(self, state_dict: dict) -> None:
        return None
