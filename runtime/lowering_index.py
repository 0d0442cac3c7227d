"""Lowering of the data-dependent ops: gathers, scatters, argmax and the Philox random op.

Indices read from tensors are checked in the native code: an index out of range stores an
error code into the program's error buffer (and is clamped so nothing is read or written out
of bounds); the executable turns the code into a GraphcIndexError naming the op's source line.
"""

from __future__ import annotations

from .kernel_ir import (
    AccInit,
    AccRef,
    AccSet,
    Call,
    Const,
    If,
    Load,
    Loop,
    Store,
    Var,
    const_i,
    linear_index,
)
from .lowering_rules import expr_rule, kernel_rule

M32 = 0xFFFFFFFF
PHILOX_M = (0xD2511F53, 0xCD9E8D57)
PHILOX_W = (0x9E3779B9, 0xBB67AE85)


def checked(lw, node, index, size: int):
    """``index`` if it lies in [0, size), else record an error and use 0 (never out of bounds)."""
    code = lw.error_code(node, f"index out of range for a dimension of size {size}")
    return Call("checked_index", (index, const_i(size), const_i(code)), "i64")


def _loops(spec, body):
    for name, extent in reversed(spec):
        body = [Loop(name, extent, body)]
    return body


@expr_rule("gather")
def _gather(lw, node, idx):
    x, index = node.inputs
    dim = node.attrs["dim"] % node.ndim
    src = list(idx)
    src[dim] = checked(lw, node, Call("cast", (lw.value(index, idx),), "i64"), x.shape[dim])
    return lw.value(x, src)


@expr_rule("take")
def _take(lw, node, idx):
    x, index = node.inputs
    dim = node.attrs["dim"] % x.ndim
    k = index.ndim
    picked = Call("cast", (lw.value(index, idx[dim:dim + k]),), "i64")
    src = idx[:dim] + [checked(lw, node, picked, x.shape[dim])] + idx[dim + k:]
    return lw.value(x, src)


def _copy_base(lw, node, out):
    base = node.inputs[0]
    zs = [Var(f"z{d}") for d in range(node.ndim)]
    return _loops([(f"z{d}", s) for d, s in enumerate(node.shape)],
                  [Store(out, linear_index(zs, node.shape), lw.value(base, zs))])


@kernel_rule("scatter_add")
def _scatter_add(lw, node, out):
    base, index, src = node.inputs
    dim = node.attrs["dim"] % node.ndim
    ivars = [Var(f"i{d}") for d in range(index.ndim)]
    target = list(ivars)
    target[dim] = checked(lw, node, Call("cast", (lw.value(index, ivars),), "i64"), node.shape[dim])
    flat = linear_index(target, node.shape)
    dt = node.dtype.short
    add = Store(out, flat, Call("add", (Load(out, flat, dt), lw.value(src, ivars)), dt))
    return _copy_base(lw, node, out) + _loops([(f"i{d}", s) for d, s in enumerate(index.shape)], [add])


@kernel_rule("index_add")
def _index_add(lw, node, out):
    base, index, src = node.inputs
    dim = node.attrs["dim"] % node.ndim
    svars = [Var(f"i{d}") for d in range(src.ndim)]
    k = index.ndim
    picked = Call("cast", (lw.value(index, svars[dim:dim + k]),), "i64")
    target = svars[:dim] + [checked(lw, node, picked, node.shape[dim])] + svars[dim + k:]
    flat = linear_index(target, node.shape)
    dt = node.dtype.short
    add = Store(out, flat, Call("add", (Load(out, flat, dt), lw.value(src, svars)), dt))
    return _copy_base(lw, node, out) + _loops([(f"i{d}", s) for d, s in enumerate(src.shape)], [add])


@kernel_rule("argmax")
def _argmax(lw, node, out):
    """Index of the first maximum along ``dim``; a NaN counts as the maximum (numpy's rule)."""
    x = node.inputs[0]
    if x.ndim == 0:
        return [Store(out, const_i(0), const_i(0))]
    dim = node.attrs["dim"] % x.ndim
    dt = x.dtype.short
    xvars = [Var(f"i{d}") for d in range(x.ndim)]
    v = lw.value(x, xvars)
    best, at = lw.fresh("best"), lw.fresh("at")
    cur = AccRef(best, dt)
    if x.dtype.is_floating_point:
        is_nan = Call("ne", (v, v), "bool")
        cur_ok = Call("eq", (cur, cur), "bool")
        better = Call("logical_or", (Call("gt", (v, cur), "bool"), Call("logical_and", (is_nan, cur_ok), "bool")), "bool")
        start = Const(float("-inf"), dt)
    else:
        better = Call("gt", (v, cur), "bool")
        start = Const(-(2**63) if dt == "i64" else -(2**31), dt)
    first = Call("eq", (AccRef(at, "i64"), const_i(-1)), "bool")
    better = Call("logical_or", (better, first), "bool")
    kept = [d for d in range(x.ndim) if d != dim]
    out_idx = [xvars[d] if d != dim else const_i(0) for d in range(x.ndim)] if node.attrs["keepdim"] else [xvars[d] for d in kept]
    body = [AccInit(best, dt, start), AccInit(at, "i64", const_i(-1))]
    body.append(Loop(f"i{dim}", x.shape[dim], [
        AccSet(at, Call("select", (better, xvars[dim], AccRef(at, "i64")), "i64")),
        AccSet(best, Call("select", (better, v, cur), dt)),
    ]))
    body.append(Store(out, linear_index(out_idx, node.shape), AccRef(at, "i64")))
    return _loops([(f"i{d}", x.shape[d]) for d in kept], body)


# ---------------------------------------------------------------------- Philox4x32-10
def _u32(e):
    return Call("and", (e, const_i(M32)), "i64")


def _mulhilo(a: int, b):
    prod = Call("mul", (const_i(a), b), "i64")  # both < 2**32: the product fits in 64 bits (mod 2**64)
    return Call("shr", (prod, const_i(32)), "i64"), _u32(prod)


@kernel_rule("rand_uniform")
def _rand_uniform(lw, node, out):
    """Uniform [0, 1) numbers, bit-identical to the reference's Philox4x32-10 (one block per 4 f32)."""
    seed, offset = node.inputs
    dt = node.dtype.short
    numel = 1
    for s in node.shape:
        numel *= s
    per_block = 4 if dt == "f32" else 2
    blocks = -(-numel // per_block)
    c0, c1, c2, c3, k0, k1 = (lw.fresh(p) for p in ("c", "c", "c", "c", "k", "k"))
    temps = [lw.fresh("t") for _ in range(4)]
    b = Var("blk")
    s_val = lw.value(seed, [])
    counter = Call("add", (lw.value(offset, []), b), "i64")
    body = [
        AccInit(c0, "i64", _u32(counter)),
        AccInit(c1, "i64", _u32(Call("shr", (counter, const_i(32)), "i64"))),
        AccInit(c2, "i64", const_i(0)),
        AccInit(c3, "i64", const_i(0)),
        AccInit(k0, "i64", _u32(s_val)),
        AccInit(k1, "i64", _u32(Call("shr", (s_val, const_i(32)), "i64"))),
    ] + [AccInit(t, "i64", const_i(0)) for t in temps]
    for r in range(10):
        hi0, lo0 = _mulhilo(PHILOX_M[0], AccRef(c0, "i64"))
        hi1, lo1 = _mulhilo(PHILOX_M[1], AccRef(c2, "i64"))
        n0 = Call("xor", (Call("xor", (hi1, AccRef(c1, "i64")), "i64"), AccRef(k0, "i64")), "i64")
        n2 = Call("xor", (Call("xor", (hi0, AccRef(c3, "i64")), "i64"), AccRef(k1, "i64")), "i64")
        # the new words are all computed from the old ones, then written back
        body += [AccSet(t, v) for t, v in zip(temps, (n0, lo1, n2, lo0))]
        body += [AccSet(c, AccRef(t, "i64")) for c, t in zip((c0, c1, c2, c3), temps)]
        if r < 9:
            body += [AccSet(k0, _u32(Call("add", (AccRef(k0, "i64"), const_i(PHILOX_W[0])), "i64"))),
                     AccSet(k1, _u32(Call("add", (AccRef(k1, "i64"), const_i(PHILOX_W[1])), "i64")))]
    words = [AccRef(n, "i64") for n in (c0, c1, c2, c3)]
    stores = []
    for j in range(per_block):
        e = Call("add", (Call("mul", (b, const_i(per_block)), "i64"), const_i(j)), "i64")
        if dt == "f32":
            value = Call("mul", (Call("cast", (Call("shr", (words[j], const_i(8)), "i64"),), "f32"), Const(2.0**-24, "f32")), "f32")
        else:
            hi = Call("shr", (words[2 * j], const_i(5)), "i64")
            lo = Call("shr", (words[2 * j + 1], const_i(6)), "i64")
            mant = Call("add", (Call("mul", (hi, const_i(2**26)), "i64"), lo), "i64")
            value = Call("mul", (Call("cast", (mant,), "f64"), Const(2.0**-53, "f64")), "f64")
        stores.append(If(Call("lt", (e, const_i(numel)), "bool"), [Store(out, e, value)]))
    return [Loop("blk", blocks, body + stores)]
