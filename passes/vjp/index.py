"""VJP rules of the indexing ops: gather and scatter_add, take and index_add, are transposes."""

from __future__ import annotations

from . import vjp


@vjp("gather")
def _gather(b, node, grad, needs):
    x, idx = node.inputs
    zeros = b.const(0.0, x, shape=x.shape)
    return (b.add("scatter_add", zeros, idx, grad, dim=node.attrs["dim"]), None)


@vjp("scatter_add")
def _scatter_add(b, node, grad, needs):
    base, idx, src = node.inputs
    g_src = None
    if needs[2]:
        g_src = b.add("gather", grad, idx, dim=node.attrs["dim"])
        if g_src.shape != src.shape:  # src entries beyond the index's extent were not scattered
            g_src = b.add("pad", g_src, pads=tuple((0, s - i) for s, i in zip(src.shape, idx.shape, strict=True)))
    return (grad if needs[0] else None, None, g_src)


@vjp("take")
def _take(b, node, grad, needs):
    x, idx = node.inputs
    zeros = b.const(0.0, x, shape=x.shape)
    return (b.add("index_add", zeros, idx, grad, dim=node.attrs["dim"]), None)


@vjp("index_add")
def _index_add(b, node, grad, needs):
    idx = node.inputs[1]
    g_src = b.add("take", grad, idx, dim=node.attrs["dim"]) if needs[2] else None
    return (grad if needs[0] else None, None, g_src)
