"""How each op becomes kernel IR.

Pointwise ops (elementwise math and movement) have an *expression rule*: given the multi-index
of an output element, return the kernel-IR expression of its value, recursively asking the
lowering for the input values it needs (which are inlined, or loaded from a buffer when the
input is materialized). Ops that need loops of their own (reductions, matmul) have a *kernel
rule* that returns the statements computing a whole output buffer.
"""

from __future__ import annotations

from graphc.ir import Node

from .kernel_ir import (
    AccInit,
    AccRef,
    AccUpdate,
    Call,
    Const,
    Gemm,
    GemmOperand,
    Load,
    Loop,
    Store,
    Var,
    const_i,
    iadd,
    imul,
    linear_index,
    split_index,
)

EXPR_RULES: dict = {}
KERNEL_RULES: dict = {}


def expr_rule(*ops):
    def register(fn):
        for op in ops:
            EXPR_RULES[op] = fn
        return fn

    return register


def kernel_rule(*ops):
    def register(fn):
        for op in ops:
            KERNEL_RULES[op] = fn
        return fn

    return register


def broadcast_index(idx, in_shape, out_shape):
    """The index into an input that numpy-broadcasts to ``out_shape``."""
    lead = len(out_shape) - len(in_shape)
    return [const_i(0) if s == 1 else idx[lead + k] for k, s in enumerate(in_shape)]


def _clamp(e, lo: int, hi: int):
    return Call("minimum", (Call("maximum", (e, const_i(lo)), "i64"), const_i(hi)), "i64")


# ---------------------------------------------------------------------- elementwise
_ELEMENTWISE = ("neg", "abs", "sign", "exp", "log", "sqrt", "rsqrt", "reciprocal", "sin", "cos", "tanh",
                "sigmoid", "relu", "erf", "add", "sub", "mul", "div", "pow", "maximum", "minimum",
                "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_not")


@expr_rule(*_ELEMENTWISE)
def _elementwise(lw, node: Node, idx):
    if node.op == "pow" and node.inputs[1].op == "constant" and node.dtype.is_floating_point:
        power = _small_power(lw, node, idx)
        if power is not None:
            return power
    args = tuple(lw.value(x, broadcast_index(idx, x.shape, node.shape)) for x in node.inputs)
    return Call(node.op, args, node.dtype.short)


def _small_power(lw, node: Node, idx):
    """``x ** 0`` (1 for every x, NaN included, as IEEE and PyTorch define it; the front end's
    ``copy_`` writes ``x ** 0 * src``), ``x ** 1`` and ``x ** 2`` without a libm call."""
    e = node.inputs[1].attrs["value"]
    if e == 0:
        return Const(1.0, node.dtype.short)
    if e not in (1, 2):
        return None
    x = node.inputs[0]
    base = lw.value(x, broadcast_index(idx, x.shape, node.shape))
    return base if e == 1 else Call("mul", (base, base), node.dtype.short)


@expr_rule("where")
def _where(lw, node, idx):
    c, a, b = (lw.value(x, broadcast_index(idx, x.shape, node.shape)) for x in node.inputs)
    return Call("select", (c, a, b), node.dtype.short)


@expr_rule("cast")
def _cast(lw, node, idx):
    return Call("cast", (lw.value(node.inputs[0], idx),), node.dtype.short)


@expr_rule("constant")
def _constant(lw, node, idx):
    return Const(node.attrs["value"], node.dtype.short)


# ---------------------------------------------------------------------- movement
@expr_rule("reshape")
def _reshape(lw, node, idx):
    x = node.inputs[0]
    return lw.value(x, split_index(linear_index(idx, node.shape), x.shape))


@expr_rule("permute")
def _permute(lw, node, idx):
    x = node.inputs[0]
    src = [None] * x.ndim
    for out_dim, in_dim in enumerate(node.attrs["dims"]):
        src[in_dim] = idx[out_dim]
    return lw.value(x, src)


@expr_rule("expand")
def _expand(lw, node, idx):
    x = node.inputs[0]
    return lw.value(x, broadcast_index(idx, x.shape, node.shape))


@expr_rule("slice")
def _slice(lw, node, idx):
    a = node.attrs
    src = list(idx)
    src[a["dim"]] = iadd(const_i(a["start"]), imul(const_i(a["step"]), idx[a["dim"]]))
    return lw.value(node.inputs[0], src)


@expr_rule("flip")
def _flip(lw, node, idx):
    src = list(idx)
    for d in node.attrs["dims"]:
        d %= node.ndim
        src[d] = Call("sub", (const_i(node.shape[d] - 1), idx[d]), "i64")
    return lw.value(node.inputs[0], src)


@expr_rule("pad")
def _pad(lw, node, idx):
    x = node.inputs[0]
    inside = None
    src = []
    for d, (lo, _hi) in enumerate(node.attrs["pads"]):
        if lo == 0 and x.shape[d] == node.shape[d]:
            src.append(idx[d])
            continue
        shifted = Call("sub", (idx[d], const_i(lo)), "i64")
        ok = Call("logical_and", (Call("ge", (shifted, const_i(0)), "bool"),
                                  Call("lt", (shifted, const_i(x.shape[d])), "bool")), "bool")
        inside = ok if inside is None else Call("logical_and", (inside, ok), "bool")
        src.append(_clamp(shifted, 0, max(x.shape[d] - 1, 0)))  # never load out of bounds
    value = lw.value(x, src)
    if inside is None:
        return value
    return Call("select", (inside, value, Const(node.attrs["value"], node.dtype.short)), node.dtype.short)


@expr_rule("concat")
def _concat(lw, node, idx):
    dim = node.attrs["dim"] % node.ndim
    out = None
    start = 0
    pieces = []
    for x in node.inputs:
        pieces.append((start, x))
        start += x.shape[dim]
    for begin, x in reversed(pieces):
        src = list(idx)
        src[dim] = _clamp(Call("sub", (idx[dim], const_i(begin)), "i64"), 0, x.shape[dim] - 1)
        value = lw.value(x, src)
        if out is None:
            out = value
        else:
            cond = Call("lt", (idx[dim], const_i(begin + x.shape[dim])), "bool")
            out = Call("select", (cond, value, out), node.dtype.short)
    return out


# ---------------------------------------------------------------------- reductions
def _loops(names_extents, body):
    for name, extent in reversed(names_extents):
        body = [Loop(name, extent, body)]
    return body


def _init_value(op: str, dtype: str):
    if op == "sum":
        return Const(0, dtype) if dtype not in ("f32", "f64") else Const(0.0, dtype)
    if dtype in ("f32", "f64"):
        return Const(float("-inf"), dtype)
    return Const(-(2**63) if dtype == "i64" else -(2**31), dtype)


@kernel_rule("sum", "max")
def _reduce(lw, node, out):
    x = node.inputs[0]
    dims = {d % max(x.ndim, 1) for d in node.attrs["dims"]} if x.ndim else set()
    dtype = node.dtype.short
    acc_op = "add" if node.op == "sum" else "max"
    xvars = [Var(f"i{d}") for d in range(x.ndim)]
    kept = [d for d in range(x.ndim) if d not in dims]
    out_idx = [xvars[d] if d not in dims else const_i(0) for d in range(x.ndim)]
    if not node.attrs["keepdim"]:
        out_idx = [xvars[d] for d in kept]
    flat_out = linear_index(out_idx, node.shape)
    if not dims:
        return _loops([(v.name, s) for v, s in zip(xvars, x.shape)], [Store(out, flat_out, lw.value(x, xvars))])
    inner_reduce = x.ndim - 1 in dims and all(d in dims for d in range(min(dims), x.ndim))
    if inner_reduce:
        # kept dims outside, the (contiguous) reduced dims inside, accumulating in a register
        acc = lw.fresh("acc")
        inner = [AccUpdate(acc, acc_op, lw.value(x, xvars))]
        body = [AccInit(acc, dtype, _init_value(node.op, dtype))]
        body += _loops([(f"i{d}", x.shape[d]) for d in sorted(dims)], inner)
        body.append(Store(out, flat_out, AccRef(acc, dtype)))
        return _loops([(f"i{d}", x.shape[d]) for d in kept], body)
    # reduced dims outside the contiguous kept ones: accumulate into the output row by row
    ovars = [Var(f"o{k}") for k in range(len(node.shape))]
    init = _loops([(v.name, s) for v, s in zip(ovars, node.shape)],
                  [Store(out, linear_index(ovars, node.shape), _init_value(node.op, dtype))])
    current = Load(out, flat_out, dtype)
    order = [(f"i{d}", x.shape[d]) for d in range(x.ndim)]
    tail = x.ndim
    while tail - 1 in dims:
        tail -= 1
    if tail < x.ndim:
        # trailing reduced dims (a conv bias gradient sums [N, C, H, W] over N, H and W): each
        # row's run accumulates in a register from the output's running value, not through memory
        acc = lw.fresh("acc")
        run = [AccInit(acc, dtype, current)]
        run += _loops(order[tail:], [AccUpdate(acc, acc_op, lw.value(x, xvars))])
        run.append(Store(out, flat_out, AccRef(acc, dtype)))
        return init + _loops(order[:tail], run)
    update = Call("add" if node.op == "sum" else "maximum", (current, lw.value(x, xvars)), dtype)
    return init + _loops(order, [Store(out, flat_out, update)])


# ---------------------------------------------------------------------- matmul
VIEW_OPS = ("permute", "reshape", "expand", "slice")
GEMM_DTYPES = ("f32", "f64")
_ITEMSIZE = {"f32": 4, "f64": 8}


def _row_major(shape) -> list[int]:
    out, st = [], 1
    for s in reversed(shape):
        out.append(st)
        st *= s
    return out[::-1]


def _reshape_strides(old_shape, old_strides, new_shape):
    """Strides viewing a strided array in a new shape without copying (numpy's rule), or None."""
    old = [(s, st) for s, st in zip(old_shape, old_strides) if s != 1]
    new = [0] * len(new_shape)
    oi, oj, ni, nj = 0, 1, 0, 1
    while ni < len(new_shape) and oi < len(old):
        np_, op = new_shape[ni], old[oi][0]
        while np_ != op:
            if np_ < op:
                np_ *= new_shape[nj]
                nj += 1
            else:
                op *= old[oj][0]
                oj += 1
        if any(old[t][1] != old[t + 1][0] * old[t + 1][1] for t in range(oi, oj - 1)):
            return None
        new[nj - 1] = old[oj - 1][1]
        for t in range(nj - 1, ni, -1):
            new[t - 1] = new[t] * new_shape[t]
        ni, nj, oi, oj = nj, nj + 1, oj, oj + 1
    return new


def operand_view(x: Node, stored):
    """``(base, offset, strides)``: ``x`` as a strided view of ``base``, looking through the movement
    ops that only re-index (permute, contiguity-keeping reshape, expand, slice) until a node for
    which ``stored(node)`` holds or that is no such op. None when some reshape needs a copy."""
    chain = []
    while not stored(x) and x.op in VIEW_OPS:
        chain.append(x)
        x = x.inputs[0]
    base, offset, strides = x, 0, _row_major(x.shape)
    for v in reversed(chain):
        src = v.inputs[0]
        if any(s == 0 for s in v.shape):
            return None
        if v.op == "permute":
            strides = [strides[d % src.ndim] for d in v.attrs["dims"]]
        elif v.op == "expand":
            lead = v.ndim - src.ndim
            strides = [0] * lead + [0 if s == 1 else st for s, st in zip(src.shape, strides)]
        elif v.op == "slice":
            d = v.attrs["dim"] % src.ndim
            offset += v.attrs["start"] * strides[d]
            strides = list(strides)
            strides[d] *= v.attrs["step"]
        else:
            strides = _reshape_strides(src.shape, strides, v.shape)
            if strides is None:
                return None
    return base, offset, list(strides)


def _gemm_scratch(lw, nbytes: int) -> str:
    """One scratch buffer shared by every GEMM of the program (they run one after another)."""
    from .lower import Buffer

    for buf in lw.order:
        if buf.name == "gemm_scratch":
            break
    else:
        buf = Buffer("gemm_scratch", "f64", (1,), "temp")
        lw.order.append(buf)
    buf.shape = (max(buf.shape[0], -(-nbytes // 8)),)
    lw.reads.add(buf.name)
    return buf.name


def _gemm_template(lw, node, out):
    """The Gemm statement for ``node`` when both operands are strided views of stored buffers."""
    from .llvm import gemm  # the blocking parameters decide the scratch size

    a, b = node.inputs
    dtype = node.dtype.short
    *batch, m, n = node.shape
    k = a.shape[-1]
    if dtype not in GEMM_DTYPES or a.ndim < 2 or b.ndim < 2 or 0 in node.shape or k == 0:
        return None
    ops = []
    for x in (a, b):
        view = operand_view(x, lambda v: v in lw.buffers)
        if view is None or view[0] not in lw.buffers:
            return None
        base, offset, strides = view
        lead = len(batch) - (x.ndim - 2)
        bstr = tuple([0] * lead + [0 if s == 1 else st for s, st in zip(x.shape[:-2], strides[:-2])])
        name = lw.buffers[base].name
        lw.reads.add(name)
        ops.append(GemmOperand(name, offset, bstr, strides[-2], strides[-1]))
    stmt = Gemm(out, ops[0], ops[1], dtype, m, n, k, tuple(batch))
    nbytes = gemm.scratch_bytes(stmt)
    if nbytes:
        stmt.scratch = _gemm_scratch(lw, nbytes)
        stmt.scratch_bytes = nbytes
    return [stmt]


@kernel_rule("matmul")
def _matmul(lw, node, out, epilogue=None):
    """A packed, blocked GEMM template where the LLVM backend has one, else plain loops.

    ``epilogue(value, idx)`` (optional) returns the statements that store the fused values of
    the output element ``idx`` whose product is ``value``; they run as each element is final."""
    template = _gemm_template(lw, node, out)
    if template is None:
        return _matmul_loops(lw, node, out, epilogue)
    g = template[0]
    if g.m == 1 and _numel(g.batch) == 1 and g.a.col_stride == 1 and g.b.row_stride == 1:
        return _matmul_dots(lw, node, out, epilogue)  # a row times a k-contiguous B: n dot products
    g.fallback = _matmul_loops(lw, node, out, epilogue)
    if epilogue is not None:
        row, col = Var("gemm_row"), Var("gemm_col")
        idx = (split_index(row, g.batch + (g.m,)) if g.batch else [row]) + [col]
        g.epilogue = epilogue(AccRef(g.epilogue_acc, g.dtype), idx)
    return template


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


_DOT_ROWS = 4  # dot products per pass over ``a``: four rows of b share each load of a


def _matmul_dots(lw, node, out, epilogue=None):
    """out[0, j] = sum_k a[0, k] * b[k, j] as contiguous dot products (vectorised reductions),
    ``_DOT_ROWS`` at a time so that the row of ``a`` is loaded once per group."""
    a, b = node.inputs
    dtype = node.dtype.short
    n, kk = node.shape[-1], Var("k")
    zeros = [const_i(0)] * (node.ndim - 1)

    def group(js):
        accs = [lw.fresh("acc") for _ in js]
        a_val = lw.value(a, zeros[: a.ndim - 1] + [kk])
        dots = [AccUpdate(acc, "add", Call("mul", (a_val, lw.value(b, zeros[: b.ndim - 2] + [kk, j])), dtype))
                for acc, j in zip(accs, js)]
        body = [AccInit(acc, dtype, _init_value("sum", dtype)) for acc in accs]
        body.append(Loop("k", a.shape[-1], dots))
        for acc, j in zip(accs, js):
            body.append(Store(out, j, AccRef(acc, dtype)))
            if epilogue is not None:
                body += epilogue(AccRef(acc, dtype), zeros + [j])
        return body

    full = n // _DOT_ROWS
    jg = Var("jg")
    stmts = []
    if full:
        stmts.append(Loop("jg", full, group([iadd(imul(const_i(_DOT_ROWS), jg), const_i(r)) for r in range(_DOT_ROWS)])))
    if n % _DOT_ROWS:
        j = Var("j")
        stmts.append(Loop("j", n % _DOT_ROWS, group([iadd(j, const_i(full * _DOT_ROWS))])))
    return stmts


def _matmul_loops(lw, node, out, epilogue=None):
    """out[..., i, j] = sum_k a[..., i, k] * b[..., k, j]; the j loop is innermost (contiguous)."""
    a, b = node.inputs
    dtype = node.dtype.short
    *batch, m, n = node.shape
    k = a.shape[-1]
    bvars = [Var(f"b{d}") for d in range(len(batch))]
    i, j, kk = Var("i"), Var("j"), Var("k")
    out_idx = linear_index(bvars + [i, j], node.shape)
    a_val = lw.value(a, broadcast_index(bvars, a.shape[:-2], tuple(batch)) + [i, kk])
    b_val = lw.value(b, broadcast_index(bvars, b.shape[:-2], tuple(batch)) + [kk, j])
    zero = _init_value("sum", dtype)
    init = [Loop("j", n, [Store(out, out_idx, zero)])]
    update = Store(out, out_idx, Call("add", (Load(out, out_idx, dtype), Call("mul", (a_val, b_val), dtype)), dtype))
    row = init + [Loop("k", k, [Loop("j", n, [update])])]
    if epilogue is not None:  # the row is final: its fused values, element by element
        row.append(Loop("j", n, epilogue(Load(out, out_idx, dtype), bvars + [i, j])))
    return _loops([(v.name, s) for v, s in zip(bvars, batch)] + [("i", m)], row)
