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
