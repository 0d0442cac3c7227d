"""Type promotion and broadcasting agree with PyTorch (property-based, with hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphc

torch = pytest.importorskip("torch")

DTYPES = ["float32", "float64", "int64", "int32", "bool"]
SCALARS = [True, 3, -2, 2.5]


def _make(lib, dtype, ndim):
    shape = (2,) * ndim
    return lib.ones(shape, dtype=getattr(lib, dtype if dtype != "bool" else "bool"))


operand = st.one_of(
    st.tuples(st.sampled_from(DTYPES), st.sampled_from([0, 1, 2])),  # a tensor: (dtype, ndim)
    st.sampled_from(SCALARS),  # a Python number
)


@settings(max_examples=150, deadline=None)
@given(a=operand, b=operand, op=st.sampled_from(["add", "mul", "maximum", "where"]))
def test_binary_result_dtype_matches_torch(a, b, op):
    if not isinstance(a, tuple) and not isinstance(b, tuple):
        return  # two Python numbers: not a tensor operation

    def run(lib):
        x = _make(lib, *a) if isinstance(a, tuple) else a
        y = _make(lib, *b) if isinstance(b, tuple) else b
        if op == "add":
            return x + y
        if op == "mul":
            return x * y
        if op == "maximum":
            if not (isinstance(x, lib.Tensor) and isinstance(y, lib.Tensor)):
                return None
            return lib.maximum(x, y)
        cond = lib.ones((2,), dtype=lib.bool)
        if not (isinstance(x, lib.Tensor) and isinstance(y, lib.Tensor)):
            return None
        return lib.where(cond, x, y)

    try:
        expected = run(torch)
    except RuntimeError:
        with pytest.raises(RuntimeError):
            run(graphc)
        return
    got = run(graphc)
    if expected is None:
        return
    assert got.dtype.name == str(expected.dtype).replace("torch.", "")
    assert tuple(got.shape) == tuple(expected.shape)


@settings(max_examples=100, deadline=None)
@given(shapes=st.lists(st.lists(st.integers(1, 3), min_size=0, max_size=3), min_size=2, max_size=2))
def test_broadcasting_matches_torch(shapes):
    a, b = (np.ones(s, np.float32) for s in shapes)
    try:
        expected = (torch.from_numpy(a) + torch.from_numpy(b)).shape
    except RuntimeError:
        with pytest.raises(RuntimeError, match="broadcast"):
            graphc.tensor(a) + graphc.tensor(b)
        return
    assert tuple((graphc.tensor(a) + graphc.tensor(b)).shape) == tuple(expected)
