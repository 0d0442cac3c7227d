"""Attention against PyTorch: F.scaled_dot_product_attention, nn.MultiheadAttention,
nn.TransformerEncoderLayer and nn.TransformerEncoder with torch's weights copied in: outputs,
attention weights, and gradients of inputs and parameters; plus a compiled transformer train step."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import graphc  # noqa: E402
import graphc.nn.functional as F  # noqa: E402
from graphc import nn  # noqa: E402
from graphc.ir.errors import DTypeError, GraphcValueError, ShapeError  # noqa: E402

rng = np.random.default_rng(7)
TOL = {"rtol": 1e-4, "atol": 1e-5}


def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def leaves(*arrays):
    """The same float arrays as graphc and torch leaves that require grad."""
    return ([graphc.tensor(a, requires_grad=True) for a in arrays],
            [torch.tensor(a, requires_grad=True) for a in arrays])


def as_pair(x):
    if x is None or isinstance(x, (bool, float, int)):
        return x, x
    return graphc.tensor(x), torch.tensor(x)


def backward_same_seed(g_out, t_out):
    seed = randn(*t_out.shape)
    (g_out * graphc.tensor(seed)).sum().backward()
    (t_out * torch.tensor(seed)).sum().backward()


def assert_close(g, t, what=""):
    np.testing.assert_allclose(g.detach().numpy(), t.detach().numpy(), err_msg=what, **TOL)


# ---------------------------------------------------------------------- scaled_dot_product_attention
def _causal_safe_mask():
    m = rng.random((4, 6)) > 0.4
    m[1] = False  # a query row with every key masked out: zeros, not NaN
    return m


def _float_mask():
    m = randn(2, 1, 4, 6)
    m[0, 0, 2, :3] = -np.inf
    return m


SDPA_CASES = {
    "plain": ((2, 3, 4, 8), (2, 3, 6, 8), (2, 3, 6, 5), {}),
    "bool-mask-fully-masked-row": ((2, 3, 4, 8), (2, 3, 6, 8), (2, 3, 6, 8), {"attn_mask": _causal_safe_mask()}),
    "float-mask-broadcast": ((2, 3, 4, 8), (2, 3, 6, 8), (2, 3, 6, 8), {"attn_mask": _float_mask()}),
    "bool-mask-per-head": ((2, 3, 4, 8), (2, 3, 6, 8), (2, 3, 6, 8), {"attn_mask": rng.random((3, 4, 6)) > 0.3}),
    "causal-L<S": ((2, 3, 4, 8), (2, 3, 6, 8), (2, 3, 6, 8), {"is_causal": True}),
    "causal-square": ((3, 5, 8), (3, 5, 8), (3, 5, 8), {"is_causal": True}),
    "scale": ((2, 3, 4, 8), (2, 3, 6, 8), (2, 3, 6, 8), {"scale": 0.3}),
    "unbatched-2d": ((4, 8), (6, 8), (6, 3), {}),
    "five-dims": ((2, 2, 2, 3, 4), (2, 2, 2, 5, 4), (2, 2, 2, 5, 4), {"attn_mask": rng.random((3, 5)) > 0.2}),
    "gqa": ((2, 4, 3, 8), (2, 2, 5, 8), (2, 2, 5, 8), {"enable_gqa": True}),
}


@pytest.mark.parametrize("case", list(SDPA_CASES))
def test_sdpa_values_and_gradients_match_torch(case):
    qs, ks, vs, kwargs = SDPA_CASES[case]
    (gq, gk, gv), (tq, tk, tv) = leaves(randn(*qs), randn(*ks), randn(*vs))
    g_kw = {k: as_pair(v)[0] for k, v in kwargs.items()}
    t_kw = {k: as_pair(v)[1] for k, v in kwargs.items()}
    g_out = F.scaled_dot_product_attention(gq, gk, gv, **g_kw)
    t_out = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, **t_kw)
    assert tuple(g_out.shape) == tuple(t_out.shape)
    assert_close(g_out, t_out, "output")
    assert np.isfinite(g_out.detach().numpy()).all()
    backward_same_seed(g_out, t_out)
    for name, g, t in zip("qkv", (gq, gk, gv), (tq, tk, tv)):
        assert_close(g.grad, t.grad, f"grad of {name}")


def test_sdpa_float_mask_gets_gradient_like_torch():
    (gq, gk, gv, gm), (tq, tk, tv, tm) = leaves(randn(2, 4, 8), randn(2, 6, 8), randn(2, 6, 8), randn(4, 6))
    g_out = F.scaled_dot_product_attention(gq, gk, gv, attn_mask=gm)
    t_out = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, attn_mask=tm)
    backward_same_seed(g_out, t_out)
    assert_close(gm.grad, tm.grad, "grad of the mask")


def test_sdpa_dropout_zeroes_weights_and_rescales():
    q = graphc.tensor(np.zeros((1, 64, 4), np.float32))
    v = graphc.tensor(np.ones((1, 64, 1), np.float32))
    out = F.scaled_dot_product_attention(q, q, v, dropout_p=0.5).numpy()  # uniform weights 1/64
    kept = out[0, :, 0] * 64 / 2  # each row: (number of kept weights) / 64 / (1 - p)
    np.testing.assert_allclose(kept, np.round(kept), atol=1e-4)
    assert 0.3 < out.mean() < 1.7


def test_sdpa_errors_carry_torch_text_and_a_fix():
    q = graphc.tensor(randn(1, 2, 3, 4))
    k = graphc.tensor(randn(1, 2, 5, 4))
    with pytest.raises(ShapeError, match="Explicit attn_mask should not be set when is_causal=True") as e:
        F.scaled_dot_product_attention(q, k, k, attn_mask=graphc.tensor(np.ones((3, 5), bool)), is_causal=True)
    assert "fix:" in str(e.value)
    with pytest.raises(ShapeError, match=r"The size of tensor a \(3\) must match the size of tensor b \(4\) at "
                                         r"non-singleton dimension 2"):
        F.scaled_dot_product_attention(q, k, k, attn_mask=graphc.tensor(np.zeros((4, 5), np.float32)))
    with pytest.raises(DTypeError, match="Expected attn_mask dtype to be bool or float"):
        F.scaled_dot_product_attention(q, k, k, attn_mask=graphc.tensor(np.zeros((3, 5), np.int64)))


# ---------------------------------------------------------------------- MultiheadAttention
def copy_weights(g_mod, t_mod):
    assert list(g_mod.state_dict()) == list(t_mod.state_dict())
    g_mod.load_state_dict({k: graphc.tensor(v.detach().numpy().copy()) for k, v in t_mod.state_dict().items()})


def randomise_biases(t_mod):
    """torch zeroes the in/out projection biases; non-zero ones test their gradients better."""
    with torch.no_grad():
        for name, p in t_mod.named_parameters():
            if name.endswith("bias") and p.dim() == 1:
                p.copy_(torch.tensor(randn(*p.shape)) * 0.1)


def compare_params(g_mod, t_mod):
    t_params = dict(t_mod.named_parameters())
    assert [n for n, _ in g_mod.named_parameters()] == list(t_params)
    for name, p in g_mod.named_parameters():
        assert p.grad is not None, name
        assert_close(p.grad, t_params[name].grad, f"grad of {name}")


def run_mha(ctor, shapes, call, self_attention=False, train=True):
    t_mod = torch.nn.MultiheadAttention(**ctor)
    g_mod = nn.MultiheadAttention(**ctor)
    randomise_biases(t_mod)
    copy_weights(g_mod, t_mod)
    assert repr(g_mod) == repr(t_mod)
    g_mod.train(train)
    t_mod.train(train)
    arrays = [randn(*s) for s in shapes]
    g_in, t_in = leaves(*arrays)
    if self_attention:
        g_in, t_in = g_in * 3, t_in * 3
    g_kw = {k: as_pair(v)[0] for k, v in call.items()}
    t_kw = {k: as_pair(v)[1] for k, v in call.items()}
    g_out, g_w = g_mod(*g_in, **g_kw)
    t_out, t_w = t_mod(*t_in, **t_kw)
    assert_close(g_out, t_out, "output")
    if t_w is None:
        assert g_w is None
    else:
        assert_close(g_w, t_w, "attention weights")
    backward_same_seed(g_out, t_out)
    for i, (g, t) in enumerate(zip(g_in, t_in)):
        assert_close(g.grad, t.grad, f"grad of input {i}")
    compare_params(g_mod, t_mod)


def _kpm(n, s):
    m = rng.random((n, s)) > 0.7
    m[:, 0] = False  # every query keeps at least one key
    return m


MHA_CASES = {
    "seq-first": ({"embed_dim": 8, "num_heads": 2}, [(5, 3, 8), (6, 3, 8), (6, 3, 8)], {}),
    "batch-first": ({"embed_dim": 8, "num_heads": 2, "batch_first": True}, [(3, 5, 8), (3, 6, 8), (3, 6, 8)], {}),
    "no-avg-weights": ({"embed_dim": 8, "num_heads": 4}, [(5, 2, 8)] * 3, {"average_attn_weights": False}),
    "need-weights-false": ({"embed_dim": 8, "num_heads": 2}, [(5, 2, 8)] * 3, {"need_weights": False}),
    "kpm-bool": ({"embed_dim": 8, "num_heads": 2, "batch_first": True}, [(3, 4, 8), (3, 6, 8), (3, 6, 8)],
                 {"key_padding_mask": _kpm(3, 6)}),
    "kpm-sdpa-path": ({"embed_dim": 8, "num_heads": 2}, [(4, 3, 8), (6, 3, 8), (6, 3, 8)],
                      {"key_padding_mask": _kpm(3, 6), "need_weights": False}),
    "attn-mask-2d-bool": ({"embed_dim": 8, "num_heads": 2}, [(4, 2, 8), (6, 2, 8), (6, 2, 8)],
                          {"attn_mask": _kpm(4, 6)}),
    "attn-mask-3d-float+kpm": ({"embed_dim": 8, "num_heads": 2}, [(4, 2, 8), (6, 2, 8), (6, 2, 8)],
                               {"attn_mask": randn(4, 4, 6), "key_padding_mask": randn(2, 6)}),
    "attn-mask-3d-sdpa-path": ({"embed_dim": 8, "num_heads": 2}, [(4, 2, 8), (6, 2, 8), (6, 2, 8)],
                               {"attn_mask": randn(4, 4, 6), "need_weights": False}),
    "causal-hint": ({"embed_dim": 8, "num_heads": 2}, [(5, 2, 8)] * 3,
                    {"attn_mask": np.triu(np.ones((5, 5), bool), 1), "is_causal": True, "need_weights": False}),
    "kdim-vdim": ({"embed_dim": 8, "num_heads": 2, "kdim": 5, "vdim": 3}, [(4, 2, 8), (6, 2, 5), (6, 2, 3)], {}),
    "no-bias": ({"embed_dim": 8, "num_heads": 2, "bias": False}, [(4, 2, 8), (6, 2, 8), (6, 2, 8)], {}),
    "bias-kv-zero-attn": ({"embed_dim": 8, "num_heads": 2, "add_bias_kv": True, "add_zero_attn": True},
                          [(4, 2, 8), (6, 2, 8), (6, 2, 8)], {"key_padding_mask": _kpm(2, 6)}),
    "unbatched": ({"embed_dim": 8, "num_heads": 2}, [(4, 8), (6, 8), (6, 8)], {"key_padding_mask": _kpm(1, 6)[0]}),
}


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("case", list(MHA_CASES))
def test_multihead_attention_matches_torch(case, train):
    ctor, shapes, call = MHA_CASES[case]
    run_mha(ctor, shapes, call, train=train)


@pytest.mark.parametrize("batch_first", [False, True])
def test_multihead_self_attention_one_tensor_matches_torch(batch_first):
    t_mod = torch.nn.MultiheadAttention(8, 2, batch_first=batch_first)
    g_mod = nn.MultiheadAttention(8, 2, batch_first=batch_first)
    randomise_biases(t_mod)
    copy_weights(g_mod, t_mod)
    (gx,), (tx,) = leaves(randn(3, 5, 8))
    g_out, g_w = g_mod(gx, gx, gx)
    t_out, t_w = t_mod(tx, tx, tx)
    assert_close(g_out, t_out)
    assert_close(g_w, t_w)
    backward_same_seed(g_out, t_out)
    assert_close(gx.grad, tx.grad)
    compare_params(g_mod, t_mod)


def test_multihead_attention_init_follows_torch_distributions():
    m = nn.MultiheadAttention(32, 4)
    w = m.in_proj_weight.detach().numpy()
    bound = math.sqrt(6.0 / (32 + 96))  # xavier_uniform_ on (3E, E)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.all(m.in_proj_bias.detach().numpy() == 0) and np.all(m.out_proj.bias.detach().numpy() == 0)
    sep = nn.MultiheadAttention(8, 2, kdim=4, vdim=6)
    assert sep.in_proj_weight is None and tuple(sep.k_proj_weight.shape) == (8, 4)
    assert list(sep.state_dict()) == list(torch.nn.MultiheadAttention(8, 2, kdim=4, vdim=6).state_dict())


def test_multihead_attention_errors_carry_torch_text_and_a_fix():
    with pytest.raises(GraphcValueError, match="embed_dim must be divisible by num_heads") as e:
        nn.MultiheadAttention(6, 4)
    assert "fix:" in str(e.value)
    m = nn.MultiheadAttention(8, 2)
    x = graphc.tensor(randn(4, 2, 8))
    with pytest.raises(ShapeError, match=r"The shape of the 2D attn_mask is \[4, 5\], but should be \(4, 4\)\."):
        m(x, x, x, attn_mask=graphc.tensor(np.zeros((4, 5), bool)))
    with pytest.raises(ShapeError, match=r"The shape of the 3D attn_mask is \[2, 4, 4\], but should be \(4, 4, 4\)"):
        m(x, x, x, attn_mask=graphc.tensor(np.zeros((2, 4, 4), np.float32)))
    with pytest.raises(ShapeError, match=r"expecting key_padding_mask shape of \(2, 4\), but got \[2, 3\]"):
        m(x, x, x, key_padding_mask=graphc.tensor(np.zeros((2, 3), bool)))
    with pytest.raises(ShapeError, match="query should be unbatched 2D or batched 3D tensor"):
        m(graphc.tensor(randn(1, 4, 2, 8)), x, x)
    with pytest.raises(ShapeError, match="was expecting embedding dimension of 8, but got 6"):
        y = graphc.tensor(randn(4, 2, 6))
        m(y, y, y)
    with pytest.raises(GraphcValueError, match="Need attn_mask if specifying the is_causal hint"):
        m(x, x, x, is_causal=True)


# ---------------------------------------------------------------------- Transformer encoder
def run_encoder(g_mod, t_mod, src_shape, call, train=True):
    randomise_biases(t_mod)
    copy_weights(g_mod, t_mod)
    assert repr(g_mod) == repr(t_mod)
    g_mod.train(train)
    t_mod.train(train)
    (gx,), (tx,) = leaves(randn(*src_shape))
    g_kw = {k: as_pair(v)[0] for k, v in call.items()}
    t_kw = {k: as_pair(v)[1] for k, v in call.items()}
    g_out, t_out = g_mod(gx, **g_kw), t_mod(tx, **t_kw)
    assert_close(g_out, t_out, "output")
    backward_same_seed(g_out, t_out)
    assert_close(gx.grad, tx.grad, "grad of src")
    compare_params(g_mod, t_mod)


LAYER_CASES = {
    "post-norm": ({}, (5, 3, 8), {}),
    "pre-norm-batch-first": ({"norm_first": True, "batch_first": True}, (3, 5, 8), {}),
    "gelu-kpm": ({"activation": "gelu", "batch_first": True}, (3, 5, 8), {"src_key_padding_mask": _kpm(3, 5)}),
    "callable-activation-mask": ({"activation": "silu"}, (5, 2, 8), {"src_mask": _kpm(5, 5)}),
    "causal": ({"norm_first": True}, (5, 2, 8),
               {"src_mask": np.triu(np.ones((5, 5), bool), 1), "is_causal": True}),
    "no-bias-eps": ({"bias": False, "layer_norm_eps": 1e-3}, (4, 2, 8), {}),
}


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("case", list(LAYER_CASES))
def test_transformer_encoder_layer_matches_torch(case, train):
    ctor, shape, call = LAYER_CASES[case]
    g_ctor, t_ctor = dict(ctor), dict(ctor)
    if ctor.get("activation") == "silu":
        g_ctor["activation"], t_ctor["activation"] = F.silu, torch.nn.functional.silu
    g_mod = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, **g_ctor)
    t_mod = torch.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, **t_ctor)
    run_encoder(g_mod, t_mod, shape, call, train=train)


@pytest.mark.parametrize("batch_first", [False, True])
def test_transformer_encoder_matches_torch(batch_first):
    def build(lib):
        layer = lib.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=batch_first)
        return lib.nn.TransformerEncoder(layer, 2, norm=lib.nn.LayerNorm(8), enable_nested_tensor=False)

    g_mod, t_mod = build(graphc), build(torch)
    assert g_mod.layers[0].linear1.weight is not g_mod.layers[1].linear1.weight
    shape = (3, 5, 8) if batch_first else (5, 3, 8)
    n = 3
    run_encoder(g_mod, t_mod, shape, {"src_key_padding_mask": _kpm(n, 5)})


def test_encoder_layer_eval_under_no_grad_matches_torch_fast_path():
    t_mod = torch.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=True).eval()
    g_mod = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=True).eval()
    copy_weights(g_mod, t_mod)
    x = randn(2, 5, 8)
    with torch.no_grad(), graphc.no_grad():
        assert_close(g_mod(graphc.tensor(x)), t_mod(torch.tensor(x)))


def test_transformer_errors_carry_torch_text_and_a_fix():
    with pytest.raises(GraphcValueError, match="activation should be relu/gelu, not tanh") as e:
        nn.TransformerEncoderLayer(8, 2, activation="tanh")
    assert "fix:" in str(e.value)
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16)
    with pytest.raises(ShapeError, match=r"The shape of the 2D attn_mask is \[3, 3\], but should be \(4, 4\)"):
        layer(graphc.tensor(randn(4, 2, 8)), src_mask=graphc.tensor(np.zeros((3, 3), bool)))


# ---------------------------------------------------------------------- compiled train step
class TinyClassifier(nn.Module):
    def __init__(self, dropout):
        super().__init__()
        self.embed = nn.Linear(6, 16)
        layer = nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2)
        self.head = nn.Linear(16, 3)

    def forward(self, x, pad):
        h = self.encoder(self.embed(x), src_key_padding_mask=pad)
        return self.head(h.mean(dim=1))


def _batches(steps):
    out = []
    for _ in range(steps):
        pad = np.zeros((4, 5), bool)
        pad[1, 3:] = True
        out.append((randn(4, 5, 6), pad, rng.integers(0, 3, 4).astype(np.int64)))
    return out


@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_compiled_transformer_train_step_equals_eager(optimizer):
    models = [TinyClassifier(0.0), TinyClassifier(0.0)]
    models[1].load_state_dict(models[0].state_dict())
    # the key bias's gradient is zero up to rounding (softmax ignores a per-row constant); Adam's
    # default eps would turn that rounding noise into full-size steps, so give it a larger eps
    extra = {"eps": 1e-4} if optimizer == "Adam" else {}
    opts = [getattr(graphc.optim, optimizer)(m.parameters(), lr=0.05, **extra) for m in models]
    loss_fn = nn.CrossEntropyLoss()

    def make_step(model, opt):
        def step(x, pad, y):
            opt.zero_grad()
            loss = loss_fn(model(x, pad), y)
            loss.backward()
            opt.step()
            return loss
        return step

    eager = make_step(models[0], opts[0])
    compiled = graphc.compile(make_step(models[1], opts[1]))
    for x, pad, y in _batches(3):
        args = (graphc.tensor(x), graphc.tensor(pad), graphc.tensor(y))
        assert compiled(*args).item() == pytest.approx(eager(*args).item(), rel=1e-4)
    for (name, p), q in zip(models[0].named_parameters(), models[1].parameters()):
        np.testing.assert_allclose(q.detach().numpy(), p.detach().numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


def test_compiled_transformer_train_step_with_dropout_trains():
    model = TinyClassifier(0.2)
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    opt = graphc.optim.Adam(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()

    @graphc.compile
    def step(x, pad, y):
        opt.zero_grad()
        loss = loss_fn(model(x, pad), y)
        loss.backward()
        opt.step()
        return loss

    x, pad, y = _batches(1)[0]
    args = (graphc.tensor(x), graphc.tensor(pad), graphc.tensor(y))
    losses = [step(*args).item() for _ in range(3)]
    assert all(np.isfinite(losses))
    after = model.state_dict()
    assert all(not np.array_equal(before[k], after[k].numpy()) for k in before)
