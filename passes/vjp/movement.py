"""VJP rules of the movement ops: each moves the gradient back the way the value came."""

from __future__ import annotations

from graphc.ir.ops.movement import slice_size

from . import vjp


def _pads_on(ndim: int, dim: int, before: int, after: int) -> tuple:
    pads = [(0, 0)] * ndim
    pads[dim] = (before, after)
    return tuple(pads)


@vjp("reshape")
def _reshape(b, node, grad, needs):
    return (b.add("reshape", grad, shape=node.inputs[0].shape),)


@vjp("permute")
def _permute(b, node, grad, needs):
    dims = [d % node.ndim for d in node.attrs["dims"]]
    inverse = [0] * len(dims)
    for out_dim, in_dim in enumerate(dims):
        inverse[in_dim] = out_dim
    return (b.add("permute", grad, dims=tuple(inverse)),)


@vjp("expand")
def _expand(b, node, grad, needs):
    return (b.sum_to(grad, node.inputs[0].shape),)


@vjp("slice")
def _slice(b, node, grad, needs):
    """Put the gradient back where the slice took it from; zeros elsewhere, built from pad/reshape."""
    x = node.inputs[0]
    a = node.attrs
    dim = a["dim"] % x.ndim
    start, stop, step = a["start"], a["stop"], a["step"]
    size = x.shape[dim]
    if step == 1:
        return (b.add("pad", grad, pads=_pads_on(x.ndim, dim, start, size - stop)),)
    # interleave step-1 zeros after each element: [..., n, ...] -> [..., n, 1, ...] -> pad to
    # [..., n, step, ...] -> [..., n*step, ...]; element k then sits at k*step
    n = slice_size(start, stop, step)
    shape = grad.shape
    g = b.add("reshape", grad, shape=shape[:dim] + (n, 1) + shape[dim + 1:])
    g = b.add("pad", g, pads=_pads_on(g.ndim, dim + 1, 0, step - 1))
    g = b.add("reshape", g, shape=shape[:dim] + (n * step,) + shape[dim + 1:])
    room = size - start  # positions from start to the end of the dim
    if n * step > room:  # the trailing zeros of the last element run past the end
        g = b.add("slice", g, dim=dim, start=0, stop=room, step=1)
    return (b.add("pad", g, pads=_pads_on(x.ndim, dim, start, max(room - n * step, 0))),)


@vjp("pad")
def _pad(b, node, grad, needs):
    x = node.inputs[0]
    for dim, (lo, hi) in enumerate(node.attrs["pads"]):
        if lo or hi:
            grad = b.add("slice", grad, dim=dim, start=lo, stop=lo + x.shape[dim], step=1)
    return (grad,)


@vjp("concat")
def _concat(b, node, grad, needs):
    dim = node.attrs["dim"] % node.ndim
    out, start = [], 0
    for x, need in zip(node.inputs, needs, strict=True):
        stop = start + x.shape[dim]
        out.append(b.add("slice", grad, dim=dim, start=start, stop=stop, step=1) if need else None)
        start = stop
    return tuple(out)


@vjp("flip")
def _flip(b, node, grad, needs):
    return (b.add("flip", grad, dims=node.attrs["dims"]),)
