"""graphc.optim without PyTorch: construction rules, errors, state, hyperparameters as tensors."""

import numpy as np
import pytest

import graphc
import graphc.optim  # noqa: F401
from graphc.optim import SGD, Adagrad, Adam, AdamW, RMSprop
from graphc.optim.adam import adam
from graphc.optim.sgd import sgd


def _param(values=(1.0, -2.0, 3.0)):
    return graphc.tensor(list(values), requires_grad=True)


def _quadratic_step(opt, p):
    opt.zero_grad()
    (p * p).sum().backward()
    opt.step()


def test_unknown_option_is_a_type_error():
    with pytest.raises(TypeError, match="unexpected keyword argument 'momentun'"):
        SGD([_param()], lr=0.1, momentun=0.9)
    with pytest.raises(graphc.GraphcError):
        Adam([_param()], lr=0.1, beta=(0.9, 0.99))


@pytest.mark.parametrize("make, message", [
    (lambda p: SGD(p, lr=-0.1), "Invalid learning rate: -0.1"),
    (lambda p: SGD(p, lr=0.1, momentum=-1), "Invalid momentum value: -1"),
    (lambda p: SGD(p, lr=0.1, nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
    (lambda p: SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov momentum requires"),
    (lambda p: Adam(p, betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    (lambda p: Adam(p, betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    (lambda p: Adam(p, eps=-1e-8), "Invalid epsilon value: -1e-08"),
    (lambda p: AdamW(p, weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    (lambda p: RMSprop(p, alpha=-0.5), "Invalid alpha value: -0.5"),
    (lambda p: Adagrad(p, lr_decay=-1.0), "Invalid lr_decay value: -1.0"),
    (lambda p: SGD([], lr=0.1), "optimizer got an empty parameter list"),
])
def test_invalid_options_raise_pytorchs_value_errors(make, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        make([_param()])
    assert isinstance(info.value, graphc.GraphcError)


def test_invalid_groups():
    p = _param()
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(TypeError, match="should be an iterable of Tensors or dicts"):
        SGD(p, lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        SGD([{"params": {p}}], lr=0.1)
    with pytest.raises(TypeError, match="param_group must be a dict"):
        SGD([p], lr=0.1).add_param_group([_param()])
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        SGD([1.0], lr=0.1)
    nonleaf = _param() * 2
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        SGD([nonleaf], lr=0.1)


def test_param_groups_take_defaults_in_pytorchs_key_order():
    a, b = _param(), _param()
    opt = SGD([{"params": [a]}, {"params": b, "lr": 0.01}], lr=0.1, momentum=0.9)
    assert list(opt.param_groups[0]) == ["params", "lr", "momentum", "dampening", "weight_decay", "nesterov",
                                         "maximize", "foreach", "differentiable", "fused"]
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]
    assert opt.param_groups[1]["params"] == [b] or opt.param_groups[1]["params"][0] is b
    assert opt.defaults["momentum"] == 0.9


def test_state_is_created_lazily_as_pytorch():
    p = _param()
    opt = SGD([p], lr=0.1, momentum=0.9)
    assert len(opt.state) == 0
    _quadratic_step(opt, p)
    assert list(opt.state[p]) == ["momentum_buffer"]
    np.testing.assert_allclose(opt.state[p]["momentum_buffer"].numpy(), [2.0, -4.0, 6.0])
    adam_opt = Adam([q := _param()], amsgrad=True)
    _quadratic_step(adam_opt, q)
    assert list(adam_opt.state[q]) == ["step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"]
    assert adam_opt.state[q]["step"].dtype is graphc.float32 and adam_opt.state[q]["step"].item() == 1.0
    ada = Adagrad([r := _param()], initial_accumulator_value=0.5)
    assert list(ada.state[r]) == ["step", "sum"]  # Adagrad creates its state at construction
    plain = SGD([s := _param()], lr=0.1)
    _quadratic_step(plain, s)
    assert len(plain.state) == 0  # no momentum: no state


def test_zero_grad_and_closure():
    p = _param()
    opt = SGD([p], lr=0.1)
    (p * p).sum().backward()
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.numpy(), [0.0, 0.0, 0.0])
    opt.zero_grad()
    assert p.grad is None

    def closure():
        assert graphc.is_grad_enabled()
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with graphc.no_grad():
        loss = opt.step(closure)
    assert loss.item() == pytest.approx(14.0)
    np.testing.assert_allclose(p.detach().numpy(), [0.8, -1.6, 2.4], rtol=1e-6)
    assert p.grad_fn is None and p.requires_grad


def test_step_does_not_record_autograd_history():
    p = _param()
    opt = Adam([p], lr=0.1)
    _quadratic_step(opt, p)
    assert p.is_leaf and opt.state[p]["exp_avg"].grad_fn is None


def test_hyperparameters_may_be_zero_dim_tensors():
    """The tracer hands options over as 0-dim tensors; the update rules must give the same result."""
    floats, tensors = _param(), _param()
    for p in (floats, tensors):
        (p * p * p).sum().backward()
    f32 = graphc.float32
    t = lambda v: graphc.tensor(v, dtype=f32)  # noqa: E731
    bufs_f, bufs_t = [None], [None]
    for _ in range(3):
        with graphc.no_grad():
            sgd([floats], [floats.grad], bufs_f, lr=0.1, weight_decay=0.01, momentum=0.9, dampening=0.0,
                nesterov=True, maximize=False)
            sgd([tensors], [tensors.grad], bufs_t, lr=t(0.1), weight_decay=t(0.01), momentum=t(0.9),
                dampening=t(0.0), nesterov=True, maximize=False)
    np.testing.assert_allclose(floats.detach().numpy(), tensors.detach().numpy(), rtol=1e-6)
    z = graphc.zeros_like
    for lr, b1, b2 in ((0.01, 0.9, 0.999), (t(0.01), t(0.9), t(0.999))):
        p = _param()
        (p * p).sum().backward()
        state = [z(p), z(p), z(p)], [graphc.tensor(0.0)]
        with graphc.no_grad():
            for _ in range(3):
                adam([p], [p.grad], [state[0][0]], [state[0][1]], [state[0][2]], state[1], amsgrad=True, beta1=b1,
                     beta2=b2, lr=lr, weight_decay=0.0, eps=1e-8, maximize=False, decoupled_weight_decay=False)
        if isinstance(lr, float):
            expected = p.detach().numpy().copy()
        else:
            np.testing.assert_allclose(p.detach().numpy(), expected, rtol=1e-5)


def test_load_state_dict_checks_and_copies():
    p, q = _param(), _param()
    opt = SGD([p], lr=0.1, momentum=0.9)
    _quadratic_step(opt, p)
    sd = opt.state_dict()
    assert sd["param_groups"][0]["params"] == [0] and list(sd["state"]) == [0]
    other = SGD([q], lr=0.5, momentum=0.9)
    other.load_state_dict(sd)
    assert other.param_groups[0]["lr"] == 0.1 and other.param_groups[0]["params"][0] is q
    assert other.state[q]["momentum_buffer"] is not opt.state[p]["momentum_buffer"]
    with pytest.raises(ValueError, match="different number of parameter groups"):
        SGD([{"params": [q]}, {"params": [_param()]}], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="doesn't match the size"):
        SGD([q, _param()], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="has shape"):
        SGD([graphc.zeros(5, requires_grad=True)], lr=0.1, momentum=0.9).load_state_dict(sd)


def test_repr_lists_the_groups():
    text = repr(SGD([_param()], lr=0.1))
    assert text.startswith("SGD (\nParameter Group 0\n") and "    lr: 0.1\n" in text
