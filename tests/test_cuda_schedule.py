"""The GPU schedule is legal: running every kernel's launches the way a GPU may (parallel points
in a random order, block reductions as 256 strided partial results combined afterwards, GEMMs
as whole products followed by their epilogues in a random order) gives the reference results.

This interprets kernel IR in Python against the phase plan of ``graphc.runtime.cuda.schedule``,
so it checks the thread mapping and the reduction split on this machine, with no GPU. What it
does not check is the PTX itself; ptxas (test_cuda_ptx.py) and a GPU (test_cuda_gpu.py) do.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from ir_examples import example_graphs
from test_cuda_ptx import _unary_f64_graph

from graphc.ir import Graph, TensorType, float32, float64, int64
from graphc.ir.dtypes import from_name
from graphc.passes import run_pipeline
from graphc.runtime.backends import get_backend
from graphc.runtime.cuda.lowering import lower
from graphc.runtime.cuda.schedule import BLOCK, phases
from graphc.runtime.kernel_ir import (
    AccInit,
    AccRef,
    AccSet,
    AccUpdate,
    Call,
    Const,
    If,
    Load,
    Loop,
    Store,
    Var,
)

_FLOAT = {"f32": np.float32, "f64": np.float64}
_MATH = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "sin": np.sin, "cos": np.cos, "tanh": np.tanh,
         "abs": np.abs, "floor": np.floor, "neg": np.negative, "erf": lambda x: math.erf(x)}


class Emulator:
    """Runs kernels launch by launch over flat numpy buffers, in a GPU's freedom of order."""

    def __init__(self, buffers: dict, rng):
        self.bufs = buffers
        self.rng = rng
        self.error = 0

    def run(self, kernel) -> None:
        for phase in phases(kernel.body):
            getattr(self, f"_{phase.kind}")(phase)

    # ------------------------------------------------------------------ launches
    def _points(self, pairs):
        total = int(np.prod([e for _, e in pairs])) if pairs else 1
        for flat in self.rng.permutation(total):
            env, rest = {}, int(flat)
            for var, extent in reversed(pairs):
                env[var], rest = rest % extent, rest // extent
            yield env

    def _grid(self, phase):
        for env in self._points(phase.parallel):
            self.stmts(phase.body, env, {})

    def _reduce(self, phase):
        n = phase.reduced
        for env in self._points(phase.parallel):
            accs = {}
            starts = {i.name: self.expr(i.value, env, accs) for i in phase.inits}
            ops = {u.name: u.op for u in phase.updates}
            partials = []
            for t in range(min(BLOCK, n)):  # each thread strides over the reduced elements
                mine = {i.name: _identity(i.dtype, ops[i.name]) for i in phase.inits}
                for r in range(t, n, BLOCK):
                    rest = r
                    for var, extent in reversed(phase.reduce_loops):
                        env[var], rest = rest % extent, rest // extent
                    for u in phase.updates:
                        mine[u.name] = _combine(mine[u.name], self.expr(u.value, env, mine), u.op)
                partials.append(mine)
            self.rng.shuffle(partials)
            for i in phase.inits:
                total = _identity(i.dtype, ops[i.name])
                for p in partials:
                    total = _combine(total, p[i.name], ops[i.name])
                accs[i.name] = _combine(_cast(starts[i.name], i.dtype), total, ops[i.name])
            self.stmts(phase.tail, env, accs)

    def typed(self, name, dtype):
        """Buffer ``name`` as elements of ``dtype`` (scratch buffers hold several element types)."""
        buf = self.bufs[name]
        want = from_name(dtype).np if isinstance(dtype, str) else None
        return buf.view(want) if want is not None and buf.dtype != want and buf.nbytes % np.dtype(want).itemsize == 0 else buf

    def _gemm(self, phase):
        g = phase.gemm
        batch = tuple(g.batch)
        size = int(np.prod(batch + (g.m, g.n)))
        out = self.typed(g.out, g.dtype)[:size].reshape(batch + (g.m, g.n))

        def view(op, rows, cols):
            flat = self.typed(op.buf, g.dtype)
            item = flat.itemsize
            strides = tuple(s * item for s in op.batch_strides) + (op.row_stride * item, op.col_stride * item)
            return np.lib.stride_tricks.as_strided(flat[op.offset:], batch + (rows, cols), strides)

        product = np.matmul(view(g.a, g.m, g.k).astype(np.float64), view(g.b, g.k, g.n).astype(np.float64))
        out[...] = product.astype(out.dtype)
        flat_out = out.reshape(-1, g.n)
        for flat in self.rng.permutation(flat_out.size):
            row, col = divmod(int(flat), g.n)
            env = {"gemm_row": row, "gemm_col": col}
            self.stmts(getattr(g, "epilogue", []), env, {getattr(g, "epilogue_acc", "gemm_acc"): flat_out[row, col]})

    # ------------------------------------------------------------------ statements
    def stmts(self, stmts, env, accs):
        for s in stmts:
            if isinstance(s, Loop):
                for i in range(s.extent):
                    env[s.var] = i
                    self.stmts(s.body, env, accs)
            elif isinstance(s, Store):
                buf = self.typed(s.buf, getattr(s.value, "dtype", None))
                buf[int(self.expr(s.index, env, accs))] = self.expr(s.value, env, accs)
            elif isinstance(s, AccInit):
                accs[s.name] = _cast(self.expr(s.value, env, accs), s.dtype)
            elif isinstance(s, AccUpdate):
                accs[s.name] = _combine(accs[s.name], self.expr(s.value, env, accs), s.op)
            elif isinstance(s, AccSet):
                accs[s.name] = self.expr(s.value, env, accs)
            elif isinstance(s, If):
                if self.expr(s.cond, env, accs):
                    self.stmts(s.body, env, accs)
            else:
                raise TypeError(s)

    def expr(self, e, env, accs):
        if isinstance(e, Var):
            return env[e.name]
        if isinstance(e, Const):
            return _cast(e.value, e.dtype)
        if isinstance(e, AccRef):
            return accs[e.name]
        if isinstance(e, Load):
            return self.typed(e.buf, e.dtype)[int(self.expr(e.index, env, accs))]
        if isinstance(e, Call):
            return self.call(e, env, accs)
        raise TypeError(e)

    def call(self, e, env, accs):
        args = [self.expr(a, env, accs) for a in e.args]
        op, dt = e.op, e.dtype
        if op == "select":
            return args[1] if args[0] else args[2]
        if op == "cast":
            return _cast(args[0], dt)
        if op == "checked_index":
            i, size, code = args
            if 0 <= i < size:
                return i
            self.error = self.error or code
            if "err" in self.bufs:  # as the generated code does: the step reads it back
                self.bufs["err"][0] = code
            return 0
        src = e.args[0].dtype
        with np.errstate(all="ignore"):
            if src in _FLOAT:
                return _float_op(op, args, _FLOAT[src])
            return _int_op(op, args)


def _float_op(op, a, ty):
    x = a[0]
    table = {"add": lambda: x + a[1], "sub": lambda: x - a[1], "mul": lambda: x * a[1], "div": lambda: x / a[1],
             "pow": lambda: np.power(x, a[1]), "maximum": lambda: np.maximum(x, a[1]),
             "minimum": lambda: np.minimum(x, a[1]), "rsqrt": lambda: ty(1) / np.sqrt(x),
             "reciprocal": lambda: ty(1) / x, "sigmoid": lambda: ty(1) / (ty(1) + np.exp(-x)),
             "relu": lambda: ty(0) if x < 0 else x, "sign": lambda: np.sign(x),
             "eq": lambda: bool(x == a[1]), "ne": lambda: bool(x != a[1]), "lt": lambda: bool(x < a[1]),
             "le": lambda: bool(x <= a[1]), "gt": lambda: bool(x > a[1]), "ge": lambda: bool(x >= a[1])}
    if op in table:
        return ty(table[op]()) if op not in ("eq", "ne", "lt", "le", "gt", "ge") else table[op]()
    return ty(_MATH[op](x))


def _int_op(op, a):
    x = int(a[0]) if not isinstance(a[0], (bool, np.bool_)) else bool(a[0])
    y = a[1] if len(a) > 1 else None
    if isinstance(x, bool):
        return {"logical_and": lambda: x and bool(y), "mul": lambda: x and bool(y), "logical_or": lambda: x or bool(y),
                "add": lambda: x or bool(y), "logical_not": lambda: not x, "eq": lambda: x == bool(y),
                "ne": lambda: x != bool(y)}[op]()
    y = int(y) if y is not None else None
    trunc = (lambda: abs(x) // abs(y) * (1 if (x >= 0) == (y >= 0) else -1))
    table = {"add": lambda: x + y, "sub": lambda: x - y, "mul": lambda: x * y, "div": trunc, "floordiv": trunc,
             "mod": lambda: x - y * trunc(), "neg": lambda: -x, "abs": lambda: abs(x), "maximum": lambda: max(x, y),
             "max": lambda: max(x, y), "minimum": lambda: min(x, y), "min": lambda: min(x, y),
             "relu": lambda: max(x, 0), "sign": lambda: (x > 0) - (x < 0), "xor": lambda: x ^ y, "and": lambda: x & y,
             "shr": lambda: (x % 2**64) >> y, "shl": lambda: x << y,
             "eq": lambda: x == y, "ne": lambda: x != y, "lt": lambda: x < y, "le": lambda: x <= y,
             "gt": lambda: x > y, "ge": lambda: x >= y}
    return table[op]()


def _cast(v, dtype):
    if dtype == "bool":
        return bool(v != 0) if not isinstance(v, float) or not math.isnan(v) else True
    if dtype in _FLOAT:
        return _FLOAT[dtype](v)
    return int(v)


def _identity(dtype, op):
    if dtype in _FLOAT:
        return _FLOAT[dtype]({"add": 0.0, "max": -np.inf, "min": np.inf}[op])
    return {"add": 0, "max": -(2**63), "min": 2**63 - 1}[op]


def _combine(a, b, op):
    if op == "add":
        return a + b
    if isinstance(a, np.floating):
        if np.isnan(a) or np.isnan(b):
            return type(a)(np.nan)
        return max(a, b) if op == "max" else min(a, b)
    return max(a, b) if op == "max" else min(a, b)


def emulate(graph: Graph, feeds: list, seed: int = 0):
    program = lower(graph)
    bufs = {}
    for b in program.buffers:
        dtype = from_name(b.dtype).np
        if b.kind == "placeholder":
            bufs[b.name] = feeds[b.index].reshape(-1)  # a view: assigns update the feed in place
        else:
            bufs[b.name] = np.zeros(max(int(np.prod(b.shape)), 1), dtype)
    machine = Emulator(bufs, np.random.default_rng(seed))
    for k in program.kernels:
        machine.run(k)
    outs = [None] * len(graph.outputs)
    for b in program.buffers:
        if b.kind == "output":
            outs[b.index] = bufs[b.name][: int(np.prod(b.shape))].reshape(b.shape).copy()
    return outs


def _feeds(graph, rng):
    feeds = []
    for p in graph.placeholders:
        if p in graph.const_values:
            feeds.append(np.array(graph.const_values[p], copy=True))
        elif p.dtype.is_floating_point:
            feeds.append(rng.uniform(0.1, 2.0, p.shape).astype(p.dtype.np))
        elif p.dtype.name == "bool":
            feeds.append(rng.integers(0, 2, p.shape).astype(bool))
        else:
            feeds.append(rng.integers(0, 2, p.shape).astype(p.dtype.np))
    return feeds


def _small_reduction_graph() -> Graph:
    g = Graph("reduce_small")
    x = g.placeholder("x", TensorType(float32, (3, 520)), "input")
    n = g.placeholder("n", TensorType(int64, (2, 300)), "input")
    d = g.placeholder("d", TensorType(float64, (2, 300)), "input")
    g.set_outputs([g.add("sum", x, dims=(1,), keepdim=False), g.add("max", x, dims=(0, 1), keepdim=False),
                   g.add("sum", n, dims=(1,), keepdim=False), g.add("max", n, dims=(0, 1), keepdim=False),
                   g.add("sum", d, dims=(0, 1), keepdim=True)])
    return g


def _graphs():
    return [g for g in example_graphs() if g.nodes] + [_unary_f64_graph(), _small_reduction_graph()]


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("index", range(len(_graphs())))
def test_launches_in_any_order_give_the_reference_results(index, fused):
    rng = np.random.default_rng(index)
    feeds = _feeds(_graphs()[index], rng)
    ref_feeds = [np.array(f, copy=True) for f in feeds]
    ref = get_backend("reference").compile(_graphs()[index]).run(ref_feeds)
    graph = run_pipeline(_graphs()[index], ["decompose", "fuse"] if fused else ["decompose"])
    out = emulate(graph, feeds, seed=index)
    for a, b in zip(out, ref):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True)
    for a, b in zip(feeds, ref_feeds):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True)


def test_the_emulator_catches_an_illegal_schedule(monkeypatch):
    """Forcing the reduced loop of a column sum onto threads (a race on the GPU) shows up as
    lost updates here, so the tests above can fail."""
    from graphc.runtime.cuda import schedule

    g = Graph("c")
    x = g.placeholder("x", TensorType(float32, (6, 4)), "input")
    g.set_outputs([g.add("sum", x, dims=(0,), keepdim=False)])
    feeds = [np.arange(24, dtype=np.float32).reshape(6, 4)]
    assert np.allclose(emulate(g, [feeds[0].copy()])[0], feeds[0].sum(0))
    monkeypatch.setattr(schedule, "_exact_term", lambda index, var: True)

    class Racy(Emulator):
        def _grid(self, phase):  # every point reads before any point writes
            snapshot = {k: v.copy() for k, v in self.bufs.items()}
            writes = []
            for env in self._points(phase.parallel):
                view = Emulator({k: v.copy() for k, v in snapshot.items()}, self.rng)
                view.stmts(phase.body, env, {})
                writes.append(view.bufs)
            for w in writes:
                for k, v in w.items():
                    changed = v != snapshot[k]
                    self.bufs[k][changed] = v[changed]

    import test_cuda_schedule as me

    monkeypatch.setattr(me, "Emulator", Racy)
    assert not np.allclose(emulate(g, [feeds[0].copy()])[0], feeds[0].sum(0))
