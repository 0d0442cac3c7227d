"""The native thread pool: compiled code gives the same numbers on 1 and 2 threads, big kernels
run as parallel regions and small ones do not, and the pool survives fork, many executables and
concurrent callers."""

from __future__ import annotations

import gc
import multiprocessing
import threading

import numpy as np
import pytest

import graphc
import graphc.threads as gthreads
from graphc import nn
from graphc.ir.errors import GraphcTypeError, GraphcValueError
from graphc.runtime.llvm.threads import default_num_threads

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _restore_threads():
    before = gthreads.get_num_threads()
    yield
    gthreads.set_num_threads(before)


def _ir(fn) -> str:
    return fn._last.executable.jit.llvm_ir


def _on(threads: int, fn, *args):
    gthreads.set_num_threads(threads)
    out = fn(*args)
    outs = out if isinstance(out, tuple) else (out,)
    return [o.numpy().copy() for o in outs]


def _same_on_1_and_2(fn, *args, exact=True):
    fn(*args)  # a step whose first call creates the .grad it reads runs that call interpreted
    one = _on(1, fn, *args)
    two = _on(2, fn, *args)
    again = _on(2, fn, *args)
    for a, b, c in zip(one, two, again):
        if exact:
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(b, c)
    return one


def _t(shape, dtype=np.float32):
    return graphc.tensor(RNG.normal(size=shape).astype(dtype))


def test_api_and_default():
    gthreads.set_num_threads(3)
    assert gthreads.get_num_threads() == 3
    gthreads.set_num_threads(1)
    assert gthreads.get_num_threads() == 1
    with pytest.raises(GraphcValueError):
        gthreads.set_num_threads(0)
    with pytest.raises(GraphcTypeError):
        gthreads.set_num_threads(2.0)
    assert default_num_threads() >= 1


def test_default_follows_environment(monkeypatch):
    monkeypatch.setenv("GRAPHC_NUM_THREADS", "5")
    assert default_num_threads() == 5
    monkeypatch.delenv("GRAPHC_NUM_THREADS")
    assert default_num_threads() >= 1
    monkeypatch.setenv("GRAPHC_NUM_THREADS", "four")  # refused with its name, not silently ignored
    with pytest.raises(graphc.GraphcError, match="GRAPHC_NUM_THREADS='four' is not a positive whole number"):
        default_num_threads()


def test_top_level_api_and_environment_at_startup():
    import os
    import subprocess
    import sys

    assert graphc.set_num_threads is gthreads.set_num_threads
    assert graphc.get_num_threads is gthreads.get_num_threads
    env = dict(os.environ, GRAPHC_NUM_THREADS="3")
    out = subprocess.run([sys.executable, "-c", "import graphc; print(graphc.get_num_threads())"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "3"


def test_pointwise_is_parallel_and_identical():
    fn = graphc.compile(lambda x, w: (x * w).tanh() + x.exp() * 0.5)
    x, w = _t((512, 300)), _t((300,))
    out = _same_on_1_and_2(fn, x, w)[0]
    assert "graphc_parallel_for" in _ir(fn)
    xn, wn = x.numpy(), w.numpy()
    np.testing.assert_allclose(out, np.tanh(xn * wn) + np.exp(xn) * 0.5, rtol=1e-5, atol=1e-5)


def test_small_kernels_stay_serial():
    fn = graphc.compile(lambda x: x * 2 + 1)
    _same_on_1_and_2(fn, _t((3, 7)))
    assert "graphc_parallel_for" not in _ir(fn)


@pytest.mark.parametrize("dim", [-1, 0])
def test_reductions_identical(dim):
    fn = graphc.compile(lambda x: (x.sum(dim), x.amax(-1)))
    x = _t((400, 700))
    s, m = _same_on_1_and_2(fn, x)
    np.testing.assert_allclose(s, x.numpy().astype(np.float64).sum(dim), rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(m, x.numpy().max(-1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(300, 500, 200), (37, 64, 130), (4, 96, 40, 70)])
def test_matmul_identical(shape, dtype):
    *batch, m, k, n = shape
    a, b = _t((*batch, m, k), dtype), _t((k, n), dtype)
    fn = graphc.compile(lambda a, b: a @ b)
    out = _same_on_1_and_2(fn, a, b)[0]
    np.testing.assert_allclose(out, a.numpy() @ b.numpy(), rtol=1e-4, atol=1e-3)


def test_transposed_matmul_identical():
    a, b = _t((256, 400)), _t((120, 400))
    fn = graphc.compile(lambda a, b: a @ b.t())
    out = _same_on_1_and_2(fn, a, b)[0]
    assert "graphc_parallel_for" in _ir(fn)
    np.testing.assert_allclose(out, a.numpy() @ b.numpy().T, rtol=1e-4, atol=1e-3)


def test_conv_and_pool_forward_backward_identical():
    conv = nn.Conv2d(3, 8, 3, padding=1)

    def step(x):
        conv.zero_grad()
        y = nn.functional.max_pool2d(nn.functional.relu(conv(x)), 2)
        z = nn.functional.avg_pool2d(y, 2)
        loss = (z * z).sum()
        loss.backward()
        return loss, conv.weight.grad, conv.bias.grad

    fn = graphc.compile(step)
    x = _t((16, 3, 32, 32))
    _same_on_1_and_2(fn, x)
    assert "graphc_parallel_for" in _ir(fn)


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = nn.functional.max_pool2d(nn.functional.relu(self.conv1(x)), 2)
        x = nn.functional.max_pool2d(nn.functional.relu(self.conv2(x)), 2)
        x = x.flatten(1)
        return self.fc3(nn.functional.relu(self.fc2(nn.functional.relu(self.fc1(x)))))


def _lenet_run(threads: int, steps: int = 2):
    graphc.manual_seed(0)
    model = LeNet()
    opt = graphc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    fn = graphc.compile(step)
    rng = np.random.default_rng(1)
    gthreads.set_num_threads(threads)
    losses = []
    for _ in range(steps):
        x = graphc.tensor(rng.normal(size=(64, 1, 28, 28)).astype(np.float32))
        y = graphc.tensor(rng.integers(0, 10, size=64))
        losses.append(fn(x, y).item())
    return losses, {k: v.numpy().copy() for k, v in model.state_dict().items()}


def test_lenet_train_step_identical():
    la, sa = _lenet_run(1)
    lb, sb = _lenet_run(2)
    assert la == lb
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)


def _child_run(_):
    fn = graphc.compile(lambda x: (x * 3).exp().sum(-1))
    x = graphc.tensor(np.linspace(-1, 1, 256 * 512, dtype=np.float32).reshape(256, 512))
    return fn(x).numpy(), gthreads.get_num_threads()


def test_fork_child_restarts_the_pool():
    gthreads.set_num_threads(2)
    expected, _ = _child_run(0)  # the parent's pool is running now
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        results = pool.map(_child_run, range(4))
    for out, threads in results:
        assert threads == 2
        np.testing.assert_array_equal(out, expected)
    again, _ = _child_run(0)  # and the parent's pool still works
    np.testing.assert_array_equal(again, expected)


def test_many_executables_and_concurrent_callers():
    gthreads.set_num_threads(2)
    x = _t((256, 384))
    fns = [graphc.compile(lambda x, c=c: (x * c).tanh().sum(-1) + c) for c in range(6)]
    expected = [f(x).numpy().copy() for f in fns]
    for _ in range(3):
        for f, e in zip(fns, expected):
            np.testing.assert_array_equal(f(x).numpy(), e)
    del fns[::2], expected[::2]  # freed executables leave the pool (and the others) working
    gc.collect()
    errors = []

    def worker(f, e):
        try:
            for _ in range(20):
                np.testing.assert_array_equal(f(x).numpy(), e)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    ts = [threading.Thread(target=worker, args=(f, e)) for f, e in zip(fns, expected)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors


def test_thread_count_changes_between_calls():
    fn = graphc.compile(lambda a, b: a @ b)
    a, b = _t((200, 300)), _t((300, 250))
    outs = [_on(n, fn, a, b)[0] for n in (2, 1, 3, 2, 4, 1)]
    for o in outs[1:]:
        np.testing.assert_array_equal(o, outs[0])


def _uses(e, names) -> bool:
    """Whether the kernel-IR expression reads a loop variable or accumulator in ``names``."""
    from graphc.runtime.kernel_ir import AccRef, Call, Load, Var

    if isinstance(e, (Var, AccRef)):
        return e.name in names
    if isinstance(e, Load):
        return _uses(e.index, names)
    if isinstance(e, Call):
        return any(_uses(a, names) for a in e.args)
    return False


def _parallel_loops_write_disjoint(stmts) -> int:
    """Every store under a parallel loop indexes by that loop's variable (directly or through an
    accumulator computed from it), so two iterations never write the same element. Returns the
    number of parallel loops checked."""
    from graphc.runtime.kernel_ir import If, Loop

    count = 0
    for s in stmts:
        if isinstance(s, Loop) and s.parallel:
            _check_region(s.body, {s.var})
            count += 1
        if isinstance(s, (Loop, If)):
            count += _parallel_loops_write_disjoint(s.body)
    return count


def _check_region(stmts, names):
    from graphc.runtime.kernel_ir import AccInit, AccSet, Gemm, If, Loop, Store

    for s in stmts:
        assert not isinstance(s, Gemm), "a GEMM inside a parallel loop"
        if isinstance(s, (AccInit, AccSet)) and _uses(s.value, names):
            names.add(s.name)  # an accumulator computed from the parallel index (a scatter target)
        elif isinstance(s, Store):
            assert _uses(s.index, names), f"store to {s.buf} does not depend on the parallel loop"
        elif isinstance(s, Loop):
            _check_region(s.body, names)
        elif isinstance(s, If):
            _check_region(s.body, names)


def test_parallel_marks_only_on_loops_with_disjoint_writes():
    graphc.manual_seed(0)
    model = LeNet()
    opt = graphc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    pool = nn.Conv2d(3, 4, 3, stride=2, padding=1, groups=1)

    def step(x, y, z):
        opt.zero_grad()
        loss = nn.CrossEntropyLoss()(model(x), y)
        h = nn.functional.avg_pool2d(nn.functional.max_pool2d(pool(z), 3, 2, padding=1), 2)
        loss = loss + h.sum() + z.sum(0).amax()
        loss.backward()
        opt.step()
        return loss

    fn = graphc.compile(step)
    for _ in range(2):  # (the first step runs once, interpreted; the second is the compiled one)
        fn(_t((8, 1, 28, 28)), graphc.tensor(RNG.integers(0, 10, size=8)), _t((4, 3, 17, 17)))
    marked = sum(_parallel_loops_write_disjoint(k.body) for k in fn._last.executable.program.kernels)
    assert marked > 10  # convolutions, pooling and elementwise kernels are all marked
