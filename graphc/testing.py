"""``graphc.testing.assert_close``: PyTorch's comparison of tensors, numbers and containers.

Default tolerances by dtype, as ``torch.testing.assert_close``: float32 ``rtol=1.3e-6,
atol=1e-5``, float64 ``rtol=1e-7, atol=1e-7``, integers and bool exact. A mismatch raises an
``AssertionError`` saying how many elements differ, the greatest absolute and relative
differences and where.

    >>> import graphc
    >>> graphc.testing.assert_close(graphc.tensor([1.0, 2.0]), graphc.tensor([1.0, 2.000001]))
"""

from __future__ import annotations

import numpy as np

from graphc.ir import dtypes as D

__all__ = ["assert_close"]

_TOLERANCES = {D.float32: (1.3e-6, 1e-5), D.float64: (1e-7, 1e-7)}


def assert_close(actual, expected, *, allow_subclasses: bool = True, rtol: float | None = None,
                 atol: float | None = None, equal_nan: bool = False, check_device: bool = True,
                 check_dtype: bool = True, check_layout: bool = True, check_stride: bool = False,
                 msg: str | None = None) -> None:
    """Raise ``AssertionError`` unless ``actual`` and ``expected`` are close (see the module doc)."""
    if (rtol is None) != (atol is None):
        raise ValueError(f"Both 'rtol' and 'atol' must be either specified or omitted, but got no {'rtol' if rtol is None else 'atol'}.")
    _compare(actual, expected, rtol, atol, equal_nan, check_dtype, check_device, msg, path="")


def _compare(actual, expected, rtol, atol, equal_nan, check_dtype, check_device, msg, path: str) -> None:
    from graphc.tensor import Tensor

    if isinstance(expected, dict):
        if not isinstance(actual, dict) or set(actual) != set(expected):
            raise AssertionError(msg or f"The keys of the mappings{path} do not match: {sorted(map(str, actual))} "
                                        f"and {sorted(map(str, expected))}")
        for k in expected:
            _compare(actual[k], expected[k], rtol, atol, equal_nan, check_dtype, check_device, msg, f"{path}[{k!r}]")
        return
    if isinstance(expected, (list, tuple)) and not isinstance(actual, Tensor):
        if not isinstance(actual, (list, tuple)) or len(actual) != len(expected):
            raise AssertionError(msg or f"The length of the sequences{path} mismatch: {len(actual)} != {len(expected)}")
        for i, (a, e) in enumerate(zip(actual, expected)):
            _compare(a, e, rtol, atol, equal_nan, check_dtype, check_device, msg, f"{path}[{i}]")
        return
    a, a_dt = _array(actual)
    e, e_dt = _array(expected)
    where = f" at {path}" if path else ""
    if isinstance(actual, Tensor) != isinstance(expected, Tensor) and (isinstance(actual, Tensor) or isinstance(expected, Tensor)):
        raise AssertionError(msg or f"expected {type(expected).__name__}{where}, got {type(actual).__name__}")
    if a.shape != e.shape:
        raise AssertionError(msg or f"The values for attribute 'shape' do not match{where}: "
                                    f"torch.Size({list(a.shape)}) != torch.Size({list(e.shape)}).")
    if check_dtype and a_dt is not e_dt:
        raise AssertionError(msg or f"The values for attribute 'dtype' do not match{where}: "
                                    f"graphc.{a_dt.name} != graphc.{e_dt.name}.")
    if check_device and isinstance(actual, Tensor) and actual._device != expected._device:
        raise AssertionError(msg or f"The values for attribute 'device' do not match{where}: "
                                    f"{actual.device} != {expected.device}.")
    if rtol is None:
        rtol, atol = max(_TOLERANCES.get(a_dt, (0.0, 0.0)), _TOLERANCES.get(e_dt, (0.0, 0.0)))
    a64, e64 = a.astype(np.float64), e.astype(np.float64)
    with np.errstate(invalid="ignore"):
        diff = np.abs(a64 - e64)
        ok = (diff <= atol + rtol * np.abs(e64)) | (a64 == e64)
    if equal_nan:
        ok |= np.isnan(a64) & np.isnan(e64)
    if ok.all():
        return
    bad = int((~ok).sum())
    noun = "Tensor-likes" if isinstance(expected, Tensor) else "Scalars"
    diff = np.where(np.isnan(diff), np.inf, diff)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(diff == 0, 0.0, diff / np.abs(e64))
    i_abs, i_rel = np.unravel_index(np.argmax(diff), diff.shape), np.unravel_index(np.argmax(rel), rel.shape)
    text = (f"{noun} are not close!{where}\n\nMismatched elements: {bad} / {a.size} ({100 * bad / a.size:.1f}%)\n"
            f"Greatest absolute difference: {diff[i_abs]:g} at index {tuple(int(i) for i in i_abs)} "
            f"(up to {atol:g} allowed)\n"
            f"Greatest relative difference: {rel[i_rel]:g} at index {tuple(int(i) for i in i_rel)} "
            f"(up to {rtol:g} allowed)")
    raise AssertionError(msg or text)


def _array(x):
    from graphc.tensor import Tensor

    if isinstance(x, Tensor):
        x._no_value("graphc.testing.assert_close()")
        return np.asarray(x._data), x.dtype
    if isinstance(x, (bool, int, float, np.number, np.bool_)):
        dt = D.scalar_dtype(x)
        return np.asarray(x, dtype=np.float64 if dt is D.float32 else dt.np), (D.float64 if dt is D.float32 else dt)
    raise TypeError(f"No comparison pair was able to handle inputs of type {type(x)}")
