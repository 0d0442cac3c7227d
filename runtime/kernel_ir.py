"""Kernel IR: the small loop-level language both code generators consume.

A :class:`Kernel` is a list of statements: :class:`Loop` (a counted loop, optionally marked
parallel), :class:`Store` (write an expression to a buffer at an index), :class:`If`, and
accumulators (named scalar registers: :class:`AccInit`, :class:`AccUpdate`, :class:`AccSet`,
read back with :class:`AccRef`) for reductions and multi-step scalar code.
Expressions are immutable trees: :class:`Var` (a loop index, i64), :class:`Const`,
:class:`Load` (a buffer element; the index is itself an expression, affine for movement ops,
data-dependent for gathers) and :class:`Call` (one scalar operation with a result dtype).

Dtypes are the IR's short names: ``f32``, ``f64``, ``i64``, ``i32``, ``bool``. Index arithmetic
is ``i64``. ``format_kernel`` prints a kernel as readable pseudo-code for reports and tests::

    kernel k3_add(buf2, x, w):
      for i0 in 0..64 parallel:
        for i1 in 0..256:
          buf2[i0*256 + i1] = add(x[i0*256 + i1], w[i1])
"""

from __future__ import annotations

from dataclasses import dataclass, field


class Expr:
    __slots__ = ()


@dataclass(frozen=True)
class Var(Expr):
    name: str
    dtype: str = "i64"


@dataclass(frozen=True)
class Const(Expr):
    value: object
    dtype: str


@dataclass(frozen=True)
class Load(Expr):
    buf: str
    index: Expr
    dtype: str


@dataclass(frozen=True)
class Call(Expr):
    """A scalar operation: arithmetic, math, comparison, ``select``, ``cast``, integer index math."""

    op: str
    args: tuple
    dtype: str


@dataclass(frozen=True)
class AccRef(Expr):
    name: str
    dtype: str


@dataclass
class Loop:
    var: str
    extent: int
    body: list
    parallel: bool = False
    vectorize: bool = True  # False: a hint to keep it scalar (short windows LLVM would gather)
    unroll: bool = False  # True: a hint to unroll it fully (a short loop whose copies SLP packs)


@dataclass
class Store:
    buf: str
    index: Expr
    value: Expr


@dataclass
class AccInit:
    name: str
    dtype: str
    value: Expr


@dataclass
class AccUpdate:
    name: str
    op: str  # "add", "max" or "min"
    value: Expr


@dataclass
class AccSet:
    """Overwrite an accumulator (a named scalar register) with a value."""

    name: str
    value: Expr


@dataclass
class If:
    """Run ``body`` only where ``cond`` holds (scatters that skip out-of-range positions)."""

    cond: Expr
    body: list


@dataclass(frozen=True)
class GemmOperand:
    """A strided matrix view of a buffer: element ``[batch..., r, c]`` is at
    ``offset + sum(batch * batch_strides) + r * row_stride + c * col_stride`` (stride 0 broadcasts)."""

    buf: str
    offset: int
    batch_strides: tuple
    row_stride: int
    col_stride: int


@dataclass
class Gemm:
    """A template statement: ``out[batch..., i, j] = sum_k a[batch..., i, k] * b[batch..., k, j]``.

    ``out`` is row-major over ``batch + (m, n)``. Backends emit it with a dedicated generator
    (``runtime/llvm/gemm.py``: packed, cache-blocked, register-tiled); ``scratch`` names a buffer
    of at least ``scratch_bytes`` for the packed panels. ``fallback`` is the same computation as
    plain loops, for backends without a template.

    ``epilogue`` (optional) runs once per output element when it is final: statements in which
    ``AccRef(epilogue_acc)`` is the element's value and ``Var("gemm_row")`` (the row over
    ``batch + (m,)``, flattened) and ``Var("gemm_col")`` its position. They store the fused
    values (bias, activation, optimizer updates) to their own buffers; ``out`` still holds the
    product (or is overwritten by the epilogue in place).
    """

    out: str
    a: GemmOperand
    b: GemmOperand
    dtype: str
    m: int
    n: int
    k: int
    batch: tuple = ()
    scratch: str | None = None
    scratch_bytes: int = 0
    fallback: list = field(default_factory=list)
    epilogue: list = field(default_factory=list)
    epilogue_acc: str = "gemm_acc"


@dataclass
class Kernel:
    """One kernel: a name, the buffers it touches (in argument order) and its statements."""

    name: str
    buffers: list[str]
    body: list
    flops: int = 0  # floating-point operations per call, for profiling reports
    meta: dict = field(default_factory=dict)


# ---------------------------------------------------------------------- index helpers
def const_i(value: int) -> Const:
    return Const(int(value), "i64")


def iadd(a: Expr, b: Expr) -> Expr:
    if isinstance(a, Const) and a.value == 0:
        return b
    if isinstance(b, Const) and b.value == 0:
        return a
    if isinstance(a, Const) and isinstance(b, Const):
        return const_i(a.value + b.value)
    return Call("add", (a, b), "i64")


def imul(a: Expr, b: Expr) -> Expr:
    if isinstance(b, Const):
        a, b = b, a
    if isinstance(a, Const):
        if a.value == 0:
            return const_i(0)
        if a.value == 1:
            return b
        if isinstance(b, Const):
            return const_i(a.value * b.value)
    return Call("mul", (a, b), "i64")


def idiv(a: Expr, n: int) -> Expr:
    return a if n == 1 else Call("floordiv", (a, const_i(n)), "i64")


def imod(a: Expr, n: int) -> Expr:
    return const_i(0) if n == 1 else Call("mod", (a, const_i(n)), "i64")


def linear_index(idx: list[Expr], shape: tuple[int, ...]) -> Expr:
    """Row-major flat index of a multi-index."""
    out: Expr = const_i(0)
    stride = 1
    for i, size in reversed(list(zip(idx, shape))):
        if size != 1:
            out = iadd(imul(const_i(stride), i), out)
        stride *= size
    return out


def split_index(flat: Expr, shape: tuple[int, ...]) -> list[Expr]:
    """The multi-index of a row-major flat index."""
    out = []
    stride = 1
    strides = []
    for size in reversed(shape):
        strides.append(stride)
        stride *= size
    strides.reverse()
    for size, st in zip(shape, strides):
        out.append(const_i(0) if size == 1 else imod(idiv(flat, st), size))
    return out


# ---------------------------------------------------------------------- printing
def format_expr(e: Expr) -> str:
    if isinstance(e, Var):
        return e.name
    if isinstance(e, Const):
        return repr(e.value)
    if isinstance(e, Load):
        return f"{e.buf}[{format_expr(e.index)}]"
    if isinstance(e, AccRef):
        return e.name
    if isinstance(e, Call):
        if e.op in ("add", "mul") and e.dtype == "i64":
            sym = "+" if e.op == "add" else "*"
            return "(" + f" {sym} ".join(format_expr(a) for a in e.args) + ")"
        return f"{e.op}(" + ", ".join(format_expr(a) for a in e.args) + ")"
    raise TypeError(e)


def format_kernel(k: Kernel) -> str:
    lines = [f"kernel {k.name}({', '.join(k.buffers)}):"]

    def walk(stmts, depth):
        pad = "  " * depth
        for s in stmts:
            if isinstance(s, Loop):
                marks = (" parallel" if s.parallel else "") + ("" if s.vectorize else " scalar") + (
                    " unroll" if s.unroll else "")
                lines.append(f"{pad}for {s.var} in 0..{s.extent}{marks}:")
                walk(s.body, depth + 1)
            elif isinstance(s, Store):
                lines.append(f"{pad}{s.buf}[{format_expr(s.index)}] = {format_expr(s.value)}")
            elif isinstance(s, AccInit):
                lines.append(f"{pad}{s.name}: {s.dtype} = {format_expr(s.value)}")
            elif isinstance(s, AccUpdate):
                lines.append(f"{pad}{s.name} = {s.op}({s.name}, {format_expr(s.value)})")
            elif isinstance(s, AccSet):
                lines.append(f"{pad}{s.name} = {format_expr(s.value)}")
            elif isinstance(s, If):
                lines.append(f"{pad}if {format_expr(s.cond)}:")
                walk(s.body, depth + 1)
            elif isinstance(s, Gemm):
                def view(o):
                    return f"{o.buf}[{o.offset} + b*{o.batch_strides} + r*{o.row_stride} + c*{o.col_stride}]"
                lines.append(f"{pad}gemm {s.out}[{s.batch}+({s.m}, {s.n})] = {view(s.a)} @ {view(s.b)}, "
                             f"k={s.k} {s.dtype}" + (f" scratch={s.scratch}" if s.scratch else ""))
                if s.epilogue:
                    lines.append(f"{pad}  epilogue per element ({s.epilogue_acc} = the product):")
                    walk(s.epilogue, depth + 2)
            else:
                raise TypeError(s)

    walk(k.body, 1)
    return "\n".join(lines)
