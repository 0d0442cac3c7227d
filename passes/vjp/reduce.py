"""VJP rules of the reductions."""

from __future__ import annotations

from graphc.ir.ops.reduce import reduced_shape

from . import vjp


def _keepdim_shape(node):
    x = node.inputs[0]
    dims = tuple(d % max(x.ndim, 1) for d in node.attrs["dims"])
    return reduced_shape(x.shape, dims, True)


def _to_keepdim(b, node, value):
    shape = _keepdim_shape(node)
    return value if value.shape == shape else b.add("reshape", value, shape=shape)


@vjp("sum")
def _sum(b, node, grad, needs):
    x = node.inputs[0]
    return (b.add("expand", _to_keepdim(b, node, grad), shape=x.shape),)


@vjp("max")
def _max(b, node, grad, needs):
    """The gradient is shared evenly by the elements equal to the maximum (PyTorch's amax rule)."""
    x = node.inputs[0]
    mask = b.add("cast", b.add("eq", x, _to_keepdim(b, node, node)), dtype=x.dtype.short)
    count = b.add("sum", mask, dims=node.attrs["dims"], keepdim=True)
    share = b.div(_to_keepdim(b, node, grad), count)
    return (b.mul(mask, share),)
