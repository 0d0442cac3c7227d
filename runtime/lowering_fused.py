"""Lowering of fused kernel groups (``FusionPlan.groups``): a matmul or reductions plus an epilogue.

The epilogue is a list of statements run once per produced element: every end (a pointwise
value, or an ``assign`` riding on the kernel) is evaluated from the produced value(s) and the
other buffers, into a temporary first, and then all are stored, so an update that reads the
parameter it overwrites reads the old value (the fusion pass proved it reads only that element).
"""

from __future__ import annotations

from .kernel_ir import (
    AccInit,
    AccRef,
    AccSet,
    AccUpdate,
    Call,
    Const,
    Kernel,
    Load,
    Store,
    Var,
    const_i,
    linear_index,
    split_index,
)
from .lowering_rules import EXPR_RULES, _init_value, _loops, _matmul, _reduce


def _forward_index(node, src, idx):
    """The index of ``node``'s element that reads ``src`` at ``idx`` (node: elementwise, permute, reshape)."""
    if node.op == "permute":
        return [idx[d % node.ndim] for d in node.attrs["dims"]]
    if node.op == "reshape":
        return split_index(linear_index(list(idx), src.shape), node.shape)
    return list(idx)


def epilogue(lw, group, values: dict, pidx: list, skip=None) -> list:
    """Statements storing every end of ``group`` (but ``skip``, already in place) at the
    producers' element ``pidx``."""
    saved, lw.subst = lw.subst, dict(values)
    temps, stores = [], []
    try:
        for e in group.ends:
            if e is skip:
                continue
            path = group.paths[e]
            idx = list(pidx)
            for a, b in zip(path, path[1:]):
                idx = _forward_index(b, a, idx)
            if e.op == "assign":
                target, v = e.inputs
                value = lw.value(v, idx)
            else:
                target = e
                value = EXPR_RULES[e.op](lw, e, idx)
            t = lw.fresh("ep")
            temps.append(AccInit(t, target.dtype.short, value))
            buf = lw.buffers[target].name
            lw.reads.add(buf)
            stores.append(Store(buf, linear_index(idx, target.shape), AccRef(t, target.dtype.short)))
    finally:
        lw.subst = saved
    return temps + stores


def _gemm_group(lw, g):
    node = g.producers[0]
    acc = g.accumulator
    if node in lw.buffers:
        out = lw.buffers[node].name
    elif acc.op == "assign":  # the GEMM writes the assigned tensor (a .grad) in place
        out = lw.buffers[acc.inputs[0]].name
    else:
        out = lw.buffers[acc].name
    lw.reads.add(out)
    skip = acc if node not in lw.buffers and acc.op == "assign" else None
    return _matmul(lw, node, out, lambda value, idx: epilogue(lw, g, {node: value}, idx, skip=skip))


def _stored_group(lw, g):
    """A kernel rule (convolution) writes the producer's buffer; then the epilogue reads it back."""
    node = g.producers[0]
    out = lw.buffers[node].name
    lw.reads.add(out)
    lw.root = node
    body = lw.rules[node.op](lw, node, out)
    lw.root = None
    ovars = [Var(f"o{k}") for k in range(node.ndim)]
    value = Load(out, linear_index(ovars, node.shape), node.dtype.short)
    return body + _loops([(v.name, s) for v, s in zip(ovars, node.shape)], epilogue(lw, g, {node: value}, ovars))


def _reduce_group(lw, g):
    first = g.producers[-1]
    x = first.inputs[0]
    dims = {d % x.ndim for d in first.attrs["dims"]}
    if not (x.ndim - 1 in dims and all(d in dims for d in range(min(dims), x.ndim))):
        out = lw.buffers[first].name  # outer reduction: accumulate in the buffer, then the epilogue
        lw.reads.add(out)
        body = _reduce(lw, first, out)
        ovars = [Var(f"o{k}") for k in range(first.ndim)]
        value = Load(out, linear_index(ovars, first.shape), first.dtype.short)
        return body + _loops([(v.name, s) for v, s in zip(ovars, first.shape)], epilogue(lw, g, {first: value}, ovars))
    xvars = [Var(f"i{d}") for d in range(x.ndim)]
    kept = [d for d in range(x.ndim) if d not in dims]
    pre, inner, values = [], [], {}
    if g.kind == "online_softmax":
        m, s = g.producers
        dtype = s.dtype.short
        accm, accs, t, mn = lw.fresh("amax"), lw.fresh("asum"), lw.fresh("x"), lw.fresh("m")
        zero = Const(0.0, dtype)
        pre = [AccInit(accm, dtype, _init_value("max", dtype)), AccInit(accs, dtype, zero)]
        src = s.inputs[0].inputs[0].inputs[0]
        old, new, xv = AccRef(accm, dtype), AccRef(mn, dtype), AccRef(t, dtype)

        def shifted(a):  # exp(a - new max), with exp(0) where both are -inf
            same = Call("eq", (a, new), "bool")
            return Call("exp", (Call("select", (same, zero, Call("sub", (a, new), dtype)), dtype),), dtype)

        inner = [AccInit(t, dtype, lw.value(src, xvars)), AccInit(mn, dtype, Call("maximum", (old, xv), dtype)),
                 AccSet(accs, Call("add", (Call("mul", (AccRef(accs, dtype), shifted(old)), dtype), shifted(xv)), dtype)),
                 AccSet(accm, new)]
        values = {m: old, s: AccRef(accs, dtype)}
    else:
        for p in g.producers:
            acc = lw.fresh("acc")
            dtype = p.dtype.short
            pre.append(AccInit(acc, dtype, _init_value(p.op, dtype)))
            inner.append(AccUpdate(acc, "add" if p.op == "sum" else "max", lw.value(p.inputs[0], xvars)))
            values[p] = AccRef(acc, dtype)
    body = pre + _loops([(f"i{d}", x.shape[d]) for d in sorted(dims)], inner)
    for p in g.producers:
        pidx = [xvars[d] if d not in dims else const_i(0) for d in range(x.ndim)]
        if not p.attrs["keepdim"]:
            pidx = [xvars[d] for d in kept]
        if p in lw.buffers:
            lw.reads.add(lw.buffers[p].name)
            body.append(Store(lw.buffers[p].name, linear_index(pidx, p.shape), values[p]))
    root = g.producers[-1]
    ridx = [xvars[d] if d not in dims else const_i(0) for d in range(x.ndim)]
    if not root.attrs["keepdim"]:
        ridx = [xvars[d] for d in kept]
    body += epilogue(lw, g, values, ridx) if g.ends else []
    return _loops([(f"i{d}", x.shape[d]) for d in kept], body)


def group_kernel(lw, g, name: str) -> Kernel:
    """The kernel of a fused group (``graphc.passes.fuse.FusedKernel``)."""
    from .lower import estimate_flops

    lw.reads = set()
    lw.root = None
    build = {"gemm": _gemm_group, "stored": _stored_group}.get(g.kind, _reduce_group)
    body = build(lw, g)
    used = [b.name for b in lw.order if b.name in lw.reads]
    early = {lw.buffers[e.inputs[0]].name for e in g.ends if e.op == "assign"}  # updates stored before the end
    return Kernel(name, used, body, flops=sum(estimate_flops(p) for p in g.producers),
                  meta={"node": g.root.name, "op": g.root.op + ("+epilogue" if g.ends else ""), "reads": set(lw.reads),
                        "early_writes": early})
