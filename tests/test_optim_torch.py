"""graphc.optim against torch.optim: identical tensors, the same loss, >= 10 steps."""

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import graphc  # noqa: E402
import graphc.optim  # noqa: E402,F401

STEPS = 12
RTOL, ATOL = 1e-5, 1e-6


def _init(seed=0, shapes=((4, 3), (3,))):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


_X = np.random.default_rng(42).standard_normal((4, 3)).astype(np.float32)


def _loss(lib, params):
    w, b = params
    x = lib.tensor(_X)
    y = ((w * x).sum(dim=0) + b).tanh()
    return (y * y).sum() + (w * w * w).sum() * 0.05 + (b - 0.5).abs().sum()


def _pair(arrays):
    g = [graphc.tensor(a.copy(), requires_grad=True) for a in arrays]
    t = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    return g, t


def _check_close(gs, ts, what=""):
    for g, t in zip(gs, ts, strict=True):
        np.testing.assert_allclose(g.detach().numpy(), t.detach().numpy(), rtol=RTOL, atol=ATOL, err_msg=what)


def _run(make_g, make_t, steps=STEPS, seed=0):
    gp, tp = _pair(_init(seed))
    gopt, topt = make_g(gp), make_t(tp)
    for i in range(steps):
        for lib, opt, ps in ((graphc, gopt, gp), (torch, topt, tp)):
            opt.zero_grad()
            _loss(lib, ps).backward()
            opt.step()
        _check_close(gp, tp, f"step {i}")
    for gpar, tpar in zip(gp, tp, strict=True):
        gstate, tstate = gopt.state[gpar], topt.state[tpar]
        assert set(gstate) == set(tstate)
        for k in tstate:
            np.testing.assert_allclose(np.asarray(gstate[k].numpy()), tstate[k].numpy(), rtol=RTOL, atol=ATOL, err_msg=k)
    return gopt, topt


def _sgd_combos():
    for momentum, dampening, nesterov, wd, maximize in itertools.product(
            (0.0, 0.9), (0.0, 0.5), (False, True), (0.0, 0.1), (False, True)):
        if nesterov and (momentum <= 0 or dampening != 0):
            continue
        yield dict(momentum=momentum, dampening=dampening, nesterov=nesterov, weight_decay=wd, maximize=maximize)


@pytest.mark.parametrize("opts", list(_sgd_combos()), ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_sgd_every_option_combination_matches_torch(opts):
    _run(lambda p: graphc.optim.SGD(p, lr=0.05, **opts), lambda p: torch.optim.SGD(p, lr=0.05, **opts))


@pytest.mark.parametrize("opts", [
    dict(), dict(amsgrad=True), dict(weight_decay=0.1), dict(weight_decay=0.1, amsgrad=True),
    dict(maximize=True), dict(betas=(0.8, 0.99), eps=1e-6),
])
def test_adam_matches_torch(opts):
    _run(lambda p: graphc.optim.Adam(p, lr=0.01, **opts), lambda p: torch.optim.Adam(p, lr=0.01, **opts))


@pytest.mark.parametrize("opts", [dict(), dict(amsgrad=True), dict(weight_decay=0.3, maximize=True)])
def test_adamw_matches_torch(opts):
    _run(lambda p: graphc.optim.AdamW(p, lr=0.01, **opts), lambda p: torch.optim.AdamW(p, lr=0.01, **opts))


@pytest.mark.parametrize("opts", [
    dict(), dict(centered=True), dict(momentum=0.9), dict(centered=True, momentum=0.9),
    dict(weight_decay=0.1, alpha=0.9), dict(maximize=True),
])
def test_rmsprop_matches_torch(opts):
    _run(lambda p: graphc.optim.RMSprop(p, lr=0.01, **opts), lambda p: torch.optim.RMSprop(p, lr=0.01, **opts))


@pytest.mark.parametrize("opts", [
    dict(), dict(lr_decay=0.05), dict(weight_decay=0.1), dict(initial_accumulator_value=0.5), dict(maximize=True),
])
def test_adagrad_matches_torch(opts):
    _run(lambda p: graphc.optim.Adagrad(p, lr=0.1, **opts), lambda p: torch.optim.Adagrad(p, lr=0.1, **opts))


def test_two_param_groups_with_different_lr_match_torch():
    def groups(p):
        return [{"params": [p[0]]}, {"params": [p[1]], "lr": 0.001, "momentum": 0.5}]

    gopt, topt = _run(lambda p: graphc.optim.SGD(groups(p), lr=0.05, momentum=0.9),
                      lambda p: torch.optim.SGD(groups(p), lr=0.05, momentum=0.9))
    assert [g["lr"] for g in gopt.param_groups] == [g["lr"] for g in topt.param_groups]


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adamax", "NAdam", "RAdam"])
def test_state_dict_matches_torch_format(name):
    kwargs = {"lr": 0.01} | ({"momentum": 0.9} if name in ("SGD", "RMSprop") else {})
    gopt, topt = _run(lambda p: getattr(graphc.optim, name)(p, **kwargs),
                      lambda p: getattr(torch.optim, name)(p, **kwargs), steps=3)
    gsd, tsd = gopt.state_dict(), topt.state_dict()
    assert gsd["param_groups"] == tsd["param_groups"]
    assert list(gsd["state"]) == list(tsd["state"])
    for i in tsd["state"]:
        assert list(gsd["state"][i]) == list(tsd["state"][i])
        for k, v in tsd["state"][i].items():
            assert gsd["state"][i][k].dtype.name == str(v.dtype).split(".")[1]
            np.testing.assert_allclose(gsd["state"][i][k].numpy(), v.numpy(), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Adagrad", "NAdam", "RAdam"])
def test_state_dict_round_trip_continues_like_torch(name):
    kwargs = {"lr": 0.02} | ({"momentum": 0.9} if name in ("SGD", "RMSprop") else {})
    gp, tp = _pair(_init(3))
    gopt, topt = getattr(graphc.optim, name)(gp, **kwargs), getattr(torch.optim, name)(tp, **kwargs)

    def steps(n, gopt, topt, gp, tp):
        for _ in range(n):
            for lib, opt, ps in ((graphc, gopt, gp), (torch, topt, tp)):
                opt.zero_grad()
                _loss(lib, ps).backward()
                opt.step()

    steps(5, gopt, topt, gp, tp)
    gp2 = [graphc.tensor(p.detach().numpy().copy(), requires_grad=True) for p in gp]
    gopt2 = getattr(graphc.optim, name)(gp2, lr=0.5)
    gopt2.load_state_dict(gopt.state_dict())
    assert gopt2.param_groups[0]["lr"] == kwargs["lr"]
    steps(6, gopt2, topt, gp2, tp)
    _check_close(gp2, tp, "after reload")


def test_closure_loss_matches_torch():
    gp, tp = _pair(_init(1))
    gopt, topt = graphc.optim.SGD(gp, lr=0.1), torch.optim.SGD(tp, lr=0.1)

    def closure(lib, opt, ps):
        def fn():
            opt.zero_grad()
            loss = _loss(lib, ps)
            loss.backward()
            return loss
        return fn

    for _ in range(10):
        gl = gopt.step(closure(graphc, gopt, gp))
        tl = topt.step(closure(torch, topt, tp))
        assert abs(gl.item() - tl.item()) < 1e-4 * max(1.0, abs(tl.item()))
    _check_close(gp, tp)


def test_params_without_grad_are_skipped_like_torch():
    gp, tp = _pair(_init(2))
    gopt, topt = graphc.optim.Adam(gp, lr=0.1), torch.optim.Adam(tp, lr=0.1)
    for _ in range(10):
        for opt, ps in ((gopt, gp), (topt, tp)):
            opt.zero_grad()
            (ps[0] * ps[0]).sum().backward()  # b gets no gradient
            opt.step()
    _check_close(gp, tp)
    assert len(gopt.state) == len(topt.state) == 1


@pytest.mark.parametrize("opts", [dict(), dict(weight_decay=0.1), dict(maximize=True), dict(betas=(0.8, 0.99), eps=1e-6)])
def test_adamax_matches_torch(opts):
    _run(lambda p: graphc.optim.Adamax(p, lr=0.01, **opts), lambda p: torch.optim.Adamax(p, lr=0.01, **opts))


@pytest.mark.parametrize("opts", [
    dict(), dict(weight_decay=0.1), dict(weight_decay=0.1, decoupled_weight_decay=True), dict(maximize=True),
    dict(momentum_decay=0.01, betas=(0.8, 0.99)),
])
def test_nadam_matches_torch(opts):
    _run(lambda p: graphc.optim.NAdam(p, lr=0.01, **opts), lambda p: torch.optim.NAdam(p, lr=0.01, **opts))


@pytest.mark.parametrize("opts", [
    dict(), dict(weight_decay=0.1), dict(weight_decay=0.1, decoupled_weight_decay=True), dict(maximize=True),
    dict(betas=(0.5, 0.9)),  # rho_t > 5 from the first steps on: the rectified branch
])
def test_radam_matches_torch(opts):
    _run(lambda p: graphc.optim.RAdam(p, lr=0.01, **opts), lambda p: torch.optim.RAdam(p, lr=0.01, **opts),
         steps=STEPS + 8)


@pytest.mark.parametrize("name", ["Adamax", "NAdam", "RAdam"])
def test_adam_variants_compiled_steps_equal_eager_ones(name):
    def run(compiled):
        graphc.manual_seed(0)
        model = graphc.nn.Linear(3, 2)
        opt = getattr(graphc.optim, name)(model.parameters(), lr=0.05, weight_decay=0.01)
        x, y = graphc.tensor(_X), graphc.ones(4, 2)

        def step(x, y):
            opt.zero_grad()
            loss = (model(x) - y).pow(2).mean()
            loss.backward()
            opt.step()
            return loss

        step = graphc.compile(step) if compiled else step
        return [float(step(x, y)) for _ in range(10)], model.weight.detach().numpy()

    (lc, wc), (le, we) = run(True), run(False)
    np.testing.assert_allclose(lc, le, rtol=1e-5)
    np.testing.assert_allclose(wc, we, rtol=1e-5, atol=1e-6)
