"""Compiled max pooling, forward and backward, matches the reference backend for disjoint windows
(the fast path: no range checks, each window writes its own taps) and every other geometry, with
ties, NaN and all -inf windows routed as PyTorch routes them."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
import graphc.nn.functional as F

ATTRS = [
    dict(kernel_size=2, stride=2),  # windows tile the image
    dict(kernel_size=2, stride=3),  # gaps between windows
    dict(kernel_size=3, stride=2),  # overlapping windows
    dict(kernel_size=2, stride=2, padding=1),
    dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=2, stride=2, dilation=2),
]


def _data(kind: str):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 9, 10)).astype(np.float32)
    if kind == "ties":
        x = np.round(x)  # many equal maxima
    elif kind == "special":
        x[0, 0, :4, :4] = -np.inf
        x[1, 2, 2, 3] = np.nan
        x[0, 1, 5, 5] = np.inf
    return x


def _step(attrs, x):
    def step(g):
        x.grad = None
        y = F.max_pool2d(x, **attrs)
        (y * g).sum().backward()
        return y, x.grad

    return step


@pytest.mark.parametrize("attrs", ATTRS, ids=str)
@pytest.mark.parametrize("kind", ["random", "ties", "special"])
def test_max_pool_matches_reference(attrs, kind):
    x = _data(kind)
    shape = F.max_pool2d(graphc.tensor(x), **attrs).shape
    g = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    results = []
    for backend in ("llvm", "reference"):
        fn = graphc.compile(_step(attrs, graphc.tensor(x, requires_grad=True)), backend=backend)
        y, gx = fn(graphc.tensor(g))
        results.append((y.numpy(), gx.numpy()))
    (y1, g1), (y2, g2) = results
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(g1 != 0, g2 != 0)  # the same positions get a gradient
    np.testing.assert_allclose(g1, g2, rtol=1e-6, atol=1e-6)  # (overlapping windows add in another order)


def test_max_pool_keeps_the_loop_vectoriser_off_its_output_rows_and_columns():
    # LLVM would vectorise the 14 output columns with masked gathers; the SLP vectoriser does
    # better with the unrolled windows, so the kernel marks those loops scalar for the former,
    # and the row of columns for full unrolling (O2's thresholds would keep it rolled)
    from graphc.ir import Graph, TensorType, float32
    from graphc.runtime.kernel_ir import format_kernel
    from graphc.runtime.llvm.jit import build_module
    from graphc.runtime.lower import lower

    g = Graph("p")
    x = g.placeholder("x", TensorType(float32, (2, 3, 28, 28)), "input")
    g.set_outputs([g.add("max_pool2d", x, kernel=(2, 2), stride=(2, 2))])
    program = lower(g)
    text = format_kernel(program.kernels[0])
    assert "for oy in 0..14 scalar:" in text and "for ox in 0..14 scalar unroll:" in text
    ir_text = str(build_module(program.kernels, {b.name: i for i, b in enumerate(program.buffers)}))
    assert '!"llvm.loop.vectorize.width", i32 1' in ir_text and ir_text.count("!llvm.loop ") == 2
    assert ir_text.count('!{ !"llvm.loop.unroll.full" }') == 1


def test_max_pool_backward_over_tiling_windows_finds_taps_then_writes_rows():
    from graphc.ir import Graph, TensorType, float32
    from graphc.runtime.kernel_ir import format_kernel
    from graphc.runtime.lower import lower

    g = Graph("p")
    x = g.placeholder("x", TensorType(float32, (2, 3, 8, 8)), "input")
    gy = g.placeholder("gy", TensorType(float32, (2, 3, 4, 4)), "input")
    g.set_outputs([g.add("max_pool2d_backward", gy, x, kernel=(2, 2), stride=(2, 2))])
    (kernel,) = lower(g).kernels
    text = format_kernel(kernel)
    assert len(kernel.body) == 2 and "pool_argmax" in kernel.buffers  # find the taps, then write
    assert "for ky in 0..2:\n" in text and "for ox in 0..4 scalar unroll:" in text
    # both passes keep the loop vectoriser off the windows' rows and columns
    assert text.count("for oy in 0..4 scalar:") == 2 and text.count("for ox in 0..4 scalar unroll:") == 2
