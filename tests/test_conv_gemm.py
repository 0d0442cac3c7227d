"""Convolutions through im2col and the GEMM template: forward, input gradient and weight gradient
match the reference backend and PyTorch for strides, padding, dilation and groups, on 1 and 2
threads, and the kernels really are GEMMs (no direct loop nest over every tap)."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
import graphc.threads as gthreads
from graphc import nn
from graphc.runtime.kernel_ir import Gemm

CASES = [
    # N, C, H, W, O, kernel, stride, padding, dilation, groups
    (2, 1, 9, 9, 4, 3, 1, 1, 1, 1),
    (3, 4, 11, 10, 6, (3, 2), (2, 1), (1, 0), (1, 2), 2),
    (2, 6, 8, 8, 6, 3, 2, 2, 2, 3),
    (4, 3, 7, 12, 5, (1, 4), (1, 3), (0, 2), 1, 1),
    (2, 2, 6, 6, 4, 5, 1, 2, 1, 2),  # LeNet-like padding: taps off every edge
    # few output channels over many positions: the weight gradient is blocked dot products
    (2, 2, 20, 20, 3, 3, 1, 1, 1, 1),  # 3 channels (a 2-row block and a 1-row rest), 18 taps (8, 8, 2)
    (2, 4, 18, 18, 6, 3, 1, 1, 1, 2),  # and per group
]


def _dots(case) -> bool:
    from graphc.runtime.lowering_conv import _DOTS_MAX_ROWS, _DOTS_MIN_POSITIONS

    N, C, H, W, O, k, s, p, d, g = case
    k, s, p, d = ((v, v) if isinstance(v, int) else v for v in (k, s, p, d))
    oh, ow = ((size + 2 * p[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i, size in enumerate((H, W)))
    return O // g < _DOTS_MAX_ROWS and oh * ow >= _DOTS_MIN_POSITIONS


@pytest.fixture(autouse=True)
def _restore_threads():
    before = gthreads.get_num_threads()
    yield
    gthreads.set_num_threads(before)


def _model(case, dtype):
    N, C, H, W, O, k, s, p, d, g = case
    graphc.manual_seed(0)
    first = nn.Conv2d(C, C, 1)  # makes the conv's input require a gradient (its input gradient is live)
    conv = nn.Conv2d(C, O, k, stride=s, padding=p, dilation=d, groups=g)
    if dtype == np.float64:
        first, conv = first.double(), conv.double()

    def step(x):
        first.zero_grad()
        conv.zero_grad()
        h = first(x)
        y = conv(h)
        (y * y.tanh()).sum().backward()
        return y, conv.weight.grad, first.weight.grad

    x = np.random.default_rng(1).normal(size=(N, C, H, W)).astype(dtype)
    return step, x, (first, conv)


def _run(case, dtype, backend, threads=1):
    step, x, _ = _model(case, dtype)
    gthreads.set_num_threads(threads)
    fn = graphc.compile(step, backend=backend)
    fn(graphc.tensor(x))  # the first call creates the .grad it reads: it runs once, interpreted
    outs = fn(graphc.tensor(x))
    return fn, [o.numpy().copy() for o in outs]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_reference_backend(case, dtype):
    fn, got = _run(case, dtype, "llvm")
    _, want = _run(case, dtype, "reference")
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)
    ex = fn._last.executable
    ops = {k.meta["op"].split("+")[0]: k for k in ex.program.kernels}  # "conv2d+epilogue" when fused
    for op in ("conv2d", "conv2d_backward_input", "conv2d_backward_weight"):
        gemm = any(isinstance(s, Gemm) for s in ops[op].body)
        assert gemm != (op == "conv2d_backward_weight" and _dots(case)), op
    if _dots(case):  # the dot products accumulate with fused multiply-adds
        assert "llvm.fmuladd" in ex.jit.llvm_ir
    else:  # the columns are the GEMM's A operand, read in place; only grad is transposed to pack
        (gw,) = [s for s in ops["conv2d_backward_weight"].body if isinstance(s, Gemm)]
        assert gw.a.buf == "conv_columns" and gw.a.col_stride == 1


@pytest.mark.parametrize("case", CASES)
def test_same_on_one_and_two_threads(case):
    _, one = _run(case, np.float32, "llvm", 1)
    _, two = _run(case, np.float32, "llvm", 2)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("case", CASES)
def test_matches_pytorch(case):
    torch = pytest.importorskip("torch")
    N, C, H, W, O, k, s, p, d, g = case
    step, x, (first, conv) = _model(case, np.float32)
    y, gw, gfirst = (o.numpy() for o in graphc.compile(step)(graphc.tensor(x)))
    tfirst = torch.nn.Conv2d(C, C, 1)
    tconv = torch.nn.Conv2d(C, O, k, stride=s, padding=p, dilation=d, groups=g)
    with torch.no_grad():
        for t, m in ((tfirst, first), (tconv, conv)):
            t.weight.copy_(torch.tensor(m.weight.detach().numpy()))
            t.bias.copy_(torch.tensor(m.bias.detach().numpy()))
    ty = tconv(tfirst(torch.tensor(x)))
    (ty * ty.tanh()).sum().backward()
    assert np.abs(ty.detach().numpy()).max() > 0.1  # a real comparison, not of zeros
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gw, tconv.weight.grad.numpy(), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(gfirst, tfirst.weight.grad.numpy(), rtol=1e-4, atol=1e-3)


def test_scratch_is_shared_and_allocated_once():
    case = (8, 3, 12, 12, 8, 3, 1, 1, 1, 1)
    step, x, _ = _model(case, np.float32)
    fn = graphc.compile(step)
    fn(graphc.tensor(x))  # (the run-once first call, interpreted)
    first = fn(graphc.tensor(x))[0].numpy().copy()
    ex = fn._last.executable
    names = [b.name for b in ex.program.buffers]
    assert names.count("conv_columns") == 1  # one buffer serves every conv kernel of the step
    arena = ex.arena.ctypes.data
    again = fn(graphc.tensor(x))[0].numpy()
    assert ex.arena.ctypes.data == arena
    np.testing.assert_array_equal(again, first)
