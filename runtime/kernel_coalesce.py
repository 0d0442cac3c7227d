"""Loop coalescing on kernel IR: merge adjacent loops of a perfect nest that address memory as one.

A pointwise kernel over a ``[64, 6, 28, 28]`` value is four nested loops; its innermost loop of
28 iterations is fully unrolled by LLVM, which then vectorises the next loop out with gathers
and scatters at a stride of 28, several times slower than a contiguous loop. When every access
of the nest treats two adjacent loops as one dimension (outer coefficient == inner coefficient x
inner extent, which holds for contiguous and broadcast operands alike), the two loops become one
loop over their product: ``[64, 6, 28, 28]`` elementwise is one loop of 301,056 iterations.

The rewrite is exact: each index ``a*u + b*v`` with ``a == b*n_v`` equals ``b*(n_v*u + v)``,
the merged variable. It applies only where the loop variables appear nowhere but in affine
Load and Store indices (so never to gathers, random numbers or index-dependent values), only
to perfect nests whose innermost body is stores (and the per-iteration temporaries a fused
epilogue computes them from), and only where no iteration reads an element
another iteration writes (a recurrence keeps its loops, and with them where a thread may split).
"""

from __future__ import annotations

from numbers import Integral

from .kernel_ir import AccInit, AccUpdate, Call, Const, Expr, Kernel, Load, Loop, Store, Var


def coalesce_kernel(kernel: Kernel) -> Kernel:
    kernel.body = [_coalesce(s) for s in kernel.body]
    return kernel


def _coalesce(s):
    """``s`` with every perfect nest in it coalesced, the outermost ones first."""
    if not isinstance(s, Loop):
        return s
    merged = coalesce_nest(s)
    if merged is not s:
        return merged
    return Loop(s.var, s.extent, [_coalesce(x) for x in s.body], s.parallel, s.vectorize, s.unroll)


def coalesce_nest(loop: Loop) -> Loop:
    """``loop`` with adjacent loops of its perfect nest merged where every access allows it."""
    chain = [loop]
    while len(chain[-1].body) == 1 and isinstance(chain[-1].body[0], Loop):
        chain.append(chain[-1].body[0])
    body = chain[-1].body
    if len(chain) < 2 or not body or not all(isinstance(s, (Store, AccUpdate, AccInit)) for s in body):
        return loop
    extents = {lp.var: lp.extent for lp in chain}
    if len(extents) != len(chain):
        return loop
    body = [_map(s, lambda e: _plain_mods(e, extents)) for s in body]
    accesses, loads, stores = [], [], {}
    for s in body:
        if not _collect(s.value, extents, loads):
            return loop
        if isinstance(s, Store):
            form = _affine(s.index)
            if form is None:
                return loop
            accesses.append(form)
            stores.setdefault(s.buf, []).append(_nonzero(form))
    if any(buf in stores and _nonzero(form) not in stores[buf] for buf, form in loads):
        return loop  # reads what another iteration writes: the loop order (and its split) matters
    accesses += [form for _, form in loads]
    loops = [(lp.var, lp.extent, lp.parallel, lp.vectorize, lp.unroll) for lp in chain]
    changed = False
    i = len(loops) - 1
    while i > 0:
        (u, nu, pu, vu, ru), (v, nv, pv, vv, rv) = loops[i - 1], loops[i]
        if all(a.get(u, 0) == a.get(v, 0) * nv for a in accesses):
            body = [_map(s, lambda e, u=u: _subst(e, u)) for s in body]
            for a in accesses:
                a.pop(u, None)
            loops[i - 1:i + 1] = [(v, nu * nv, pu or pv, vu and vv, ru and rv)]
            changed = True
        i -= 1
    if not changed:
        return loop
    for var, extent, parallel, vectorize, unroll in reversed(loops):
        body = [Loop(var, extent, body, parallel, vectorize, unroll)]
    return body[0]


def _map(s, f):
    """The store, accumulator update or per-iteration temporary ``s`` with ``f`` applied to its
    expressions."""
    if isinstance(s, Store):
        return Store(s.buf, f(s.index), f(s.value))
    if isinstance(s, AccInit):
        return AccInit(s.name, s.dtype, f(s.value))
    return AccUpdate(s.name, s.op, f(s.value))


def _affine(e: Expr) -> dict | None:
    """``e`` as {variable: coefficient, "": constant}, or None when it is not affine."""
    if isinstance(e, Var):
        return {e.name: 1}
    if isinstance(e, Const):
        return {"": int(e.value)} if isinstance(e.value, Integral) and not isinstance(e.value, bool) else None
    if isinstance(e, Call) and e.op == "add" and len(e.args) == 2:
        a, b = _affine(e.args[0]), _affine(e.args[1])
        if a is None or b is None:
            return None
        return {k: a.get(k, 0) + b.get(k, 0) for k in a.keys() | b.keys()}
    if isinstance(e, Call) and e.op == "mul" and len(e.args) == 2:
        a, b = _affine(e.args[0]), _affine(e.args[1])
        if a is None or b is None:
            return None
        if set(a) <= {""}:
            a, b = b, a
        if not set(b) <= {""}:
            return None
        c = b.get("", 0)
        return {k: v * c for k, v in a.items()}
    return None


def _collect(e: Expr, extents: dict, loads: list) -> bool:
    """Record every load in the value ``e`` as ``(buffer, affine form of its index)``; False where
    a nest variable is used any other way (as a value, in a condition, in a non-affine index)."""
    if isinstance(e, Var):
        return e.name not in extents
    if isinstance(e, Load):
        form = _affine(e.index)
        if form is None:
            return not _mentions(e.index, extents)
        loads.append((e.buf, form))
        return True
    if isinstance(e, Call):
        return all(_collect(a, extents, loads) for a in e.args)
    return True


def _nonzero(form: dict) -> dict:
    return {k: v for k, v in form.items() if v}


def _mentions(e: Expr, extents: dict) -> bool:
    if isinstance(e, Var):
        return e.name in extents
    if isinstance(e, Load):
        return _mentions(e.index, extents)
    if isinstance(e, Call):
        return any(_mentions(a, extents) for a in e.args)
    return False


def _plain_mods(e: Expr, extents: dict) -> Expr:
    """``mod(v, n)`` is ``v`` when the loop of ``v`` runs below ``n`` (broadcast indexing writes it)."""
    if isinstance(e, Call):
        args = tuple(_plain_mods(a, extents) for a in e.args)
        if (e.op == "mod" and len(args) == 2 and isinstance(args[0], Var) and args[0].name in extents
                and isinstance(args[1], Const) and isinstance(args[1].value, Integral) and extents[args[0].name] <= args[1].value):
            return args[0]
        return Call(e.op, args, e.dtype)
    if isinstance(e, Load):
        return Load(e.buf, _plain_mods(e.index, extents), e.dtype)
    return e


def _subst(e: Expr, gone: str) -> Expr:
    """``e`` with the merged-away outer variable ``gone`` set to 0 (the inner one now spans both)."""
    if isinstance(e, Var):
        return Const(0, "i64") if e.name == gone else e
    if isinstance(e, Call):
        args = tuple(_subst(a, gone) for a in e.args)
        zero = [isinstance(a, Const) and a.value == 0 and a.dtype == "i64" for a in args]
        if e.op == "mul" and any(zero):
            return Const(0, "i64")
        if e.op == "add" and len(args) == 2 and any(zero):
            return args[1] if zero[0] else args[0]
        return Call(e.op, args, e.dtype)
    if isinstance(e, Load):
        return Load(e.buf, _subst(e.index, gone), e.dtype)
    return e
