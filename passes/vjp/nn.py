"""VJP rules of the kernel ops: matmul, convolution and pooling.

Every backward op here is itself differentiable (conv2d_backward_input is ConvTranspose2d's
forward; avg_pool2d_backward is linear), except max_pool2d_backward with respect to its
gradient input: double backward through max pooling raises an AutogradError.
"""

from __future__ import annotations

from graphc.ir.errors import AutogradError

from . import vjp

_CONV_KEYS = ("stride", "padding", "dilation", "groups")
_MAX_POOL_KEYS = ("kernel", "stride", "padding", "dilation", "ceil_mode")
_AVG_POOL_KEYS = ("kernel", "stride", "padding", "ceil_mode", "count_include_pad")


def _pick(node, keys) -> dict:
    return {k: node.attrs[k] for k in keys}


def _transpose_last(b, x):
    dims = tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2)
    return b.add("permute", x, dims=dims)


@vjp("matmul")
def _matmul(b, node, grad, needs):
    """d(a @ c) = grad @ c^T and a^T @ grad, summed over the batch dims each operand was broadcast on."""
    a, c = node.inputs
    ga = b.sum_to(b.add("matmul", grad, _transpose_last(b, c)), a.shape) if needs[0] else None
    gc = b.sum_to(b.add("matmul", _transpose_last(b, a), grad), c.shape) if needs[1] else None
    return ga, gc


def _crop_to(b, x, shape):
    """Slice the trailing rows/cols of a conv result that lie beyond ``shape`` (they got no gradient)."""
    for dim in (2, 3):
        if x.shape[dim] != shape[dim]:
            x = b.add("slice", x, dim=dim, start=0, stop=shape[dim], step=1)
    return x


@vjp("conv2d")
def _conv2d(b, node, grad, needs):
    x, w = node.inputs
    attrs = _pick(node, _CONV_KEYS)
    gx = b.add("conv2d_backward_input", grad, w, input_shape=x.shape, **attrs) if needs[0] else None
    gw = b.add("conv2d_backward_weight", x, grad, weight_shape=w.shape, **attrs) if needs[1] else None
    return gx, gw


@vjp("conv2d_backward_input")
def _conv2d_backward_input(b, node, grad, needs):
    """The op is linear in each input: its adjoints are a conv2d (for the gradient) and a weight gradient."""
    g, w = node.inputs
    attrs = _pick(node, _CONV_KEYS)
    gg = _crop_to(b, b.add("conv2d", grad, w, **attrs), g.shape) if needs[0] else None
    gw = b.add("conv2d_backward_weight", grad, g, weight_shape=w.shape, **attrs) if needs[1] else None
    return gg, gw


@vjp("conv2d_backward_weight")
def _conv2d_backward_weight(b, node, grad, needs):
    x, g = node.inputs
    attrs = _pick(node, _CONV_KEYS)
    gx = b.add("conv2d_backward_input", g, grad, input_shape=x.shape, **attrs) if needs[0] else None
    gg = _crop_to(b, b.add("conv2d", x, grad, **attrs), g.shape) if needs[1] else None
    return gx, gg


@vjp("max_pool2d")
def _max_pool2d(b, node, grad, needs):
    return (b.add("max_pool2d_backward", grad, node.inputs[0], **_pick(node, _MAX_POOL_KEYS)),)


@vjp("max_pool2d_backward")
def _max_pool2d_backward(b, node, grad, needs):
    """Zero wrt the pooled input (the routing is piecewise constant); refused wrt the gradient."""
    if needs[0]:
        raise AutogradError("double backward through max pooling is not supported by graphc "
                            "(the gradient of max_pool2d's backward with respect to its incoming gradient)",
                            fix="detach() the first-order gradient, or use avg_pool2d where a second derivative is needed",
                            loc=node.loc)
    return None, None


@vjp("avg_pool2d")
def _avg_pool2d(b, node, grad, needs):
    x = node.inputs[0]
    return (b.add("avg_pool2d_backward", grad, input_shape=x.shape, **_pick(node, _AVG_POOL_KEYS)),)


@vjp("avg_pool2d_backward")
def _avg_pool2d_backward(b, node, grad, needs):
    """avg_pool2d_backward is linear and avg_pool2d is exactly its adjoint."""
    return (b.add("avg_pool2d", grad, **_pick(node, _AVG_POOL_KEYS)),)
