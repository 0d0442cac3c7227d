"""graphc.compile gives eager mode's numbers: whole training steps, every optimizer option."""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pytest

import graphc
from graphc import nn
from graphc.ir.errors import GraphcValueError, TraceError


def _clone_model(make, seed=0):
    graphc.manual_seed(seed)
    a = make()
    b = make()
    b.load_state_dict(a.state_dict())
    return a, b


def _data(n_steps, shape, classes, seed=1):
    rng = np.random.default_rng(seed)
    xs = [graphc.tensor(rng.normal(size=shape).astype(np.float32)) for _ in range(n_steps)]
    ys = [graphc.tensor(rng.integers(0, classes, size=shape[0])) for _ in range(n_steps)]
    return xs, ys


def _train(model, opt, xs, ys, compiled, sched=None, backend="llvm", loss_fn=None):
    loss_fn = loss_fn or nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    fn = graphc.compile(step, backend=backend) if compiled else step
    losses = []
    for x, y in zip(xs, ys):
        losses.append(fn(x, y).item())
        if sched is not None:
            sched.step()
    return losses, fn


def _assert_same(model_a, model_b, la, lb, rtol=2e-5, atol=2e-6):
    np.testing.assert_allclose(la, lb, rtol=rtol, atol=atol)
    for (na, pa), (nb, pb) in zip(model_a.state_dict().items(), model_b.state_dict().items()):
        assert na == nb
        np.testing.assert_allclose(pa.numpy(), pb.numpy(), rtol=rtol, atol=atol, err_msg=na)


def _mlp():
    return nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 5))


SGD_OPTIONS = [
    dict(momentum=m, dampening=d, nesterov=n, weight_decay=w, maximize=x)
    for m, d, n, w, x in itertools.product([0.0, 0.9], [0.0, 0.3], [False, True], [0.0, 0.01], [False, True])
    if not (n and (m == 0 or d != 0))
]


@pytest.mark.parametrize("options", SGD_OPTIONS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_sgd_every_option_matches_eager(options):
    eager, comp = _clone_model(_mlp)
    xs, ys = _data(6, (8, 12), 5)
    la, _ = _train(eager, graphc.optim.SGD(eager.parameters(), lr=0.05, **options), xs, ys, compiled=False)
    lb, _ = _train(comp, graphc.optim.SGD(comp.parameters(), lr=0.05, **options), xs, ys, compiled=True)
    _assert_same(eager, comp, la, lb)


@pytest.mark.parametrize("make_opt", [
    lambda p: graphc.optim.Adam(p, lr=0.01),
    lambda p: graphc.optim.Adam(p, lr=0.01, amsgrad=True, weight_decay=0.01),
    lambda p: graphc.optim.AdamW(p, lr=0.01, weight_decay=0.1),
    lambda p: graphc.optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True),
    lambda p: graphc.optim.Adagrad(p, lr=0.05),
], ids=["adam", "adam-amsgrad-wd", "adamw", "rmsprop-centered", "adagrad"])
def test_other_optimizers_match_eager(make_opt):
    eager, comp = _clone_model(_mlp)
    xs, ys = _data(6, (8, 12), 5)
    la, _ = _train(eager, make_opt(eager.parameters()), xs, ys, compiled=False)
    lb, _ = _train(comp, make_opt(comp.parameters()), xs, ys, compiled=True)
    _assert_same(eager, comp, la, lb, rtol=1e-4, atol=1e-5)


def test_param_groups_and_scheduler_change_lr_without_recompiling(caplog):
    eager, comp = _clone_model(_mlp)
    xs, ys = _data(8, (8, 12), 5)

    def make(m):
        opt = graphc.optim.SGD([{"params": m[0].parameters(), "lr": 0.1}, {"params": m[2].parameters()}],
                               lr=0.01, momentum=0.9)
        return opt, graphc.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)

    opt_a, sched_a = make(eager)
    opt_b, sched_b = make(comp)
    la, _ = _train(eager, opt_a, xs, ys, compiled=False, sched=sched_a)
    with caplog.at_level(logging.INFO, logger="graphc"):
        lb, fn = _train(comp, opt_b, xs, ys, compiled=True, sched=sched_b)
    _assert_same(eager, comp, la, lb)
    assert fn.compile_count == 2  # the first step (creating momentum buffers), then the steady state
    assert sum("compiling" in r.message for r in caplog.records) == 2
    assert [g["lr"] for g in opt_b.param_groups] == [g["lr"] for g in opt_a.param_groups]


def test_frozen_parameters_are_not_updated_and_cost_no_gradient():
    eager, comp = _clone_model(_mlp)
    for m in (eager, comp):
        m[0].requires_grad_(False)
    xs, ys = _data(4, (8, 12), 5)
    frozen = comp[0].weight.detach().numpy().copy()
    la, fn = _train(eager, graphc.optim.SGD(eager.parameters(), lr=0.1), xs, ys, compiled=False)
    lb, fn = _train(comp, graphc.optim.SGD(comp.parameters(), lr=0.1), xs, ys, compiled=True)
    _assert_same(eager, comp, la, lb)
    np.testing.assert_array_equal(comp[0].weight.detach().numpy(), frozen)
    targets = {n.inputs[0].name for n in fn.graphs()[-1].nodes if n.op == "assign"}
    assert {"v2.weight", "v2.bias"} <= targets and not targets & {"v0.weight", "v0.bias"}


def test_state_dicts_see_compiled_updates_without_copies():
    model = _mlp()
    opt = graphc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    xs, ys = _data(3, (8, 12), 5)
    weight = model[0].weight
    before = weight.detach().numpy().copy()
    _train(model, opt, xs, ys, compiled=True)
    assert model.state_dict()["0.weight"].numpy() is not None
    assert not np.array_equal(model.state_dict()["0.weight"].numpy(), before)
    assert np.shares_memory(model.state_dict()["0.weight"].numpy(), weight.detach().numpy())
    state = opt.state_dict()["state"]
    assert set(state) == set(range(4)) and all("momentum_buffer" in s for s in state.values())


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


def test_lenet_train_step_matches_eager_and_reuses_memory():
    eager, comp = _clone_model(LeNet)
    xs, ys = _data(3, (4, 1, 28, 28), 10)
    la, _ = _train(eager, graphc.optim.SGD(eager.parameters(), lr=0.05, momentum=0.9), xs, ys, compiled=False)
    lb, fn = _train(comp, graphc.optim.SGD(comp.parameters(), lr=0.05, momentum=0.9), xs, ys, compiled=True)
    _assert_same(eager, comp, la, lb, rtol=1e-4, atol=1e-5)
    stats = fn.stats()
    assert stats["arena_bytes"] < stats["unplanned_bytes"]


class Mixed(nn.Module):
    """Conv, pooling, batch norm, dropout, layer norm and embedding in one model."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(7, 4)
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.pool = nn.AvgPool2d(2)
        self.ln = nn.LayerNorm(18 + 4)
        self.drop = nn.Dropout(0.25)
        self.fc = nn.Linear(22, 3)

    def forward(self, x, tokens):
        h = self.pool(self.bn(self.conv(x))).flatten(1)
        h = graphc.cat([h, self.emb(tokens).mean(1)], 1)
        return self.fc(self.drop(self.ln(h)))


@pytest.mark.parametrize("train", [True, False])
def test_mixed_model_train_and_eval_mode(train):
    eager, comp = _clone_model(Mixed)
    rng = np.random.default_rng(3)
    xs = [graphc.tensor(rng.normal(size=(6, 1, 4, 6)).astype(np.float32)) for _ in range(3)]
    ts = [graphc.tensor(rng.integers(0, 7, size=(6, 5))) for _ in range(3)]
    ys = [graphc.tensor(rng.integers(0, 3, size=6)) for _ in range(3)]
    results = []
    for model, compiled in ((eager, False), (comp, True)):
        model.train(train)
        # SGD, not Adam: the conv bias before batch norm has a gradient of pure rounding noise,
        # which Adam's normalisation would blow up into lr-sized differences
        opt = graphc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        loss_fn = nn.CrossEntropyLoss()
        graphc.manual_seed(123)

        def step(x, t, y, model=model, opt=opt, loss_fn=loss_fn):
            opt.zero_grad()
            loss = loss_fn(model(x, t), y)
            loss.backward()
            opt.step()
            return loss

        fn = graphc.compile(step) if compiled else step
        results.append([fn(x, t, y).item() for x, t, y in zip(xs, ts, ys)])
    _assert_same(eager, comp, results[0], results[1], rtol=1e-4, atol=1e-5)


def test_compiled_module_forward_and_train_eval_recompile(caplog):
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    fwd = graphc.compile(model)
    x = graphc.randn(3, 4)
    with caplog.at_level(logging.INFO, logger="graphc"):
        model.eval()
        np.testing.assert_allclose(fwd(x).numpy(), model(x).detach().numpy(), rtol=1e-6)
        model.train()
        fwd(x)
    assert fwd.compile_count == 2
    assert any("train() and eval()" in r.message for r in caplog.records)


def _line_of(fn, text):
    import inspect

    source, start = inspect.getsourcelines(fn)
    return start + next(i for i, line in enumerate(source) if text in line)


def test_data_dependent_control_flow_names_the_line():
    def step(x):
        y = x * 2
        if y.sum() > 0:  # the offending line
            return y
        return -y

    with pytest.raises(TraceError) as err:
        graphc.compile(step)(graphc.ones(3))
    assert f"test_compile.py:{_line_of(step, 'offending')}" in str(err.value)
    assert "graphc.where" in str(err.value)


@pytest.mark.parametrize("read", [lambda t: t.item(), lambda t: t.numpy(), lambda t: float(t), lambda t: t.tolist()])
def test_reading_a_traced_value_raises(read):
    def step(x):
        return read(x.sum())

    with pytest.raises(TraceError, match="traced tensor"):
        graphc.compile(step)(graphc.ones(3))


def test_a_traced_tensor_escaping_into_a_global_raises():
    kept = []

    def step(x):
        y = x * 3
        kept.append(y)
        return x + 1

    with pytest.raises(TraceError, match="stored somewhere"):
        graphc.compile(step)(graphc.ones(3))


def test_in_place_on_a_view_raises():
    def step(x):
        y = x * 1
        v = y[0:2]
        v.mul_(2)
        return y

    with pytest.raises(TraceError, match="view"):
        graphc.compile(step)(graphc.ones(3))


def test_reference_backend_gives_the_same_numbers():
    eager, comp = _clone_model(_mlp)
    xs, ys = _data(4, (8, 12), 5)
    la, _ = _train(eager, graphc.optim.SGD(eager.parameters(), lr=0.05, momentum=0.9), xs, ys, compiled=False)
    lb, _ = _train(comp, graphc.optim.SGD(comp.parameters(), lr=0.05, momentum=0.9), xs, ys, compiled=True,
                   backend="reference")
    _assert_same(eager, comp, la, lb, rtol=1e-6, atol=1e-7)


def test_failed_native_check_updates_nothing_even_with_fused_updates():
    """An out-of-range label stops the compiled step before any parameter or momentum buffer is
    written, although the optimizer fusion writes updates inside the gradient kernels."""
    from graphc.ir.errors import GraphcIndexError

    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    opt = graphc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    x = graphc.tensor(np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32))
    step(x, graphc.tensor(np.array([0, 1, 2, 1])))
    params = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    bufs = [opt.state[p]["momentum_buffer"].numpy().copy() for p in model.parameters()]
    with pytest.raises(GraphcIndexError):
        step(x, graphc.tensor(np.array([0, 7, 2, 1])))
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), params[k])
    for p, b in zip(model.parameters(), bufs):
        np.testing.assert_array_equal(opt.state[p]["momentum_buffer"].numpy(), b)


def test_compiling_after_eager_momentum_steps_continues_like_eager():
    """SGD creates momentum buffers with clone().detach(): a compiled step after eager ones
    updates them in place like eager mode (they alias nothing that lives on)."""
    def run(compile_from):
        graphc.manual_seed(0)
        model = nn.Linear(4, 3)
        opt = graphc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        x, y = graphc.randn(5, 4), graphc.tensor([0, 1, 2, 0, 1])

        def step(x, y):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        compiled = graphc.compile(step)
        losses = [(compiled if i >= compile_from else step)(x, y).item() for i in range(4)]
        return losses, model.weight.detach().numpy().copy()

    eager, mixed = run(compile_from=99), run(compile_from=2)
    np.testing.assert_allclose(mixed[0], eager[0], rtol=1e-5)
    np.testing.assert_allclose(mixed[1], eager[1], rtol=1e-5, atol=1e-6)


def test_writing_a_detached_alias_of_a_live_tensor_in_a_compiled_function_is_refused():
    w = graphc.ones(3)
    alias = w.detach()
    assert alias._base is None  # as PyTorch: detach() is not a view for autograd

    @graphc.compile
    def bump(x):
        alias.add_(x)
        return x

    with pytest.raises(TraceError, match="in-place modification of a view"):
        bump(graphc.ones(3))


@pytest.mark.parametrize("layout", ["fortran", "transposed"])
def test_a_non_contiguous_parameter_is_trained_in_place_like_eager(layout):
    # the native code reads and writes C-contiguous memory: a parameter that is not is staged
    # through a contiguous copy and the update copied back, every step (not just the first)
    rng = np.random.default_rng(0)
    w = rng.normal(size=(5, 16)).astype(np.float32)
    models = []
    for _ in range(2):
        graphc.manual_seed(0)
        model = _mlp()
        data = np.asfortranarray(w) if layout == "fortran" else np.ascontiguousarray(w.T).T
        model[2].weight = nn.Parameter(graphc.from_numpy(data))
        assert not model[2].weight._data.flags.c_contiguous
        models.append(model)
    xs, ys = _data(4, (8, 12), 5)
    losses = [_train(m, graphc.optim.SGD(m.parameters(), lr=0.1, momentum=0.9), xs, ys, compiled)[0]
              for m, compiled in zip(models, (False, True))]
    _assert_same(models[0], models[1], *losses)
    assert not models[1][2].weight._data.flags.c_contiguous  # still the user's array, updated in place


@pytest.mark.parametrize("backend", ["llvm", "reference"])
def test_an_argument_changed_in_place_is_changed_for_the_caller(backend):
    def bump(x, y):
        x.add_(y)
        return x * 2

    f = graphc.compile(bump, backend=backend)
    x, y = graphc.zeros(3), graphc.ones(3)
    np.testing.assert_array_equal(f(x, y).numpy(), 2.0)
    np.testing.assert_array_equal(f(x, y).numpy(), 4.0)
    np.testing.assert_array_equal(x.numpy(), 2.0)  # as eager: twice += 1
    np.testing.assert_array_equal(y.numpy(), 1.0)
    # a non-contiguous argument is written back too
    z = graphc.from_numpy(np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))
    g = graphc.compile(lambda a: a.mul_(2), backend=backend)
    g(z)
    g(z)
    np.testing.assert_array_equal(z.numpy(), 4 * np.arange(6).reshape(2, 3))


def test_an_argument_changed_in_place_must_not_alias_another_array_of_the_call():
    lin = nn.Linear(3, 3)
    f = graphc.compile(lambda a, b: a.add_(1) + b)
    x = graphc.zeros(3)
    with pytest.raises(GraphcValueError, match="argument 0 .* shares memory with argument 1") as e:
        f(x, x)
    assert "clone()" in e.value.fix
    np.testing.assert_array_equal(x.numpy(), 0.0)  # nothing was written
    g = graphc.compile(lambda a: lin(a.mul_(2)))
    with graphc.no_grad(), pytest.raises(GraphcValueError, match="a parameter or state tensor"):
        g(lin.weight.detach())


def test_writing_read_only_memory_is_refused_eagerly_and_compiled():
    frozen = np.ones((3, 3), np.float32)
    frozen.setflags(write=False)
    lin = nn.Linear(3, 3)
    lin.weight = nn.Parameter(graphc.from_numpy(frozen))
    opt = graphc.optim.SGD(lin.parameters(), lr=0.1)

    def step(x):
        opt.zero_grad()
        loss = lin(x).sum()
        loss.backward()
        opt.step()
        return loss

    x = graphc.ones(2, 3)
    for fn in (step, graphc.compile(step), graphc.compile(step, backend="reference")):
        for _ in range(2):  # (the second call too: nothing is written once refused)
            with pytest.raises(GraphcValueError, match="read-only memory") as e:
                fn(x)
            assert "graphc.tensor(array)" in e.value.fix
    np.testing.assert_array_equal(frozen, 1.0)
    with pytest.raises(GraphcValueError, match="read-only memory"):
        graphc.compile(lambda a: a.add_(1))(graphc.from_numpy(frozen))
    # an expanded view keeps PyTorch's message
    with pytest.raises(graphc.AutogradError, match="more than one element"):
        graphc.ones(3).expand(2, 3).add_(1)


def _fgsm(model, eps=0.1):
    def attack(x, y):
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        return x.detach() + eps * x.grad.sign(), loss

    return attack


def test_the_gradient_of_an_argument_is_set_like_eager():
    # an input that requires grad (adversarial examples, saliency): backward() inside the compiled
    # function sets its .grad, and the function can read it
    graphc.manual_seed(0)
    model = _mlp()
    xs, ys = _data(3, (4, 12), 5)
    f = graphc.compile(_fgsm(model))
    for x, y in zip(xs, ys):
        a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
        got_adv, got_loss = f(a, y)
        want_adv, want_loss = _fgsm(model)(b, y)
        np.testing.assert_allclose(got_adv.numpy(), want_adv.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-5, atol=1e-6)
        assert got_loss.item() == pytest.approx(want_loss.item(), rel=1e-5)
    model.zero_grad()


def test_an_arguments_existing_gradient_is_accumulated_into():
    graphc.manual_seed(0)
    model = _mlp()
    x, y = (t[0] for t in _data(1, (4, 12), 5))

    def step(x, y):
        nn.functional.cross_entropy(model(x), y).backward()
        return x.grad * 1.0  # (reads the accumulated value)

    f = graphc.compile(step)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    f(a, y)
    first = a.grad
    got = f(a, y)  # a second version: this one reads the old gradient as an input
    step(b, y)
    want = step(b, y)
    assert a.grad is first  # added to in place, as eager mode does
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)
    assert f.compile_count == 2


def test_export_refuses_a_function_that_sets_an_arguments_gradient(tmp_path):
    graphc.manual_seed(0)
    model = _mlp()
    x, y = (t[0] for t in _data(1, (4, 12), 5))
    with pytest.raises(graphc.ExportError, match="gradient of its argument 0") as e:
        graphc.export({"attack": graphc.compile(_fgsm(model))}, tmp_path, "fgsm",
                      example_inputs={"attack": (x.clone().requires_grad_(), y)})
    assert "return x.grad" in e.value.fix


def test_backward_on_a_compiled_functions_result_says_to_compile_the_step():
    from graphc.ir.errors import AutogradError

    f = graphc.compile(nn.Linear(3, 2))
    y = f(graphc.ones(4, 3))
    with pytest.raises(AutogradError, match="returned by the compiled function Linear") as e:
        y.backward(graphc.ones(4, 2))
    assert "compile the whole train step" in e.value.fix
    with pytest.raises(AutogradError, match="does not require grad") as e:
        y.sum().backward()  # (a result computed from it eagerly: the generic message, with the hint)
    assert "graphc.compile'd function" in e.value.fix


def test_a_scheduler_stepped_inside_the_compiled_function_is_refused_and_nothing_changes():
    model = _mlp()
    opt = graphc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = graphc.optim.lr_scheduler.StepLR(opt, 1, gamma=0.5)
    x, y = (t[0] for t in _data(1, (4, 12), 5))

    def step(x, y):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        sched.step()  # Python: it would run only while tracing
        return x.sum()

    with pytest.raises(TraceError, match=r"changed param_groups\[0\]\['lr'\] of a SGD optimizer \(0.1 -> 0.05\)") as e:
        graphc.compile(step)(x, y)
    assert "outside the compiled function" in e.value.fix
    assert opt.param_groups[0]["lr"] == 0.1 and not opt.state
    assert all(p.grad is None for p in model.parameters())


def test_a_failed_trace_leaves_grads_and_optimizer_state_as_they_were():
    model = _mlp()
    opt = graphc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    xs, ys = _data(2, (4, 12), 5)
    _train(model, opt, xs[:1], ys[:1], compiled=False)  # eager: .grad and momentum exist
    grads = [p.grad for p in model.parameters()]
    state = {p: dict(s) for p, s in opt.state.items()}

    def step(x, y):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if loss > 1:  # data-dependent: refused while tracing
            return loss
        return loss * 2

    with pytest.raises(TraceError):
        graphc.compile(step)(xs[1], ys[1])
    assert [p.grad for p in model.parameters()] == grads  # the same tensors, none traced
    assert all(g._tnode is None for g in grads)
    assert {p: dict(s) for p, s in opt.state.items()} == state


def test_calls_from_several_python_threads_give_eager_results():
    # a compiled version's calls share its buffers: they are serialised, never interleaved
    import threading

    graphc.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    f = graphc.compile(model)
    rng = np.random.default_rng(0)
    xs = [graphc.tensor(rng.normal(size=(8, 64)).astype(np.float32)) for _ in range(3)]
    with graphc.no_grad():
        want = [model(x).numpy() for x in xs]
        f(xs[0])
    wrong = []

    def work(i):
        with graphc.no_grad():
            for _ in range(400):
                if not np.allclose(f(xs[i]).numpy(), want[i], rtol=1e-4, atol=1e-5):
                    wrong.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong


def test_a_trace_in_one_thread_leaves_other_threads_eager():
    import threading

    model = nn.Linear(4, 4)
    seen, stop = [], threading.Event()

    def eager():
        a = graphc.ones(3, 3)
        while not stop.is_set():
            b = (a * 2 + 1).sum()
            seen.append(b._tnode is None and float(b) == 27.0)

    t = threading.Thread(target=eager)
    t.start()
    try:
        for i in range(20):  # each a fresh trace
            with graphc.no_grad():
                graphc.compile(lambda x: model(x).relu().sum())(graphc.ones(2, 4) * i)
    finally:
        stop.set()
        t.join()
    assert seen and all(seen)


@pytest.mark.parametrize("where", ["before", "after"])
def test_zero_grad_before_or_after_the_step_trains_like_eager(where):
    # with zero_grad() after opt.step(), every call starts with .grad None: the first step (which
    # creates the momentum buffers) must still not be reused for the steady state
    eager, comp = _clone_model(_mlp)
    xs, ys = _data(5, (6, 12), 5)
    results = []
    for model, compiled in ((eager, False), (comp, True)):
        step = _step_zeroing(model, where)
        fn = graphc.compile(step) if compiled else step
        results.append([fn(x, y).item() for x, y in zip(xs, ys)])
    _assert_same(eager, comp, *results)


def _step_zeroing(model, where):
    opt = graphc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        if where == "before":
            opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        if where == "after":
            opt.zero_grad()
        return loss

    return step
