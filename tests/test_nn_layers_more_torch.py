"""The newer graphc.nn layers against torch.nn: RMSNorm, InstanceNorm1d/2d, LocalResponseNorm,
channel and alpha dropout, interpolate/Upsample, PixelShuffle/PixelUnshuffle, 1-D and adaptive max
pooling, ParameterList/ParameterDict. Values, input and parameter gradients, running statistics,
state_dict keys, repr, errors (PyTorch's text and a fix), and a compiled train step."""

import copy
import warnings
from collections import OrderedDict

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import graphc  # noqa: E402
import graphc.nn.functional as F  # noqa: E402
from graphc import nn  # noqa: E402
from graphc.ir.errors import GraphcError  # noqa: E402

TF = torch.nn.functional
rng = np.random.default_rng(7)


def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def copy_weights(g_mod, t_mod):
    g_mod.load_state_dict({k: graphc.tensor(v.detach().numpy().copy()) for k, v in t_mod.state_dict().items()})


def compare(g_mod, t_mod, x, atol=1e-5):
    """Copy torch's weights; compare output, input grad, parameter grads, buffers and repr."""
    assert list(g_mod.state_dict()) == list(t_mod.state_dict())
    copy_weights(g_mod, t_mod)
    gx, tx = graphc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    g_out, t_out = g_mod(gx), t_mod(tx)
    assert tuple(g_out.shape) == tuple(t_out.shape)
    np.testing.assert_allclose(g_out.detach().numpy(), t_out.detach().numpy(), atol=atol, rtol=1e-4)
    seed = randn(*t_out.shape)
    (g_out * graphc.tensor(seed)).sum().backward()
    (t_out * torch.tensor(seed)).sum().backward()
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), atol=atol, rtol=1e-4)
    t_params = dict(t_mod.named_parameters())
    for name, p in g_mod.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), t_params[name].grad.numpy(), atol=atol, rtol=1e-4, err_msg=name)
    for name, b in t_mod.state_dict().items():
        np.testing.assert_allclose(g_mod.state_dict()[name].numpy(), b.numpy(), atol=1e-6, err_msg=name)
    assert repr(g_mod) == repr(t_mod)


MODULE_CASES = [
    ("RMSNorm", (5,), {}, (3, 5)),
    ("RMSNorm", ((4, 5),), {"eps": 1e-3}, (2, 3, 4, 5)),
    ("RMSNorm", (5,), {"elementwise_affine": False}, (3, 5)),
    ("InstanceNorm1d", (4,), {}, (3, 4, 6)),
    ("InstanceNorm1d", (4,), {"affine": True}, (4, 6)),
    ("InstanceNorm2d", (3,), {"affine": True, "track_running_stats": True, "momentum": 0.3}, (2, 3, 4, 5)),
    ("InstanceNorm2d", (3,), {"affine": True, "bias": False, "eps": 1e-3}, (3, 4, 5)),
    ("InstanceNorm2d", (3,), {"track_running_stats": True, "momentum": None}, (2, 3, 3, 3)),
    ("LocalResponseNorm", (3,), {}, (2, 6, 4, 3)),
    ("LocalResponseNorm", (2,), {"alpha": 0.1, "beta": 0.5, "k": 2.0}, (2, 5, 7)),
    ("Upsample", (), {"scale_factor": 2}, (2, 3, 4, 5)),
    ("Upsample", (), {"size": (5, 7), "mode": "nearest-exact"}, (2, 3, 4, 5)),
    ("Upsample", (), {"scale_factor": 1.5, "mode": "bilinear"}, (2, 3, 4, 5)),
    ("Upsample", (), {"size": 9, "mode": "linear", "align_corners": True}, (2, 3, 4)),
    ("Upsample", (), {"scale_factor": (0.5, 1.7), "mode": "bilinear", "align_corners": True}, (2, 3, 6, 5)),
    ("UpsamplingNearest2d", (), {"scale_factor": 3}, (1, 2, 3, 3)),
    ("UpsamplingBilinear2d", (), {"size": (6, 4)}, (1, 2, 3, 3)),
    ("PixelShuffle", (2,), {}, (2, 8, 3, 4)),
    ("PixelUnshuffle", (3,), {}, (2, 2, 6, 9)),
    ("AdaptiveMaxPool2d", ((3, 2),), {}, (2, 3, 7, 5)),
    ("AdaptiveMaxPool2d", (2,), {}, (2, 3, 6, 4)),
    ("AdaptiveMaxPool2d", ((None, 3),), {}, (3, 5, 7)),
    ("AdaptiveMaxPool1d", (3,), {}, (2, 3, 7)),
    ("AdaptiveAvgPool1d", (4,), {}, (2, 3, 9)),
    ("AdaptiveAvgPool1d", (3,), {}, (3, 6)),
    ("MaxPool1d", (3,), {}, (2, 3, 10)),
    ("MaxPool1d", (3, 2, 1, 2), {"ceil_mode": True}, (2, 3, 10)),
    ("MaxPool1d", (2,), {}, (3, 7)),
    ("AvgPool1d", (3,), {}, (2, 3, 10)),
    ("AvgPool1d", (3, 2, 1), {"ceil_mode": True, "count_include_pad": False}, (2, 3, 10)),
]


@pytest.mark.parametrize("name,args,kwargs,shape", MODULE_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(MODULE_CASES)])
def test_layer_matches_torch(name, args, kwargs, shape):
    g_mod, t_mod = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    if any(p.ndim for p in t_mod.parameters()):  # non-trivial affine parameters
        with torch.no_grad():
            for p in t_mod.parameters():
                p.copy_(torch.tensor(randn(*p.shape)))
    compare(g_mod, t_mod, randn(*shape))


def test_instance_norm_running_stats_train_then_eval():
    g, t = nn.InstanceNorm1d(4, affine=True, track_running_stats=True), torch.nn.InstanceNorm1d(
        4, affine=True, track_running_stats=True)
    compare(g, t, randn(3, 4, 5))
    compare(g, t, randn(2, 4, 7) * 3 + 1)
    assert int(g.num_batches_tracked.numpy()) == 0  # instance norm does not count batches
    g.eval()
    t.eval()
    compare(g, t, randn(2, 4, 5))


NORM_CALLS = [
    ("rms_norm_weight", lambda lib, x, ps: lib.rms_norm(x, (4, 5), ps[0]), [(4, 5)]),
    ("rms_norm_eps", lambda lib, x, ps: lib.rms_norm(x, [5], None, eps=0.1), []),
    ("instance_norm_affine", lambda lib, x, ps: lib.instance_norm(x, weight=ps[0], bias=ps[1]), [(3,), (3,)]),
    ("instance_norm_eps", lambda lib, x, ps: lib.instance_norm(x, None, None, ps[0], None, eps=1e-2), [(3,)]),
    ("instance_norm_running", lambda lib, x, ps: lib.instance_norm(x, ps[2].detach(), ps[3].detach().abs() + 0.5,
                                                                  ps[0], ps[1], use_input_stats=False),
     [(3,), (3,), (3,), (3,)]),
    ("local_response_norm", lambda lib, x, ps: lib.local_response_norm(x, 4, 1e-2, 0.9, 1.5), []),
]


@pytest.mark.parametrize("name,call,param_shapes", NORM_CALLS, ids=[c[0] for c in NORM_CALLS])
def test_functional_norms_values_and_parameter_grads(name, call, param_shapes):
    x = randn(2, 3, 4, 5)
    params = [randn(*s) for s in param_shapes]
    outs, grads = [], []
    for lib, make in ((F, graphc.tensor), (TF, torch.tensor)):
        xs = make(x, requires_grad=True)
        ps = [make(p, requires_grad=True) for p in params]
        out = call(lib, xs, ps)
        seed = make(np.linspace(-1, 1, out.numel(), dtype=np.float32).reshape(tuple(out.shape)))
        (out * seed).sum().backward()
        outs.append(out.detach().numpy())
        grads.append([xs.grad.numpy()] + [p.grad.numpy() for p in ps if p.grad is not None])
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-5, rtol=1e-4)
    assert len(grads[0]) == len(grads[1])
    for g, t in zip(*grads, strict=True):
        np.testing.assert_allclose(g, t, atol=1e-4, rtol=1e-4)


def test_instance_norm_functional_updates_running_stats_as_torch():
    x = randn(3, 2, 6)
    g_rm, g_rv = graphc.tensor(np.zeros(2, np.float32)), graphc.tensor(np.ones(2, np.float32))
    t_rm, t_rv = torch.zeros(2), torch.ones(2)
    F.instance_norm(graphc.tensor(x), g_rm, g_rv, momentum=0.25)
    TF.instance_norm(torch.tensor(x), t_rm, t_rv, momentum=0.25)
    np.testing.assert_allclose(g_rm.numpy(), t_rm.numpy(), atol=1e-6)
    np.testing.assert_allclose(g_rv.numpy(), t_rv.numpy(), atol=1e-6)


def test_rms_norm_default_eps_is_the_dtype_epsilon():
    x = np.full((2, 3), 1e-4, np.float64)
    for dtype in (np.float32, np.float64):
        g = F.rms_norm(graphc.tensor(x.astype(dtype)), (3,)).numpy()
        t = TF.rms_norm(torch.tensor(x.astype(dtype)), (3,)).numpy()
        np.testing.assert_allclose(g, t, rtol=1e-6)


# ---------------------------------------------------------------------- interpolate

INTERP_OPTIONS = [
    ("nearest", None), ("nearest-exact", None), ("bilinear", False), ("bilinear", True), ("area", None),
]
SIZE_OPTIONS = [
    {"scale_factor": 2}, {"scale_factor": 3.0}, {"scale_factor": 0.6}, {"scale_factor": (1.7, 2.3)},
    {"scale_factor": 1.1}, {"scale_factor": 0.5, "recompute_scale_factor": True},
    {"scale_factor": 1.37, "recompute_scale_factor": True}, {"size": (5, 7)}, {"size": 3}, {"size": (4, 5)},
    {"size": (1, 1)},
]


@pytest.mark.parametrize("mode,align_corners", INTERP_OPTIONS)
@pytest.mark.parametrize("sizes", SIZE_OPTIONS, ids=[str(s) for s in SIZE_OPTIONS])
def test_interpolate_4d_matches_torch(mode, align_corners, sizes):
    check_function(lambda lib, x: lib.interpolate(x, mode=mode, align_corners=align_corners, **sizes), (2, 3, 4, 5))


@pytest.mark.parametrize("mode,align_corners", [("nearest", None), ("nearest-exact", None), ("linear", False),
                                                ("linear", True), ("area", None)])
@pytest.mark.parametrize("sizes", [{"scale_factor": 2}, {"scale_factor": 0.7}, {"size": 11}, {"size": 3}])
def test_interpolate_3d_matches_torch(mode, align_corners, sizes):
    check_function(lambda lib, x: lib.interpolate(x, mode=mode, align_corners=align_corners, **sizes), (2, 3, 6))


def test_interpolate_5d_trilinear_and_nearest():
    check_function(lambda lib, x: lib.interpolate(x, scale_factor=(2, 1.5, 0.5), mode="trilinear"), (1, 2, 3, 4, 6))
    check_function(lambda lib, x: lib.interpolate(x, size=(4, 5, 3), mode="nearest"), (1, 2, 3, 4, 6))


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
def test_nearest_picks_torch_pixels_for_every_size(mode):
    """PyTorch's float32 index arithmetic, for sizes and scales where rounding decides."""
    for n_in in range(1, 10):
        x = np.arange(n_in, dtype=np.float32).reshape(1, 1, n_in)
        for n_out in range(1, 20):
            g = F.interpolate(graphc.tensor(x), size=n_out, mode=mode).numpy()
            np.testing.assert_array_equal(g, TF.interpolate(torch.tensor(x), size=n_out, mode=mode).numpy())
        for scale in (0.3, 0.7, 1.1, 1.5, 2.0, 2.5, 3.3, 1 / 3):
            if int(n_in * scale) < 1:
                continue
            g = F.interpolate(graphc.tensor(x), scale_factor=scale, mode=mode).numpy()
            np.testing.assert_array_equal(g, TF.interpolate(torch.tensor(x), scale_factor=scale, mode=mode).numpy())


def test_interpolate_float64():
    check_function(lambda lib, x: lib.interpolate(x, scale_factor=1.6, mode="bilinear"), (1, 2, 3, 4), np.float64)
    check_function(lambda lib, x: lib.interpolate(x, size=(7, 3), mode="nearest-exact"), (1, 2, 3, 4), np.float64)


def check_function(fn, shape, dtype=np.float32, atol=1e-5):
    """Value and input gradient of ``fn(lib, x)`` for lib = graphc.nn.functional and torch's."""
    x = rng.standard_normal(shape).astype(dtype)
    gx, tx = graphc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    g_out, t_out = fn(F, gx), fn(TF, tx)
    assert tuple(g_out.shape) == tuple(t_out.shape)
    np.testing.assert_allclose(g_out.detach().numpy(), t_out.detach().numpy(), atol=atol, rtol=1e-5)
    seed = rng.standard_normal(tuple(t_out.shape)).astype(dtype)
    (g_out * graphc.tensor(seed)).sum().backward()
    (t_out * torch.tensor(seed)).sum().backward()
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), atol=atol, rtol=1e-5)


@pytest.mark.parametrize("call", [
    lambda lib, x: lib.pixel_shuffle(x, 3),
    lambda lib, x: lib.pixel_unshuffle(lib.pixel_shuffle(x, 3), 3),
    lambda lib, x: lib.max_pool1d(x.reshape(2, 9, 4), 2, stride=1, padding=1),
    lambda lib, x: lib.max_pool1d(x.reshape(18, 4), 3, padding=1, dilation=1, ceil_mode=True),
    lambda lib, x: lib.avg_pool1d(x.reshape(2, 9, 4), 2, stride=1, padding=1, count_include_pad=False),
    lambda lib, x: lib.adaptive_avg_pool1d(x.reshape(2, 9, 4), 3),
    lambda lib, x: lib.adaptive_max_pool1d(x.reshape(2, 9, 4), (3,)),
    lambda lib, x: lib.adaptive_max_pool2d(x, (3, 4)),
    lambda lib, x: lib.adaptive_max_pool2d(x[0], 1),
], ids=["pixel_shuffle", "unshuffle", "max_pool1d", "max_pool1d_2d_ceil", "avg_pool1d", "adaptive_avg_pool1d",
        "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool2d_unbatched"])
def test_functional_resample_and_pool_match_torch(call):
    check_function(call, (2, 9, 2, 2))


# ---------------------------------------------------------------------- dropout

@pytest.mark.parametrize("name,shape", [("Dropout1d", (6, 40, 5)), ("Dropout1d", (40, 5)), ("Dropout2d", (6, 40, 3, 3)),
                                        ("Dropout3d", (4, 40, 2, 2, 2)), ("FeatureAlphaDropout", (6, 40, 3, 3))])
def test_channel_dropout_zeroes_whole_channels(name, shape):
    graphc.manual_seed(0)
    p = 0.4
    x = np.abs(randn(*shape)) + 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = getattr(nn, name)(p)(graphc.tensor(x)).numpy()
    channel_axes = (0,) if len(shape) == 2 else (0, 1)
    flat = y.reshape(*[shape[a] for a in channel_axes], -1)
    xf = x.reshape(flat.shape)
    if name == "FeatureAlphaDropout":
        alpha = 1.7580993408473766
        a = 1.0 / np.sqrt((alpha ** 2 * p + 1) * (1 - p))
        dropped = np.isclose(flat, alpha * a * (p - 1), atol=1e-6)
        kept = np.isclose(flat, xf * a + alpha * a * p, atol=1e-5)
    else:
        dropped = flat == 0
        kept = np.isclose(flat, xf / (1 - p), rtol=1e-6)
    assert np.all(dropped.all(-1) | kept.all(-1))  # each channel wholly dropped or wholly kept
    assert 0.2 < dropped.all(-1).mean() < 0.6


def test_channel_dropout_gradient_is_the_mask_scale():
    graphc.manual_seed(1)
    x = graphc.tensor(randn(4, 8, 3, 3), requires_grad=True)
    y = F.dropout2d(x, 0.5)
    y.sum().backward()
    kept = y.detach().numpy() != 0
    np.testing.assert_allclose(x.grad.numpy(), kept * 2.0)


def test_alpha_dropout_values_gradient_and_moments():
    graphc.manual_seed(2)
    p = 0.2
    alpha = 1.7580993408473766
    a = 1.0 / np.sqrt((alpha ** 2 * p + 1) * (1 - p))
    x = graphc.tensor(randn(200, 200), requires_grad=True)
    y = nn.AlphaDropout(p)(x)
    y.sum().backward()
    yv, xv = y.detach().numpy(), x.detach().numpy()
    kept = np.isclose(yv, xv * a + alpha * a * p, atol=1e-5)
    assert np.all(kept | np.isclose(yv, alpha * a * (p - 1), atol=1e-6))
    assert abs((~kept).mean() - p) < 0.01
    np.testing.assert_allclose(x.grad.numpy(), kept * a, rtol=1e-6)
    assert abs(yv.mean()) < 0.02 and abs(yv.std() - 1) < 0.02  # SELU's self-normalising property


@pytest.mark.parametrize("name", ["Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"])
def test_dropout_eval_p0_identity_and_p1_zero(name):
    shape = {"Dropout1d": (2, 3, 4), "Dropout2d": (2, 3, 4, 4), "Dropout3d": (2, 3, 2, 2, 2)}.get(name, (2, 3, 4, 4))
    x = graphc.tensor(randn(*shape))
    m = getattr(nn, name)(0.5)
    assert repr(m) == repr(getattr(torch.nn, name)(0.5))
    np.testing.assert_array_equal(m.eval()(x).numpy(), x.numpy())
    np.testing.assert_array_equal(getattr(nn, name)(0.0)(x).numpy(), x.numpy())
    np.testing.assert_array_equal(getattr(nn, name)(1.0)(x).numpy(), np.zeros(shape, np.float32))


def test_dropout_inplace_writes_the_input():
    graphc.manual_seed(4)
    x = graphc.tensor(np.ones((3, 10, 4), np.float32))
    y = F.dropout1d(x, 0.5, inplace=True)
    np.testing.assert_array_equal(x.numpy(), y.numpy())
    assert set(np.unique(x.numpy())) == {0.0, 2.0}


def test_compiled_channel_dropout_draws_the_eager_masks():
    def fn(x):
        return F.dropout2d(x, 0.5) + F.dropout1d(x[:, :, 0], 0.3).unsqueeze(2) + F.alpha_dropout(x, 0.2, True)

    x = graphc.tensor(randn(4, 6, 3, 3))
    compiled = graphc.compile(fn)
    graphc.manual_seed(11)
    eager = [fn(x).numpy() for _ in range(2)]
    graphc.manual_seed(11)
    comp = [compiled(x).numpy() for _ in range(2)]
    assert not np.array_equal(eager[0], eager[1])  # fresh masks each call
    for e, c in zip(eager, comp, strict=True):
        np.testing.assert_allclose(c, e, rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------- containers

def test_parameter_list_registration_indexing_and_state_dict():
    t = torch.nn.ParameterList([torch.nn.Parameter(torch.ones(2, 3)), torch.zeros(4)])
    g = nn.ParameterList([nn.Parameter(graphc.ones(2, 3)), graphc.zeros(4)])
    assert isinstance(g[1], nn.Parameter) and g[1].requires_grad  # a tensor becomes a Parameter
    g.append(graphc.ones(5))
    g.extend([graphc.ones(1)])
    g += [nn.Parameter(graphc.ones(2), requires_grad=False)]
    t.append(torch.ones(5))
    t.extend([torch.ones(1)])
    t += [torch.nn.Parameter(torch.ones(2), requires_grad=False)]
    assert len(g) == len(t) == 5
    assert [n for n, _ in g.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert list(g.state_dict()) == list(t.state_dict()) == ["0", "1", "2", "3", "4"]
    assert g[-1] is g[4] and [p.shape for p in g] == [tuple(p.shape) for p in t]
    assert [tuple(p.shape) for p in g[1:4:2]] == [(4,), (1,)]
    assert isinstance(g[1:], nn.ParameterList)
    g[0] = graphc.zeros(2, 3)
    assert isinstance(g[0], nn.Parameter) and float(g[0].sum().item()) == 0
    with pytest.raises(IndexError, match="index 5 is out of range"):
        g[5]
    with pytest.raises(TypeError, match="ParameterList.extend should be called with an iterable, but got Tensor"):
        g.extend(graphc.ones(2))
    with pytest.raises(RuntimeError, match="ParameterList should not be called."):
        g(graphc.ones(1))
    assert repr(nn.ParameterList([graphc.ones(2, 3), graphc.ones(4)])) == (  # torch's, with graphc's dtype
        "ParameterList(\n    (0): Parameter containing: [graphc.float32 of size 2x3]\n"
        "    (1): Parameter containing: [graphc.float32 of size 4]\n)")
    assert repr(nn.ParameterList()) == repr(torch.nn.ParameterList()) == "ParameterList()"


def test_parameter_dict_methods_order_and_state_dict():
    t = torch.nn.ParameterDict({"b": torch.ones(2), "a": torch.nn.Parameter(torch.ones(3))})
    g = nn.ParameterDict({"b": graphc.ones(2), "a": nn.Parameter(graphc.ones(3))})
    assert list(g) == list(t) == ["a", "b"]  # a plain dict is added in sorted order, as PyTorch does
    g.update(OrderedDict([("z", graphc.ones(1)), ("c", graphc.ones(1))]))
    t.update(OrderedDict([("z", torch.ones(1)), ("c", torch.ones(1))]))
    g.update([("y", graphc.ones(2))])
    t.update([("y", torch.ones(2))])
    assert list(g.keys()) == list(t.keys()) and list(g.state_dict()) == list(t.state_dict())
    assert [n for n, _ in g.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert isinstance(g["y"], nn.Parameter) and "y" in g and "q" not in g and g.get("q") is None
    assert g.pop("z").shape == (1,) and "z" not in g
    assert g.popitem()[0] == "y"
    del g["c"]
    assert list(g) == ["a", "b"]
    assert g.setdefault("d", graphc.zeros(2)).shape == (2,) and list(g) == ["a", "b", "d"]
    merged = g | nn.ParameterDict({"e": graphc.ones(1)})
    assert list(merged) == ["a", "b", "d", "e"] and merged["a"] is g["a"]
    g["note"] = "not a tensor"  # kept as a plain attribute, not a parameter
    assert g["note"] == "not a tensor" and "note" not in dict(g.named_parameters())
    assert "(note): Object of type: str" in repr(g)
    with pytest.raises(TypeError, match="cannot be used as a key as it is not a string"):
        g[1] = graphc.ones(1)
    with pytest.raises(ValueError, match="ParameterDict update sequence element #0 has length 3; 2 is required"):
        g.update([("a", 1, 2)])
    g.clear()
    assert len(g) == 0 and list(g.parameters()) == []


def torch_or_graphc(mod):
    return torch if mod is torch.nn else graphc


def test_containers_load_torch_state_dict_and_train_with_an_optimizer():
    def build(mod, base):
        class Net(base):
            def __init__(self):
                super().__init__()
                lib = torch_or_graphc(mod)
                self.scales = mod.ParameterList([mod.Parameter(lib.ones(3)) for _ in range(2)])
                self.shift = mod.ParameterDict({"right": mod.Parameter(lib.zeros(3)),
                                                "left": mod.Parameter(lib.zeros(3))})

            def forward(self, x):
                return (x * self.scales[0] + self.shift["left"]) * self.scales[-1] + self.shift["right"]

        return Net()

    t, g = build(torch.nn, torch.nn.Module), build(nn, nn.Module)
    with torch.no_grad():
        for p in t.parameters():
            p.copy_(torch.tensor(randn(*p.shape)))
    assert list(g.state_dict()) == list(t.state_dict()) == ["scales.0", "scales.1", "shift.left", "shift.right"]
    copy_weights(g, t)
    t_opt, g_opt = torch.optim.SGD(t.parameters(), lr=0.1, momentum=0.9), graphc.optim.SGD(g.parameters(), lr=0.1,
                                                                                              momentum=0.9)
    x, y = randn(5, 3), randn(5, 3)
    for _ in range(3):
        for model, opt, lib in ((t, t_opt, torch), (g, g_opt, graphc)):
            opt.zero_grad()
            loss = ((model(lib.tensor(x)) - lib.tensor(y)) ** 2).mean()
            loss.backward()
            opt.step()
    for name, value in t.state_dict().items():
        np.testing.assert_allclose(g.state_dict()[name].numpy(), value.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)


def test_compiled_step_sees_parameter_list_changes():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.scales = nn.ParameterList([graphc.ones(3) * 2])

        def forward(self, x):
            for s in self.scales:
                x = x * s
            return x

    net = Net()
    fn = graphc.compile(net)
    x = graphc.ones(3)
    np.testing.assert_allclose(fn(x).numpy(), [2, 2, 2])
    net.scales.append(graphc.ones(3) * 3)  # one more parameter: the guard recompiles
    np.testing.assert_allclose(fn(x).numpy(), [6, 6, 6])
    net.scales[0] = graphc.ones(3) * 5  # a replaced parameter
    np.testing.assert_allclose(fn(x).numpy(), [15, 15, 15])


# ---------------------------------------------------------------------- a compiled model

class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 8, 3, padding=1, bias=False)  # (instance norm cancels a bias: its grad is noise)
        self.inorm = nn.InstanceNorm2d(8, affine=True, track_running_stats=True)
        self.drop = nn.Dropout2d(0.3)
        self.shuffle = nn.PixelShuffle(2)
        self.up = nn.Upsample(scale_factor=0.75, mode="bilinear")
        self.pool = nn.AdaptiveMaxPool2d((3, 2))
        self.norm = nn.RMSNorm(12)
        self.mix = nn.ParameterList([nn.Parameter(graphc.ones(12)), nn.Parameter(graphc.zeros(12))])
        self.alpha = nn.AlphaDropout(0.1)
        self.head = nn.Linear(12, 3)

    def forward(self, x):
        x = self.drop(F.relu(self.inorm(self.conv(x))))
        x = self.pool(self.up(self.shuffle(x)))  # (N, 2, 3, 2)
        x = self.norm(x.flatten(1)) * self.mix[0] + self.mix[1]
        return self.head(self.alpha(F.selu(x)))


def test_small_model_compiled_train_steps_equal_eager():
    xs = [graphc.tensor(randn(4, 2, 4, 4)) for _ in range(3)]
    ys = [graphc.tensor(rng.integers(0, 3, size=4)) for _ in range(3)]
    runs = []
    for compiled in (False, True):
        graphc.manual_seed(5)
        model = Small()
        opt = graphc.optim.Adam(model.parameters(), lr=0.01)
        loss_fn = nn.CrossEntropyLoss()

        def step(x, y, model=model, opt=opt, loss_fn=loss_fn):
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            return loss

        fn = graphc.compile(step) if compiled else step
        losses = [fn(x, y).item() for x, y in zip(xs, ys, strict=True)]
        model.eval()
        evaluated = model(xs[0]).detach().numpy()
        runs.append((losses, {k: v.numpy().copy() for k, v in model.state_dict().items()}, evaluated))
    (e_losses, e_sd, e_eval), (c_losses, c_sd, c_eval) = runs
    assert e_losses[0] != e_losses[-1]
    np.testing.assert_allclose(c_losses, e_losses, rtol=2e-5, atol=2e-6)
    assert list(c_sd) == list(e_sd)
    assert "inorm.running_mean" in e_sd and "mix.1" in e_sd
    for name, value in e_sd.items():
        np.testing.assert_allclose(c_sd[name], value, rtol=2e-5, atol=2e-6, err_msg=name)
    np.testing.assert_allclose(c_eval, e_eval, rtol=2e-5, atol=2e-6)
    assert copy.deepcopy(Small()).mix[0].shape == (12,)


# ---------------------------------------------------------------------- errors

def _i(*shape):
    return rng.standard_normal(shape).astype(np.float32)


ERROR_CASES = [
    ("rms_shape", lambda m, T: m.functional.rms_norm(T(_i(2, 3, 4)), (5,)),
     r"Given normalized_shape=\[5\], expected input with shape \[\*5\], but got input of size\[2, 3, 4\]"),
    ("rms_weight", lambda m, T: m.functional.rms_norm(T(_i(2, 4)), (4,), T(_i(3))),
     r"Expected weight to be of same shape as normalized_shape, but got weight of shape \[3\]"),
    ("instance_spatial", lambda m, T: m.functional.instance_norm(T(_i(2, 3, 1))),
     r"Expected more than 1 spatial element when training, got input size"),
    ("instance_weight", lambda m, T: m.functional.instance_norm(T(_i(2, 3, 4)), weight=T(_i(4))),
     r"weight should contain 6 elements not 8"),
    ("instance_no_stats", lambda m, T: m.functional.instance_norm(T(_i(2, 3, 4)), use_input_stats=False),
     r"Expected running_mean and running_var to be defined when use_input_stats is false"),
    ("instance_dims", lambda m, T: m.InstanceNorm1d(3)(T(_i(4))), r"expected 2D or 3D input \(got 1D input\)"),
    ("instance_features", lambda m, T: m.InstanceNorm2d(3, affine=True)(T(_i(2, 4, 3, 3))),
     r"expected input's size at dim=1 to match num_features \(3\), but got: 4."),
    ("lrn_dims", lambda m, T: m.functional.local_response_norm(T(_i(3, 4)), 2),
     r"Expected 3D or higher dimensionality"),
    ("dropout_p", lambda m, T: m.Dropout2d(1.5), r"dropout probability has to be between 0 and 1, but got 1.5"),
    ("alpha_p", lambda m, T: m.functional.alpha_dropout(T(_i(2)), -0.1, True),
     r"dropout probability has to be between 0 and 1, but got -0.1"),
    ("dropout1d_dims", lambda m, T: m.functional.dropout1d(T(_i(2, 3, 4, 5))), r"dropout1d: Expected 2D or 3D input, "
                                                                               r"but received a 4D input"),
    ("feature_dims", lambda m, T: m.functional.feature_alpha_dropout(T(_i(3)), 0.5, True),
     r"Feature dropout requires at least 2 dimensions in the input"),
    ("interp_bilinear_3d", lambda m, T: m.functional.interpolate(T(_i(2, 3, 4)), scale_factor=2, mode="bilinear"),
     r"Got 3D input, but bilinear mode needs 4D input"),
    ("interp_align", lambda m, T: m.functional.interpolate(T(_i(2, 3, 4)), scale_factor=2, align_corners=True),
     r"align_corners option can only be set with the interpolating modes"),
    ("interp_none", lambda m, T: m.functional.interpolate(T(_i(2, 3, 4))), r"either size or scale_factor should be "
                                                                           r"defined"),
    ("interp_both", lambda m, T: m.functional.interpolate(T(_i(2, 3, 4)), size=3, scale_factor=2),
     r"only one of size or scale_factor should be defined"),
    ("interp_dims", lambda m, T: m.functional.interpolate(T(_i(2, 3, 4)), size=(3, 3)),
     r"Input and output must have the same number of spatial dimensions"),
    ("interp_mode", lambda m, T: m.functional.interpolate(T(_i(2, 3, 4, 4)), size=3, mode="bicubc"),
     r"Input Error: Only 3D, 4D and 5D input Tensors supported \(got 4D\)"),
    ("interp_zero", lambda m, T: m.functional.interpolate(T(_i(2, 3, 4, 4)), scale_factor=0.1),
     r"Input and output sizes should be greater than 0, but got input \(H: 4, W: 4\) output \(H: 0, W: 0\)"),
    ("interp_zero_1d", lambda m, T: m.functional.interpolate(T(_i(2, 3, 4)), scale_factor=0.1),
     r"Input and output sizes should be greater than 0, but got input \(W: 4\) and output \(W: 0\)"),
    ("shuffle_dims", lambda m, T: m.functional.pixel_shuffle(T(_i(3, 4)), 2),
     r"pixel_shuffle expects input to have at least 3 dimensions, but got input with 2 dimension\(s\)"),
    ("shuffle_channels", lambda m, T: m.PixelShuffle(2)(T(_i(3, 7, 4, 4))),
     r"input.size\(-3\)=7 is not divisible by 4"),
    ("unshuffle_height", lambda m, T: m.PixelUnshuffle(2)(T(_i(3, 4, 5, 4))),
     r"pixel_unshuffle expects height to be divisible by downscale_factor, but input.size\(-2\)=5 is not divisible"),
    ("max_pool1d_dims", lambda m, T: m.MaxPool1d(2)(T(_i(2, 3, 4, 5))),
     r"max_pool1d: Expected 2D or 3D \(batch mode\) tensor with optional 0 dim batch size for input"),
    ("max_pool1d_pad", lambda m, T: m.functional.max_pool1d(T(_i(2, 3, 4)), 2, padding=2),
     r"max_pool1d\(\) padding should be at most half of kernel size, but got padding=2 and kernel_size=2"),
    ("max_pool1d_size", lambda m, T: m.functional.max_pool1d(T(_i(2, 3, 4)), 6),
     r"max_pool1d\(\) Invalid computed output size: 0"),
    ("avg_pool1d_dims", lambda m, T: m.AvgPool1d(2)(T(_i(2, 3, 4, 5))),
     r"Expected 2 to 3 dimensions, but got 4-dimensional tensor for argument #1 'self' \(while checking arguments "
     r"for avg_pool1d\)"),
    ("avg_pool1d_pad", lambda m, T: m.functional.avg_pool1d(T(_i(2, 3, 4)), 2, padding=2),
     r"pad should be at most half of effective kernel size, but got pad=2, kernel_size=2 and dilation=1"),
    ("adaptive_avg1d_dims", lambda m, T: m.AdaptiveAvgPool1d(2)(T(_i(2, 3, 4, 5))),
     r"Expected 2 to 3 dimensions, but got 4-dimensional tensor for argument #1 'self' \(while checking arguments "
     r"for adaptive_avg_pool1d\)"),
    ("adaptive_max2d_dims", lambda m, T: m.AdaptiveMaxPool2d(2)(T(_i(3, 4))),
     r"adaptive_max_pool2d\(\): Expected 3D or 4D tensor, but got: \[3, 4\]"),
    ("adaptive_max1d_size", lambda m, T: m.functional.adaptive_max_pool1d(T(_i(2, 3, 4)), (2, 3)),
     r"adaptive_max_pool1d\(\) argument 'output_size' should contain one int \(got 2\)"),
    ("plist_extend", lambda m, T: m.ParameterList().extend(T(_i(2))),
     r"ParameterList.extend should be called with an iterable, but got"),
    ("pdict_call", lambda m, T: m.ParameterDict()(T(_i(2))), r"ParameterDict should not be called."),
]


@pytest.mark.parametrize("name,call,message", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_bad_inputs_raise_torchs_error_with_a_fix(name, call, message):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception, match=message) as t_err:
            call(torch.nn, torch.tensor)
        with pytest.raises(GraphcError, match=message) as g_err:
            call(nn, graphc.tensor)
    assert isinstance(g_err.value, type(t_err.value)), (type(g_err.value), type(t_err.value))
    assert g_err.value.fix
