"""How a kernel-IR kernel maps onto GPU launches: its phases and their thread mapping, as data.

A kernel's top-level statements run one after another over whole buffers (a convolution zeroes
its output, then accumulates into it), and a GPU has no grid-wide barrier inside a launch, so
each top-level statement becomes its own launch (a *phase*); launches on one stream run in
order. Statements that share accumulators at top level (a reduction to a scalar) stay together.

Inside a phase, the loops of the outer perfect nest whose iterations touch disjoint memory are
mapped to threads (``grid``): every store in the nest must have the loop's index as an exact
term of its (row-major) address, and every load of a buffer the nest writes must read an
address the nest stores to. Such a loop carries no dependence, so it may be moved outward
past the serial loops it was nested in; each thread runs the serial rest. A per-thread body
that accumulates (``AccInit``s, one loop nest of ``AccUpdate``s, then statements reading the
results) over enough elements becomes a block reduction (``reduce``): one block per output
point, threads striding over the reduced elements, warp shuffles then shared memory.
A ``Gemm`` statement becomes a shared-memory tiled matmul (``gemm``).

Scatter-adds (every store of the nest is ``B[i] = B[i] + v`` on a float buffer, and the nest
reads the buffers it writes only there) may put every loop on threads when their stores become
atomic adds (``atomic``); that is chosen when the exact mapping leaves too few threads (a
gradient scattered through overlapping convolution taps or pooling windows, a bias gradient).
The order of the additions then varies from run to run, as with PyTorch's atomics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..kernel_ir import (
    AccInit,
    AccRef,
    AccSet,
    AccUpdate,
    Call,
    Const,
    Gemm,
    If,
    Load,
    Loop,
    Store,
    Var,
)

BLOCK = 256  # threads per block of grid and reduction launches
MAX_BLOCKS = 65535  # grid-stride loops cover the rest
REDUCE_MIN = 256  # reduced elements per output above which a block cooperates on one output
REDUCE_MIN_FEW = 32  # ... or above this when there are few outputs
ATOMIC_BELOW = 4096  # fewer exactly-parallel points than this: scatter-adds use atomics instead


@dataclass
class Phase:
    """One launch. ``kind``: "grid", "reduce" or "gemm".

    grid: ``parallel`` (var, extent) pairs are mapped to threads, ``body`` runs per point.
    reduce: ``parallel`` pairs are mapped to blocks; ``inits`` (AccInit), ``reduce_loops``
    (var, extent) strided over by the block's threads, ``updates`` (AccUpdate) and ``tail``
    (run by thread 0 with the reduced accumulators).
    gemm: ``gemm`` is the statement.
    """

    kind: str
    parallel: list = field(default_factory=list)
    body: list = field(default_factory=list)
    inits: list = field(default_factory=list)
    reduce_loops: list = field(default_factory=list)
    updates: list = field(default_factory=list)
    tail: list = field(default_factory=list)
    gemm: Gemm | None = None
    atomic: set = field(default_factory=set)  # buffers whose accumulating stores are atomic adds

    @property
    def points(self) -> int:
        n = 1
        for _, e in self.parallel:
            n *= e
        return n

    @property
    def reduced(self) -> int:
        n = 1
        for _, e in self.reduce_loops:
            n *= e
        return n


def phases(body: list) -> list[Phase]:
    """The launches of one kernel's statements, in order."""
    if any(isinstance(s, (AccInit, AccUpdate, AccSet)) or _mentions_acc(s) for s in body):
        return [plan(body)]
    return [plan([s]) for s in body]


def plan(stmts: list) -> Phase:
    if len(stmts) == 1 and isinstance(stmts[0], Gemm):
        return Phase("gemm", gemm=stmts[0])
    chain: list[Loop] = []
    inner = stmts
    while len(inner) == 1 and isinstance(inner[0], Loop):
        chain.append(inner[0])
        inner = inner[0].body
    stores, loads = [], []
    for s in stmts:
        _collect(s, stores, loads)
    written = {st.buf for st in stores}
    store_index = {}
    for st in stores:
        store_index.setdefault(st.buf, set()).add(st.index)
    reads_ok = all(ld.index in store_index[ld.buf] for ld in loads if ld.buf in written)
    parallel = [lp for lp in chain if reads_ok and stores and all(_exact_term(st.index, lp.var) for st in stores)]
    atomic: set = set()
    if len(parallel) < len(chain) and _extent(parallel) < ATOMIC_BELOW and _accumulating(stores, loads, written):
        parallel, atomic = list(chain), set(written)
    body = inner
    for lp in reversed(chain):
        if lp not in parallel:
            body = [Loop(lp.var, lp.extent, body, lp.parallel)]
    pairs = [(lp.var, lp.extent) for lp in parallel]
    red = _reduction(body)
    if red is not None:
        inits, loops, updates, tail = red
        points = 1
        for _, e in pairs:
            points *= e
        n = 1
        for _, e in loops:
            n *= e
        if n >= REDUCE_MIN or (n >= REDUCE_MIN_FEW and points < 64 * BLOCK):
            return Phase("reduce", pairs, inits=inits, reduce_loops=loops, updates=updates, tail=tail)
    return Phase("grid", pairs, body=body, atomic=atomic)


def _extent(loops) -> int:
    n = 1
    for lp in loops:
        n *= lp.extent
    return n


def _accumulating(stores, loads, written) -> bool:
    """Every store is ``B[i] = add(B[i], v)`` on a float buffer, and the only loads of written
    buffers are those ``B[i]`` (so atomic adds compute the same sums in any order)."""
    own = []
    for st in stores:
        v = st.value
        if not (isinstance(v, Call) and v.op == "add" and v.dtype in ("f32", "f64") and len(v.args) == 2):
            return False
        first = v.args[0]
        if not (isinstance(first, Load) and first.buf == st.buf and first.index == st.index):
            return False
        own.append(first)
    of_written = [ld for ld in loads if ld.buf in written]
    return len(of_written) == len(own) and all(any(ld is o for o in own) for ld in of_written)


def _reduction(body: list):
    """(inits, loops, updates, tail) when ``body`` is AccInits, one perfect loop nest of AccUpdates
    (add, max or min) on them, then statements that only read them; else None."""
    k = 0
    while k < len(body) and isinstance(body[k], AccInit):
        k += 1
    if k == 0 or k >= len(body) or not isinstance(body[k], Loop):
        return None
    inits = body[:k]
    if any(i.dtype not in ("f32", "f64", "i32", "i64") for i in inits):
        return None
    loops = []
    inner = [body[k]]
    while len(inner) == 1 and isinstance(inner[0], Loop):
        loops.append((inner[0].var, inner[0].extent))
        inner = inner[0].body
    names = {i.name for i in inits}
    if not inner or not all(isinstance(u, AccUpdate) and u.name in names and u.op in ("add", "max", "min") for u in inner):
        return None
    if any(_mentions_acc(u.value) for u in inner):
        return None
    tail = body[k + 1:]
    for s in tail:
        if _writes_acc(s, names):
            return None
    return inits, loops, list(inner), tail


# ---------------------------------------------------------------------- analysis helpers
def _collect(s, stores: list, loads: list) -> None:
    if isinstance(s, Loop):
        for x in s.body:
            _collect(x, stores, loads)
    elif isinstance(s, If):
        _loads(s.cond, loads)
        for x in s.body:
            _collect(x, stores, loads)
    elif isinstance(s, Store):
        stores.append(s)
        _loads(s.index, loads)
        _loads(s.value, loads)
    elif isinstance(s, (AccInit, AccUpdate, AccSet)):
        _loads(s.value, loads)
    elif isinstance(s, Gemm):
        stores.append(Store(s.out, Var("?gemm"), Const(0, s.dtype)))  # never thread-mapped


def _loads(e, out: list) -> None:
    if isinstance(e, Load):
        out.append(e)
        _loads(e.index, out)
    elif isinstance(e, Call):
        for a in e.args:
            _loads(a, out)


def _mentions_acc(x) -> bool:
    if isinstance(x, AccRef):
        return True
    if isinstance(x, Call):
        return any(_mentions_acc(a) for a in x.args)
    if isinstance(x, Load):
        return _mentions_acc(x.index)
    if isinstance(x, Store):
        return _mentions_acc(x.index) or _mentions_acc(x.value)
    if isinstance(x, If):
        return _mentions_acc(x.cond) or any(_mentions_acc(s) for s in x.body)
    return False


def _writes_acc(s, names) -> bool:
    if isinstance(s, (AccInit, AccUpdate, AccSet)):
        return s.name in names
    if isinstance(s, (Loop, If)):
        return any(_writes_acc(x, names) for x in s.body)
    return False


def _uses(e, var: str) -> bool:
    if isinstance(e, Var):
        return e.name == var
    if isinstance(e, Call):
        return any(_uses(a, var) for a in e.args)
    if isinstance(e, Load):
        return _uses(e.index, var)
    return False


def _terms(e) -> list:
    if isinstance(e, Call) and e.op == "add" and e.dtype == "i64":
        return [t for a in e.args for t in _terms(a)]
    return [e]


def _exact_term(index, var: str) -> bool:
    """Whether ``var`` enters the address as exactly one term ``var`` or ``const * var`` (a whole
    coordinate of a row-major index): distinct values of ``var`` then write distinct elements."""
    hits = [t for t in _terms(index) if _uses(t, var)]
    if len(hits) != 1:
        return False
    t = hits[0]
    if isinstance(t, Var):
        return True
    if isinstance(t, Call) and t.op == "mul" and len(t.args) == 2:
        a, b = t.args
        if isinstance(a, Const):
            a, b = b, a
        return isinstance(a, Var) and a.name == var and isinstance(b, Const) and b.value > 0
    return False
