"""The activations of graphc/nn/functional_activations.py against PyTorch: values, input and weight
gradients (edge regions included), errors, module repr and state_dict, and a compiled train step."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import graphc  # noqa: E402
import graphc.nn.functional as F  # noqa: E402
from graphc import nn  # noqa: E402
from graphc.ir.errors import DTypeError, GraphcIndexError, GraphcValueError, ShapeError  # noqa: E402

TF = torch.nn.functional
rng = np.random.default_rng(0)


def randn(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def compare(g_fn, t_fn, *arrays, grad=None, atol=1e-6, rtol=1e-5):
    """Run both on the same inputs; compare outputs and the gradients of the float inputs."""
    grad = [a.dtype.kind == "f" for a in arrays] if grad is None else grad
    g_in = [graphc.tensor(a, requires_grad=r) for a, r in zip(arrays, grad, strict=True)]
    t_in = [torch.tensor(a, requires_grad=r) for a, r in zip(arrays, grad, strict=True)]
    g_out, t_out = g_fn(*g_in), t_fn(*t_in)
    assert g_out.dtype.name == str(t_out.dtype).removeprefix("torch.")
    np.testing.assert_allclose(g_out.detach().numpy(), t_out.detach().numpy(), atol=atol, rtol=rtol)
    if any(grad):
        seed = rng.standard_normal(tuple(t_out.shape)).astype(arrays[0].dtype)
        (g_out * graphc.tensor(seed)).sum().backward()
        (t_out * torch.tensor(seed)).sum().backward()
        for g, t, r in zip(g_in, t_in, grad, strict=True):
            if r:
                assert np.all(np.isfinite(g.grad.numpy()))
                np.testing.assert_allclose(g.grad.numpy(), t.grad.numpy(), atol=atol, rtol=rtol)
    return g_out


# values where the formulas change branch, overflow, or lose precision when written naively
EDGES = np.array([-200, -100, -88, -30, -20, -6, -3, -1, -1e-3, -1e-7, 0, 1e-7, 1e-3, 0.5, 1, 3, 6, 19.5, 20,
                  20.5, 30, 88, 100, 200], np.float32)

UNARY = [
    ("softplus", {}), ("softplus", {"beta": 2.0, "threshold": 5.0}), ("softplus", {"beta": 0.5}),
    ("softplus", {"beta": -1.0}), ("relu6", {}), ("hardtanh", {}), ("hardtanh", {"min_val": -3.0, "max_val": 6.0}),
    ("hardtanh", {"min_val": 0.5, "max_val": 0.5}), ("logsigmoid", {}), ("mish", {}), ("hardswish", {}),
    ("hardsigmoid", {}), ("softsign", {}), ("celu", {}), ("celu", {"alpha": 0.5}), ("celu", {"alpha": 2.5}),
    ("selu", {}),
]


@pytest.mark.parametrize("name,kwargs", UNARY)
def test_unary_activation_on_random_values(name, kwargs):
    x = randn(4, 7) * 4
    compare(lambda a: getattr(F, name)(a, **kwargs), lambda a: getattr(TF, name)(a, **kwargs), x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,kwargs", UNARY)
def test_unary_activation_at_edges_has_torch_values_and_finite_gradients(name, kwargs, dtype):
    # float64 at 1e-7: PyTorch's own float64 hardsigmoid gradient uses a float32 1/6
    tol = {"atol": 1e-6, "rtol": 1e-5} if dtype == np.float32 else {"atol": 1e-12, "rtol": 1e-7}
    compare(lambda a: getattr(F, name)(a, **kwargs), lambda a: getattr(TF, name)(a, **kwargs),
            EDGES.astype(dtype), **tol)


def test_softplus_tails_are_exact():
    x = graphc.tensor(np.array([-100.0, -30.0, -17.0, 25.0], np.float32))
    expected = TF.softplus(torch.tensor(x.numpy())).numpy()
    assert expected[0] > 0  # a naive log(1 + exp(x)) would give 0 here
    np.testing.assert_allclose(F.softplus(x).numpy(), expected, rtol=1e-6, atol=0)


def test_logsigmoid_of_large_magnitudes():
    x = np.array([-100.0, 100.0], np.float32)
    out = compare(F.logsigmoid, TF.logsigmoid, x)
    assert out.detach().numpy()[0] == -100.0


@pytest.mark.parametrize("name,kwargs", [
    ("relu6", {}), ("hardtanh", {"min_val": -0.5, "max_val": 0.5}), ("hardswish", {}), ("hardsigmoid", {}),
    ("celu", {"alpha": 0.7}), ("selu", {}), ("mish", {}),
])
def test_inplace_writes_the_input_and_differentiates(name, kwargs):
    x = randn(3, 5) * 4

    def run(lib, fn):
        leaf = lib.tensor(x, requires_grad=True)
        y = leaf * 1.0
        out = fn(y, inplace=True, **kwargs)
        assert out is y
        out.sum().backward()
        return y.detach().numpy(), leaf.grad.numpy()

    g_val, g_grad = run(graphc, getattr(F, name))
    t_val, t_grad = run(torch, getattr(TF, name))
    np.testing.assert_allclose(g_val, t_val, atol=1e-6, rtol=1e-5)
    np.testing.assert_allclose(g_grad, t_grad, atol=1e-6, rtol=1e-5)


def test_hardtanh_and_relu6_keep_integer_dtype():
    x = np.arange(-8, 9, dtype=np.int64)
    for name in ("hardtanh", "relu6"):
        g, t = getattr(F, name)(graphc.tensor(x)), getattr(TF, name)(torch.tensor(x))
        assert g.dtype == graphc.int64
        np.testing.assert_array_equal(g.numpy(), t.numpy())


def test_softsign_of_integers_is_float():
    compare(F.softsign, TF.softsign, np.arange(-3, 4, dtype=np.int64))


@pytest.mark.parametrize("dim", [0, 1, -1, 2])
def test_glu(dim):
    compare(lambda a: F.glu(a, dim), lambda a: TF.glu(a, dim), randn(4, 6, 2))


@pytest.mark.parametrize("x_shape,w_shape", [
    ((3, 4, 5, 2), (4,)), ((3, 4, 5, 2), (1,)), ((6, 3), (3,)), ((7,), (1,)), ((), (1,)), ((3, 4), ()),
])
def test_prelu_input_and_weight_gradients(x_shape, w_shape):
    compare(F.prelu, TF.prelu, randn(*x_shape), np.abs(randn(*w_shape)) * 0.3)


def test_glu_odd_size_is_torch_error():
    with pytest.raises(ShapeError, match="Halving dimension must be even, but dimension 1 is size 5") as e:
        F.glu(graphc.tensor(randn(2, 5)))
    assert isinstance(e.value, RuntimeError) and e.value.fix
    with pytest.raises(ShapeError, match="glu does not support scalars"):
        F.glu(graphc.tensor(1.0))
    with pytest.raises(GraphcIndexError, match="Dimension out of range"):
        F.glu(graphc.tensor(randn(2, 4)), 2)


@pytest.mark.parametrize("x_shape,w_shape,message", [
    ((2, 3, 4), (4,), "Found parameter numbers = 4 and channel size = 3."),
    ((5,), (5,), "Found parameter numbers = 5 and channel size = 1."),
    ((), (3,), "Not allow zero-dim input tensor."),
    ((2, 3), (3, 1), "Expected `weight` to be a scalar or 1D tensor, but got: ndim = 2"),
])
def test_prelu_weight_of_wrong_size_is_torch_error(x_shape, w_shape, message):
    with pytest.raises(RuntimeError, match=message):
        TF.prelu(torch.zeros(x_shape), torch.zeros(w_shape))
    with pytest.raises(ShapeError, match=message) as e:
        F.prelu(graphc.zeros(*x_shape), graphc.zeros(*w_shape))
    assert e.value.fix


def test_prelu_weight_dtype_must_match():
    with pytest.raises(DTypeError, match="Type promoting not supported. Got Float and Double"):
        F.prelu(graphc.zeros(2, 3), graphc.zeros(3, dtype=graphc.float64))


def test_bad_arguments():
    with pytest.raises(GraphcValueError, match="min_val cannot be greater than max_val"):
        F.hardtanh(graphc.zeros(3), 2.0, 1.0)
    with pytest.raises(GraphcValueError, match="alpha cannot be 0 for CELU"):
        F.celu(graphc.zeros(3), 0.0)
    with pytest.raises(GraphcValueError, match=r"max_val \(1.0\) must be greater than min_val \(1.0\)"):
        nn.Hardtanh(1.0, 1.0)
    for name in ("softplus", "logsigmoid", "mish", "hardswish", "hardsigmoid", "glu", "celu", "selu"):
        with pytest.raises(DTypeError, match="not implemented for"):
            getattr(F, name)(graphc.tensor([2, 4]))


MODULES = [
    ("Softplus", {}), ("Softplus", {"beta": 2.0, "threshold": 10.0}), ("ReLU6", {}), ("ReLU6", {"inplace": True}),
    ("Hardtanh", {}), ("Hardtanh", {"min_val": -2.0, "max_val": 3.0, "inplace": True}), ("LogSigmoid", {}),
    ("Mish", {}), ("Mish", {"inplace": True}), ("Hardswish", {"inplace": True}), ("Hardsigmoid", {}),
    ("Softsign", {}), ("GLU", {}), ("GLU", {"dim": 1}), ("CELU", {"alpha": 0.5, "inplace": True}), ("SELU", {}),
    ("SELU", {"inplace": True}), ("PReLU", {}), ("PReLU", {"num_parameters": 6, "init": 0.1}),
]


@pytest.mark.parametrize("name,kwargs", MODULES)
def test_module_repr_state_dict_and_forward_match_torch(name, kwargs):
    g, t = getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs)
    assert repr(g) == repr(t)
    assert list(g.state_dict()) == list(t.state_dict())
    g.load_state_dict({k: graphc.tensor(v.numpy()) for k, v in t.state_dict().items()})
    x = randn(4, 6) * 4
    compare(lambda a: g(a * 1.0), lambda a: t(a * 1.0), x)


def test_prelu_weight_gradient_and_torch_state_dict():
    t = torch.nn.PReLU(3, init=0.2)
    g = nn.PReLU(3, init=0.2)
    np.testing.assert_array_equal(g.weight.detach().numpy(), t.weight.detach().numpy())
    with torch.no_grad():
        t.weight.copy_(torch.tensor([0.1, -0.3, 0.5]))
    g.load_state_dict({"weight": graphc.tensor(t.weight.detach().numpy())})
    x = randn(2, 3, 4)
    g(graphc.tensor(x)).sum().backward()
    t(torch.tensor(x)).sum().backward()
    np.testing.assert_allclose(g.weight.grad.numpy(), t.weight.grad.numpy(), rtol=1e-5, atol=1e-6)


class EveryActivation(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 16)
        self.acts = nn.Sequential(
            nn.Softplus(beta=2.0, threshold=3.0), nn.PReLU(16, init=0.2), nn.ReLU6(), nn.Hardtanh(-0.8, 0.9),
            nn.Mish(), nn.Hardswish(), nn.CELU(0.6), nn.SELU(), nn.Softsign(),
        )
        self.fc2 = nn.Linear(16, 8)
        self.glu = nn.GLU()
        self.tail = nn.Sequential(nn.Hardsigmoid(), nn.LogSigmoid(), nn.PReLU())
        self.fc3 = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc3(self.tail(self.glu(self.fc2(self.acts(self.fc1(x) * 3.0)))))


def test_model_with_every_new_activation_compiles_and_matches_eager():
    def make():
        graphc.manual_seed(3)
        model = EveryActivation()
        return model, graphc.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)

    xs = [graphc.tensor(randn(8, 6) * 2) for _ in range(3)]
    ys = [graphc.tensor(rng.integers(0, 3, size=8)) for _ in range(3)]
    runs = []
    for compiled in (False, True):
        model, opt = make()
        loss_fn = nn.CrossEntropyLoss()

        def step(x, y, model=model, opt=opt, loss_fn=loss_fn):
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            return loss

        fn = graphc.compile(step) if compiled else step
        losses = [fn(x, y).item() for x, y in zip(xs, ys, strict=True)]
        runs.append((losses, {k: v.numpy().copy() for k, v in model.state_dict().items()}))
    (eager_losses, eager_sd), (comp_losses, comp_sd) = runs
    assert eager_losses[0] != eager_losses[-1]
    np.testing.assert_allclose(comp_losses, eager_losses, rtol=2e-5, atol=2e-6)
    assert list(comp_sd) == list(eager_sd)
    for name, value in eager_sd.items():
        np.testing.assert_allclose(comp_sd[name], value, rtol=2e-5, atol=2e-6, err_msg=name)
