"""Shared pieces of the kernel rules for convolution (``lowering_conv.py``, and the direct loop
nests of ``lowering_conv_direct.py``) and pooling (``lowering_pool.py``): loop nests, range
checks, clamped taps, and scratch buffers the lowering sizes at compile time.

Out-of-range taps are masked (a ``select`` after a clamped load) or skipped (``If``), never
loaded out of bounds; the range checks are left out where the geometry shows every tap inside.
Outer loops over images (or output channels) are marked parallel: their iterations write
disjoint parts of the output.
"""

from __future__ import annotations

from .kernel_ir import (
    Call,
    Const,
    Loop,
    Var,
    const_i,
    iadd,
    imul,
)


def _loops(spec, body, parallel=False):
    """Loops over ``spec`` (outermost first); ``parallel`` marks the outermost one (its iterations
    write disjoint outputs: a batch image, an output channel)."""
    for name, extent in reversed(spec):
        body = [Loop(name, extent, body)]
    if spec:
        body[0].parallel = parallel
    return body


def _vars(*names):
    return [Var(n) for n in names]


def _in_range(e, size):
    return Call("logical_and", (Call("ge", (e, const_i(0)), "bool"), Call("lt", (e, const_i(size)), "bool")), "bool")


def _both(a, b):
    return Call("logical_and", (a, b), "bool")


def _clamp(e, size):
    return Call("minimum", (Call("maximum", (e, const_i(0)), "i64"), const_i(max(size - 1, 0))), "i64")


def _tap(out_pos, k, stride, pad, dil):
    """Input coordinate of output position ``out_pos`` and kernel tap ``k``."""
    return iadd(iadd(imul(const_i(stride), out_pos), imul(const_i(dil), k)), const_i(-pad))


def _zero(dtype):
    return Const(0.0, dtype)


def _scratch(lw, name: str, nbytes: int) -> str:
    """A scratch buffer of at least ``nbytes`` shared by the kernels that ask for ``name``."""
    from .lower import Buffer

    for buf in lw.order:
        if buf.name == name:
            break
    else:
        buf = Buffer(name, "f64", (1,), "temp")
        lw.order.append(buf)
    buf.shape = (max(buf.shape[0], -(-nbytes // 8)),)
    lw.reads.add(buf.name)
    return buf.name



def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


