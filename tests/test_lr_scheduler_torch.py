"""graphc.optim.lr_scheduler against torch.optim.lr_scheduler: lr (and momentum) sequences."""

import warnings

import pytest

torch = pytest.importorskip("torch")

import graphc  # noqa: E402
import graphc.optim  # noqa: E402,F401

STEPS = 35


def _opts(lib, kind="SGD", groups=2):
    params = [lib.zeros(2, requires_grad=True) for _ in range(groups)]
    spec = [{"params": [p], "lr": 0.1 * (i + 1)} for i, p in enumerate(params)]
    if kind == "SGD":
        return lib.optim.SGD(spec, lr=0.1, momentum=0.9)
    return getattr(lib.optim, kind)(spec, lr=0.1)


SCHEDULERS = {
    "StepLR": lambda m, o: m.StepLR(o, step_size=4, gamma=0.5),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[3, 7, 7, 20], gamma=0.3),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, gamma=0.9),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, T_max=10, eta_min=0.001),
    "LambdaLR": lambda m, o: m.LambdaLR(o, lambda e: 1.0 / (1 + e)),
    "LambdaLR-per-group": lambda m, o: m.LambdaLR(o, [lambda e: 0.95 ** e, lambda e: 1.0 + e % 3]),
    "MultiplicativeLR": lambda m, o: m.MultiplicativeLR(o, lambda e: 0.97),
    "LinearLR": lambda m, o: m.LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=8),
    "ConstantLR": lambda m, o: m.ConstantLR(o, factor=0.5, total_iters=6),
    "OneCycleLR-cos": lambda m, o: m.OneCycleLR(o, max_lr=[1.0, 2.0], total_steps=STEPS + 1),
    "OneCycleLR-linear-3phase": lambda m, o: m.OneCycleLR(o, max_lr=1.0, epochs=4, steps_per_epoch=9,
                                                         anneal_strategy="linear", three_phase=True),
    "OneCycleLR-no-momentum": lambda m, o: m.OneCycleLR(o, max_lr=0.5, total_steps=40, cycle_momentum=False,
                                                       pct_start=0.4, div_factor=10.0, final_div_factor=100.0),
    "SequentialLR": lambda m, o: m.SequentialLR(o, [m.LinearLR(o, start_factor=0.1, total_iters=5),
                                                    m.ExponentialLR(o, gamma=0.9),
                                                    m.StepLR(o, step_size=3)], milestones=[5, 15]),
    "PolynomialLR": lambda m, o: m.PolynomialLR(o, total_iters=20, power=2.0),
    "CosineAnnealingWarmRestarts": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=6, eta_min=0.01),
    "CosineAnnealingWarmRestarts-Tmult": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2),
    "CyclicLR-triangular": lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=[0.1, 0.2], step_size_up=4,
                                                   step_size_down=6),
    "CyclicLR-triangular2": lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=3,
                                                    mode="triangular2", base_momentum=0.7, max_momentum=0.95),
    "CyclicLR-exp_range": lambda m, o: m.CyclicLR(o, base_lr=[0.01, 0.02], max_lr=0.1, step_size_up=5,
                                                  mode="exp_range", gamma=0.97, cycle_momentum=False),
    "CyclicLR-scale_fn": lambda m, o: m.CyclicLR(o, 0.01, 0.1, step_size_up=4, scale_fn=lambda i: 0.9 ** i,
                                                 scale_mode="iterations"),
    "ChainedScheduler": lambda m, o: m.ChainedScheduler([m.ConstantLR(o, factor=0.5, total_iters=4),
                                                         m.ExponentialLR(o, gamma=0.9),
                                                         m.PolynomialLR(o, total_iters=30)]),
}


def _sequence(lib, name, kind="SGD"):
    opt = _opts(lib, kind)
    sched = SCHEDULERS[name](lib.optim.lr_scheduler, opt)
    seen = [(sched.get_last_lr(), [g.get("momentum", g.get("betas")) for g in opt.param_groups])]
    for _ in range(STEPS):
        opt.step()
        sched.step()
        seen.append((list(sched.get_last_lr()), [g.get("momentum", g.get("betas")) for g in opt.param_groups]))
    return seen, sched


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_lr_sequence_matches_torch(name):
    ours, _ = _sequence(graphc, name)
    theirs, _ = _sequence(torch, name)
    assert len(ours) == STEPS + 1
    for step, ((lr_g, m_g), (lr_t, m_t)) in enumerate(zip(ours, theirs, strict=True)):
        assert lr_g == pytest.approx(lr_t, rel=1e-12, abs=1e-15), f"step {step}"
        assert _flat(m_g) == pytest.approx(_flat(m_t), rel=1e-12), f"step {step}"


def _flat(values):
    out = []
    for v in values:
        out.extend(v if isinstance(v, tuple) else [v])
    return out


def test_one_cycle_cycles_adam_beta1_like_torch():
    ours, _ = _sequence(graphc, "OneCycleLR-cos", kind="Adam")
    theirs, _ = _sequence(torch, "OneCycleLR-cos", kind="Adam")
    for (lr_g, b_g), (lr_t, b_t) in zip(ours, theirs, strict=True):
        assert lr_g == pytest.approx(lr_t, rel=1e-12)
        assert _flat(b_g) == pytest.approx(_flat(b_t), rel=1e-12)


def test_one_cycle_refuses_steps_past_total_like_torch():
    for lib in (graphc, torch):
        opt = _opts(lib)
        sched = lib.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=3)
        opt.step()
        for _ in range(3):
            sched.step()
        with pytest.raises(ValueError, match="Tried to step 4 times"):
            sched.step()


@pytest.mark.parametrize("kwargs", [
    dict(), dict(mode="max", factor=0.5, patience=2), dict(threshold_mode="abs", threshold=0.05, cooldown=2),
    dict(patience=0, min_lr=[0.02, 0.05], eps=1e-3), dict(mode="max", threshold_mode="abs", patience=1, cooldown=1),
])
def test_reduce_lr_on_plateau_matches_torch(kwargs):
    metrics = [1.0, 0.9, 0.95, 0.91, 0.92, 0.93, 0.5, 0.6, 0.61, 0.62, 0.63, 0.64] * 3
    results = []
    for lib in (graphc, torch):
        opt = _opts(lib)
        sched = lib.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
        seq = []
        for m in metrics:
            opt.step()
            sched.step(m)
            seq.append((list(sched.get_last_lr()), sched.num_bad_epochs, sched.cooldown_counter, sched.best))
        results.append(seq)
    assert results[0] == results[1]


def test_warning_when_scheduler_steps_before_optimizer_like_torch():
    for lib in (graphc, torch):
        opt = _opts(lib)
        sched = lib.optim.lr_scheduler.StepLR(opt, step_size=2)
        with pytest.warns(UserWarning, match=r"Detected call of `lr_scheduler.step\(\)` before `optimizer.step\(\)`"):
            sched.step()
        opt2 = _opts(lib)
        sched2 = lib.optim.lr_scheduler.StepLR(opt2, step_size=2)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            opt2.step()
            sched2.step()
            sched2.step()


def test_get_lr_outside_step_warns_like_torch():
    for lib in (graphc, torch):
        sched = lib.optim.lr_scheduler.ExponentialLR(_opts(lib), gamma=0.5)
        with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
            sched.get_lr()


def test_state_dict_round_trip_continues_the_schedule():
    opt = _opts(graphc)
    sched = graphc.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=7)
    for _ in range(4):
        opt.step()
        sched.step()
    saved_opt, saved = opt.state_dict(), sched.state_dict()
    ref = [sched.step() or sched.get_last_lr() for _ in range(10)]
    opt2 = _opts(graphc)
    sched2 = graphc.optim.lr_scheduler.CosineAnnealingLR(opt2, T_max=7)
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved)
    assert [sched2.step() or sched2.get_last_lr() for _ in range(10)] == ref
    tsched = torch.optim.lr_scheduler.CosineAnnealingLR(_opts(torch), T_max=7)
    assert set(saved) == set(tsched.state_dict())


def test_errors_match_torch():
    for lib in (graphc, torch):
        m = lib.optim.lr_scheduler
        opt = _opts(lib)
        with pytest.raises(ValueError, match="Constant multiplicative factor"):
            m.ConstantLR(opt, factor=1.5)
        with pytest.raises(ValueError, match="Factor should be < 1.0"):
            m.ReduceLROnPlateau(opt, factor=1.0)
        with pytest.raises(ValueError, match="You must define either total_steps"):
            m.OneCycleLR(opt, max_lr=1.0)
        with pytest.raises(TypeError, match="is not an Optimizer"):
            m.StepLR(object(), step_size=1)
        with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 3"):
            m.LambdaLR(opt, [lambda e: 1.0] * 3)
        with pytest.raises(KeyError):
            m.StepLR(_opts(lib), step_size=1, last_epoch=3)


@pytest.mark.parametrize("name", ["CyclicLR-triangular", "CyclicLR-triangular2"])
def test_cyclic_lr_cycles_adam_beta1_like_torch(name):
    ours, _ = _sequence(graphc, name, kind="Adam")
    theirs, _ = _sequence(torch, name, kind="Adam")
    for (lr_g, b_g), (lr_t, b_t) in zip(ours, theirs, strict=True):
        assert lr_g == pytest.approx(lr_t, rel=1e-12)
        assert _flat(b_g) == pytest.approx(_flat(b_t), rel=1e-12)


@pytest.mark.parametrize("t_mult", [1, 2, 3])
def test_warm_restarts_stepped_with_fractional_epochs_like_torch(t_mult):
    seen = []
    for lib in (graphc, torch):
        opt = _opts(lib)
        sched = lib.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=4, T_mult=t_mult, eta_min=0.001)
        lrs = []
        for epoch in range(30):
            for i in range(5):
                opt.step()
                sched.step(epoch + i / 5)
                lrs.append((list(sched.get_last_lr()), sched.T_i, sched.last_epoch))
        seen.append(lrs)
    for (lr_g, ti_g, e_g), (lr_t, ti_t, e_t) in zip(*seen, strict=True):
        assert lr_g == pytest.approx(lr_t, rel=1e-12) and ti_g == ti_t and e_g == e_t


def test_a_compiled_step_follows_cyclic_lr_and_momentum_without_recompiling():
    model = graphc.nn.Linear(3, 1)
    opt = graphc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = graphc.optim.lr_scheduler.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=3)
    x, y = graphc.ones(4, 3), graphc.zeros(4, 1)

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        loss = (model(x) - y).pow(2).mean()
        loss.backward()
        opt.step()
        return loss

    eager = graphc.nn.Linear(3, 1)
    eager.load_state_dict(model.state_dict())
    opt_e = graphc.optim.SGD(eager.parameters(), lr=0.1, momentum=0.9)
    sched_e = graphc.optim.lr_scheduler.CyclicLR(opt_e, base_lr=0.01, max_lr=0.1, step_size_up=3)
    for _ in range(10):
        got = float(step(x, y))
        sched.step()
        opt_e.zero_grad()
        want = (eager(x) - y).pow(2).mean()
        want.backward()
        opt_e.step()
        sched_e.step()
        assert got == pytest.approx(float(want), rel=1e-5)
    assert step.compile_count == 2  # the first step and the steady state: lr and momentum are read per call


def test_new_schedulers_state_dicts_round_trip_and_have_torchs_keys():
    m_g, m_t = graphc.optim.lr_scheduler, torch.optim.lr_scheduler
    for make in (lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2),
                 lambda m, o: m.CyclicLR(o, 0.01, 0.1, step_size_up=2),
                 lambda m, o: m.PolynomialLR(o, total_iters=9),
                 lambda m, o: m.ChainedScheduler([m.ExponentialLR(o, gamma=0.9), m.StepLR(o, step_size=2)])):
        opt = _opts(graphc)
        sched = make(m_g, opt)
        for _ in range(5):
            opt.step()
            sched.step()
        saved_opt, saved = opt.state_dict(), sched.state_dict()
        ref = [sched.step() or list(sched.get_last_lr()) for _ in range(8)]
        opt2 = _opts(graphc)
        sched2 = make(m_g, opt2)
        opt2.load_state_dict(saved_opt)
        sched2.load_state_dict(saved)
        assert [sched2.step() or list(sched2.get_last_lr()) for _ in range(8)] == ref
        assert set(saved) == set(make(m_t, _opts(torch)).state_dict())


def test_new_schedulers_errors_match_torch():
    for lib in (graphc, torch):
        m = lib.optim.lr_scheduler
        opt = _opts(lib)
        with pytest.raises(ValueError, match="Expected positive integer T_0"):
            m.CosineAnnealingWarmRestarts(opt, T_0=0)
        with pytest.raises(ValueError, match="Expected integer T_mult >= 1"):
            m.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=0)
        with pytest.raises(ValueError, match="mode is invalid and scale_fn is None"):
            m.CyclicLR(opt, 0.01, 0.1, mode="square")
        with pytest.raises(ValueError, match="expects at least one scheduler"):
            m.ChainedScheduler([])
        with pytest.raises(ValueError, match="does not support `ReduceLROnPlateau`"):
            m.ChainedScheduler([m.ReduceLROnPlateau(opt)])
        no_momentum = lib.optim.Adagrad([lib.zeros(1, requires_grad=True)])
        with pytest.raises(ValueError, match="optimizer must support momentum"):
            m.CyclicLR(no_momentum, 0.01, 0.1)
