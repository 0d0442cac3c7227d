"""Process-wide settings training scripts call on ``torch``: matmul precision, deterministic
algorithms, the default dtype. graphc honours what they ask for (its float32 matmuls are always
full float32; its kernels always give the same result for the same inputs and thread count), so
they are recorded and read back as PyTorch reads them back.

    >>> import graphc
    >>> graphc.set_float32_matmul_precision("high")
    >>> graphc.get_float32_matmul_precision()
    'high'
"""

from __future__ import annotations

from graphc.ir import dtypes as D
from graphc.ir.errors import GraphcValueError

__all__ = ["set_float32_matmul_precision", "get_float32_matmul_precision", "use_deterministic_algorithms",
           "are_deterministic_algorithms_enabled", "is_deterministic_algorithms_warn_only_enabled",
           "get_default_dtype", "set_default_dtype"]

_state = {"matmul_precision": "highest", "deterministic": False, "warn_only": False}


def set_float32_matmul_precision(precision: str) -> None:
    """Accepts ``"highest"``, ``"high"`` and ``"medium"``; graphc computes float32 matmuls in
    float32 whatever the setting (it never trades precision for TF32 or bfloat16 speed)."""
    if precision not in ("highest", "high", "medium"):
        raise GraphcValueError(f"Invalid precision {precision!r}", fix='use "highest", "high" or "medium"')
    _state["matmul_precision"] = precision


def get_float32_matmul_precision() -> str:
    return _state["matmul_precision"]


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Recorded for ``are_deterministic_algorithms_enabled()``: graphc's kernels are deterministic
    already (reductions and GEMM splits have a fixed order for a given thread count)."""
    _state["deterministic"], _state["warn_only"] = bool(mode), bool(warn_only)


def are_deterministic_algorithms_enabled() -> bool:
    return _state["deterministic"]


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    return _state["warn_only"]


def get_default_dtype():
    """float32, the dtype factories give floating tensors by default."""
    return D.float32


def set_default_dtype(d) -> None:
    """Only float32 is supported as the default (the factories' and layers' dtype); another one
    is refused rather than ignored."""
    dt = D.as_dtype(d)
    if not dt.is_floating_point:
        raise GraphcValueError(f"only floating-point dtypes are supported as the default type, got {dt.name}",
                               fix="pass graphc.float32")
    if dt is not D.float32:
        raise GraphcValueError(f"graphc's default dtype is float32; set_default_dtype({dt.name}) is not supported",
                               fix=f"pass dtype=graphc.{dt.name} to the factories, and call model.double() or "
                                   f"model.to(graphc.{dt.name}) for the layers")


class LowPrecisionDType(str):
    """``graphc.float16``, ``half`` and ``bfloat16``: names a script can mention (``autocast(dtype=
    graphc.float16)``), not dtypes graphc has: a tensor asked for one is a DTypeError naming it."""

    def __repr__(self) -> str:
        return f"graphc.{str(self)}"


float16 = LowPrecisionDType("float16")
bfloat16 = LowPrecisionDType("bfloat16")


def set_printoptions(precision: int | None = None, threshold: float | None = None, edgeitems: int | None = None,
                     linewidth: int | None = None, profile: str | None = None, sci_mode: bool | None = None) -> None:
    """How tensors print, as ``torch.set_printoptions``: ``profile`` ``"default"``, ``"short"`` or
    ``"full"`` first, then the given options; ``sci_mode`` None lets numpy choose."""
    from graphc.tensor import PRINT_OPTIONS

    if profile is not None:
        presets = {"default": (4, 1000, 3, 80), "short": (2, 1000, 2, 80), "full": (4, float("inf"), 3, 80)}
        if profile not in presets:
            raise GraphcValueError(f"unknown print profile {profile!r}", fix='use "default", "short" or "full"')
        PRINT_OPTIONS.update(zip(("precision", "threshold", "edgeitems", "linewidth"), presets[profile]))
    for key, value in (("precision", precision), ("threshold", threshold), ("edgeitems", edgeitems),
                       ("linewidth", linewidth)):
        if value is not None:
            PRINT_OPTIONS[key] = value
    PRINT_OPTIONS["sci_mode"] = sci_mode


__all__ += ["set_printoptions", "float16", "bfloat16", "LowPrecisionDType"]
