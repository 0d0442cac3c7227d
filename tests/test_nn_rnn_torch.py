"""Recurrent layers against PyTorch: nn.RNN / LSTM / GRU and their cells with torch's weights copied
in (outputs, final states, gradients of inputs, initial states and every parameter), over layers,
directions, layouts and unbatched input; a compiled LSTM classifier's train steps against eager;
dropout between layers; and the errors of bad inputs."""

import doctest
import math
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import graphc  # noqa: E402
from graphc import nn  # noqa: E402
from graphc.ir.errors import GraphcError, GraphcTypeError, GraphcValueError, ShapeError  # noqa: E402
from graphc.nn import rnn, rnn_cells  # noqa: E402

# torch notes that its oneDNN path lacks proj_size and falls back to its default one
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
rng = np.random.default_rng(11)
TOL = {"rtol": 1e-4, "atol": 1e-5}
IN, HID, PROJ, SEQ, BATCH = 3, 5, 2, 4, 2


def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def assert_close(g, t, what=""):
    assert tuple(g.shape) == tuple(t.shape), what
    np.testing.assert_allclose(g.detach().numpy(), t.detach().numpy(), err_msg=what, **TOL)


def copy_weights(g_mod, t_mod):
    assert list(g_mod.state_dict()) == list(t_mod.state_dict())
    g_mod.load_state_dict({k: graphc.tensor(v.detach().numpy().copy()) for k, v in t_mod.state_dict().items()})


def build(kind, **kwargs):
    """The same layer in graphc and torch, torch's weights copied into graphc's."""
    name, extra = {"RNN-tanh": ("RNN", {}), "RNN-relu": ("RNN", {"nonlinearity": "relu"}),
                   "LSTM-proj": ("LSTM", {"proj_size": PROJ})}.get(kind, (kind, {}))
    t_mod = getattr(torch.nn, name)(**extra, **kwargs)
    g_mod = getattr(nn, name)(**extra, **kwargs)
    copy_weights(g_mod, t_mod)
    assert repr(g_mod) == repr(t_mod)
    return g_mod, t_mod


def flat(result):
    """(output, h) / (output, (h, c)) / h / (h, c) as a flat list of tensors."""
    out = []
    for r in (result if isinstance(result, tuple) else (result,)):
        out.extend(r if isinstance(r, tuple) else (r,))
    return out


def compare(g_mod, t_mod, g_args, t_args, leaves_g, leaves_t):
    """Values of every result, then the gradients of every leaf and parameter for one random seed."""
    g_res, t_res = flat(g_mod(*g_args)), flat(t_mod(*t_args))
    assert len(g_res) == len(t_res)
    g_loss, t_loss = 0, 0
    for i, (g, t) in enumerate(zip(g_res, t_res)):
        assert_close(g, t, f"result {i}")
        seed = randn(*t.shape)
        g_loss = g_loss + (g * graphc.tensor(seed)).sum()
        t_loss = t_loss + (t * torch.tensor(seed)).sum()
    g_loss.backward()
    t_loss.backward()
    for i, (g, t) in enumerate(zip(leaves_g, leaves_t)):
        assert_close(g.grad, t.grad, f"grad of leaf {i}")
    t_params = dict(t_mod.named_parameters())
    assert [n for n, _ in g_mod.named_parameters()] == list(t_params)
    for name, p in g_mod.named_parameters():
        assert p.grad is not None, name
        assert_close(p.grad, t_params[name].grad, f"grad of {name}")


def leaf(*shape):
    a = randn(*shape)
    return graphc.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


def initial_states(kind, rows, batch):
    """Leaf initial states (None when not given) in graphc and torch, and the leaves to check."""
    h_size = PROJ if kind == "LSTM-proj" else HID
    h = leaf(rows, *batch, h_size)
    if not kind.startswith("LSTM"):
        return h[0], h[1], [h[0]], [h[1]]
    c = leaf(rows, *batch, HID)
    return (h[0], c[0]), (h[1], c[1]), [h[0], c[0]], [h[1], c[1]]


KINDS = ["RNN-tanh", "RNN-relu", "LSTM", "GRU", "LSTM-proj"]


@pytest.mark.parametrize("with_hx", [False, True], ids=["zero-state", "given-state"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["seq-first", "batch-first"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("kind", KINDS)
def test_recurrent_layer_matches_torch(kind, num_layers, bidirectional, batch_first, with_hx):
    g_mod, t_mod = build(kind, input_size=IN, hidden_size=HID, num_layers=num_layers,
                         bidirectional=bidirectional, batch_first=batch_first)
    gx, tx = leaf(*((BATCH, SEQ, IN) if batch_first else (SEQ, BATCH, IN)))
    g_args, t_args, g_leaves, t_leaves = [gx], [tx], [gx], [tx]
    if with_hx:
        g_hx, t_hx, g_l, t_l = initial_states(kind, num_layers * (2 if bidirectional else 1), (BATCH,))
        g_args.append(g_hx)
        t_args.append(t_hx)
        g_leaves += g_l
        t_leaves += t_l
    compare(g_mod, t_mod, g_args, t_args, g_leaves, t_leaves)


@pytest.mark.parametrize("with_hx", [False, True], ids=["zero-state", "given-state"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["seq-first", "batch-first"])
@pytest.mark.parametrize("kind", KINDS)
def test_recurrent_layer_unbatched_input_matches_torch(kind, batch_first, with_hx):
    g_mod, t_mod = build(kind, input_size=IN, hidden_size=HID, num_layers=2, bidirectional=True,
                         batch_first=batch_first)
    gx, tx = leaf(SEQ, IN)
    g_args, t_args, g_leaves, t_leaves = [gx], [tx], [gx], [tx]
    if with_hx:
        g_hx, t_hx, g_l, t_l = initial_states(kind, 4, ())
        g_args.append(g_hx)
        t_args.append(t_hx)
        g_leaves += g_l
        t_leaves += t_l
    compare(g_mod, t_mod, g_args, t_args, g_leaves, t_leaves)


@pytest.mark.parametrize("kind", ["RNN-tanh", "LSTM", "GRU", "LSTM-proj"])
def test_recurrent_layer_without_bias_matches_torch(kind):
    g_mod, t_mod = build(kind, input_size=IN, hidden_size=HID, num_layers=2, bias=False, bidirectional=True)
    assert not any("bias" in n for n, _ in g_mod.named_parameters())
    gx, tx = leaf(SEQ, BATCH, IN)
    compare(g_mod, t_mod, [gx], [tx], [gx], [tx])


def test_float64_layer_matches_torch():
    t_mod = torch.nn.GRU(IN, HID, 2, bidirectional=True).double()
    g_mod = nn.GRU(IN, HID, 2, bidirectional=True, dtype=graphc.float64)
    copy_weights(g_mod, t_mod)
    a = rng.standard_normal((SEQ, BATCH, IN))
    gx, tx = graphc.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    compare(g_mod, t_mod, [gx], [tx], [gx], [tx])


# ---------------------------------------------------------------------- cells
CELLS = {"RNNCell-tanh": ("RNNCell", {}), "RNNCell-relu": ("RNNCell", {"nonlinearity": "relu"}),
         "LSTMCell": ("LSTMCell", {}), "GRUCell": ("GRUCell", {})}


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("with_hx", [False, True], ids=["zero-state", "given-state"])
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("case", list(CELLS))
def test_cell_matches_torch(case, batched, with_hx, bias):
    name, extra = CELLS[case]
    t_mod = getattr(torch.nn, name)(IN, HID, bias=bias, **extra)
    g_mod = getattr(nn, name)(IN, HID, bias=bias, **extra)
    copy_weights(g_mod, t_mod)
    assert repr(g_mod) == repr(t_mod)
    lead = (BATCH,) if batched else ()
    gx, tx = leaf(*lead, IN)
    g_args, t_args, g_leaves, t_leaves = [gx], [tx], [gx], [tx]
    if with_hx:
        states = [leaf(*lead, HID) for _ in range(2 if name == "LSTMCell" else 1)]
        g_s, t_s = [s[0] for s in states], [s[1] for s in states]
        g_args.append(tuple(g_s) if name == "LSTMCell" else g_s[0])
        t_args.append(tuple(t_s) if name == "LSTMCell" else t_s[0])
        g_leaves += g_s
        t_leaves += t_s
    compare(g_mod, t_mod, g_args, t_args, g_leaves, t_leaves)


def test_cell_unrolled_by_hand_matches_torch_lstm():
    """An LSTMCell stepped in a Python loop equals nn.LSTM with the same weights (torch's layer)."""
    t_lstm = torch.nn.LSTM(IN, HID)
    cell = nn.LSTMCell(IN, HID)
    cell.load_state_dict({k[:-3]: graphc.tensor(v.detach().numpy().copy()) for k, v in t_lstm.state_dict().items()})
    x = randn(SEQ, BATCH, IN)
    state = None
    outs = []
    for t in range(SEQ):
        state = cell(graphc.tensor(x[t]), state)
        outs.append(state[0])
    t_out, _ = t_lstm(torch.tensor(x))
    assert_close(graphc.stack(outs), t_out)


# ---------------------------------------------------------------------- parameters
def test_parameter_names_order_and_init_follow_torch():
    g = nn.LSTM(IN, 8, num_layers=2, bidirectional=True, proj_size=3)
    t = torch.nn.LSTM(IN, 8, num_layers=2, bidirectional=True, proj_size=3)
    assert list(g.state_dict()) == list(t.state_dict())
    for (name, p), q in zip(g.named_parameters(), t.parameters()):
        assert tuple(p.shape) == tuple(q.shape), name
        w = p.detach().numpy()
        assert np.abs(w).max() <= 1 / math.sqrt(8) and np.abs(w).max() > 0.5 / math.sqrt(8), name
    assert [len(ws) for ws in g.all_weights] == [5] * 4
    g.flatten_parameters()  # a no-op kept for ported code
    cell = nn.GRUCell(IN, 16)
    assert list(cell.state_dict()) == list(torch.nn.GRUCell(IN, 16).state_dict())
    assert np.abs(cell.weight_hh.detach().numpy()).max() <= 0.25


def test_reprs_follow_torch():
    for args, kwargs in [((3, 4), {"nonlinearity": "relu"}), ((3, 4, 2), {"batch_first": True, "dropout": 0.5}),
                         ((3, 4), {"bias": False, "bidirectional": True})]:
        assert repr(nn.RNN(*args, **kwargs)) == repr(torch.nn.RNN(*args, **kwargs))
    assert repr(nn.LSTM(3, 4, proj_size=2)) == repr(torch.nn.LSTM(3, 4, proj_size=2))
    assert repr(nn.RNNCell(3, 4, bias=False, nonlinearity="relu")) == repr(
        torch.nn.RNNCell(3, 4, bias=False, nonlinearity="relu"))


def test_module_docstring_examples_run():
    for module in (rnn, rnn_cells):
        failed, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert tried > 0 and failed == 0, module.__name__


# ---------------------------------------------------------------------- compiled training
class Classifier(nn.Module):
    def __init__(self, dropout=0.0, num_layers=1):
        super().__init__()
        self.lstm = nn.LSTM(IN, 8, num_layers=num_layers, batch_first=True, dropout=dropout)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        out, (h_n, _) = self.lstm(x)
        return self.head(out[:, -1] + h_n[-1])


def _train_step(model, opt):
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def _batches(steps):
    return [(graphc.tensor(randn(4, 6, IN)), graphc.tensor(rng.integers(0, 3, 4).astype(np.int64)))
            for _ in range(steps)]


def test_compiled_lstm_classifier_train_step_equals_eager():
    models = [Classifier(), Classifier()]
    models[1].load_state_dict(models[0].state_dict())
    opts = [graphc.optim.Adam(m.parameters(), lr=0.05) for m in models]
    eager = _train_step(models[0], opts[0])
    compiled = graphc.compile(_train_step(models[1], opts[1]))
    for x, y in _batches(3):
        assert compiled(x, y).item() == pytest.approx(eager(x, y).item(), rel=1e-4)
    for (name, p), q in zip(models[0].named_parameters(), models[1].parameters()):
        np.testing.assert_allclose(q.detach().numpy(), p.detach().numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


def test_compiled_forward_matches_torch():
    g_mod, t_mod = build("GRU", input_size=IN, hidden_size=HID, num_layers=2, bidirectional=True)
    x, h0 = randn(SEQ, BATCH, IN), randn(4, BATCH, HID)
    out, h_n = graphc.compile(g_mod)(graphc.tensor(x), graphc.tensor(h0))
    t_out, t_h = t_mod(torch.tensor(x), torch.tensor(h0))
    assert_close(out, t_out, "output")
    assert_close(h_n, t_h, "h_n")


def test_dropout_between_layers_compiles_and_trains():
    model = Classifier(dropout=0.5, num_layers=2)
    x, y = _batches(1)[0]
    model.eval()
    with graphc.no_grad():
        eval_out = model(x).numpy()
        np.testing.assert_array_equal(model(x).numpy(), eval_out)  # eval: no dropout
    model.train()
    with graphc.no_grad():
        assert not np.allclose(model(x).numpy(), eval_out)  # training: the layer-0 output is dropped out
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    step = graphc.compile(_train_step(model, graphc.optim.Adam(model.parameters(), lr=0.01)))
    losses = [step(x, y).item() for _ in range(3)]
    assert all(np.isfinite(losses))
    after = model.state_dict()
    assert all(not np.array_equal(before[k], after[k].numpy()) for k in before)


def test_dropout_with_one_layer_warns_as_torch():
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        nn.GRU(IN, HID, dropout=0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.GRU(IN, HID, num_layers=2, dropout=0.2)


# ---------------------------------------------------------------------- errors
def _raises(cls, text, fn, *args):
    with pytest.raises(cls, match=text) as e:
        fn(*args)
    assert isinstance(e.value, GraphcError) and "fix:" in str(e.value)


def test_layer_errors_carry_torch_text_and_a_fix():
    lstm, gru, rnn_ = nn.LSTM(4, 5, 2), nn.GRU(4, 5), nn.RNN(4, 5)
    x = graphc.tensor(randn(7, 3, 4))
    _raises(ShapeError, r"input.size\(-1\) must be equal to input_size. Expected 4, got 6", lstm,
            graphc.tensor(randn(7, 3, 6)))
    _raises(ShapeError, r"Expected hidden\[0\] size \(2, 3, 5\), got \[1, 3, 5\]", lstm, x,
            (graphc.tensor(randn(1, 3, 5)), graphc.tensor(randn(2, 3, 5))))
    _raises(ShapeError, r"Expected hidden\[1\] size \(2, 3, 5\), got \[2, 3, 6\]", lstm, x,
            (graphc.tensor(randn(2, 3, 5)), graphc.tensor(randn(2, 3, 6))))
    _raises(ShapeError, r"Expected hidden size \(1, 3, 5\), got \[1, 2, 5\]", gru, x, graphc.tensor(randn(1, 2, 5)))
    _raises(ShapeError, r"For batched 3-D input, hx should also be 3-D but got 2-D tensor", rnn_, x,
            graphc.tensor(randn(3, 5)))
    _raises(ShapeError, r"For unbatched 2-D input, hx and cx should also be 2-D but got \(3-D, 3-D\) tensors", lstm,
            graphc.tensor(randn(7, 4)), (graphc.tensor(randn(2, 1, 5)), graphc.tensor(randn(2, 1, 5))))
    _raises(GraphcValueError, r"LSTM: Expected input to be 2D or 3D, got 4D instead", lstm,
            graphc.tensor(randn(7, 3, 4, 1)))
    _raises(GraphcValueError, r"RNN: Expected input to be 2D or 3D, got 1D tensor instead", rnn_,
            graphc.tensor(randn(4)))
    _raises(GraphcValueError, r"RNN input dtype \(graphc.float64\) does not match weight dtype \(graphc.float32\)",
            gru, graphc.tensor(rng.standard_normal((7, 3, 4))))


def test_layer_errors_match_torch_messages():
    """The same bad calls in torch raise the same text (graphc's adds the source line and a fix)."""
    cases = [((7, 3, 6), None), ((7, 3, 4), (1, 3, 5)), ((7, 3, 4), (3, 5))]
    for x_shape, h_shape in cases:
        args_t = [torch.zeros(x_shape)] + ([] if h_shape is None else [torch.zeros(h_shape)])
        args_g = [graphc.zeros(*x_shape)] + ([] if h_shape is None else [graphc.zeros(*h_shape)])
        with pytest.raises(RuntimeError) as t_err:
            torch.nn.GRU(4, 5, 2)(*args_t)
        with pytest.raises(RuntimeError) as g_err:
            nn.GRU(4, 5, 2)(*args_g)
        assert g_err.value.message == str(t_err.value)


def test_packed_sequence_is_refused_with_a_fix():
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.zeros(5, 2, 4), [5, 3])
    for mod in (nn.LSTM(4, 5), nn.GRU(4, 5), nn.RNN(4, 5)):
        _raises(GraphcTypeError, "PackedSequence input is not supported", mod, packed)


def test_constructor_errors_carry_torch_text():
    with pytest.raises(GraphcValueError, match="proj_size argument is only supported for LSTM, not RNN or GRU"):
        nn.GRU(3, 4, proj_size=2)
    with pytest.raises(GraphcValueError, match="proj_size has to be smaller than hidden_size"):
        nn.LSTM(3, 4, proj_size=4)
    with pytest.raises(GraphcValueError, match=r"Unknown nonlinearity 'gelu'. Select from 'tanh' or 'relu'."):
        nn.RNN(3, 4, nonlinearity="gelu")
    with pytest.raises(GraphcValueError, match=r"dropout should be a number in range \[0, 1\]"):
        nn.LSTM(3, 4, 2, dropout=1.5)
    with pytest.raises(GraphcTypeError, match="hidden_size should be of type int, got: float"):
        nn.LSTM(3, 4.0)
    with pytest.raises(GraphcValueError, match="num_layers must be greater than zero"):
        nn.GRU(3, 4, 0)


def test_cell_errors_carry_torch_text_and_a_fix():
    lstm, gru = nn.LSTMCell(4, 5), nn.GRUCell(4, 5)
    x = graphc.tensor(randn(3, 4))
    _raises(ShapeError, "input has inconsistent input_size: got 6 expected 4", lstm, graphc.tensor(randn(3, 6)))
    _raises(ShapeError, "Input batch size 3 doesn't match hidden0 batch size 2", gru, x, graphc.tensor(randn(2, 5)))
    _raises(ShapeError, "hidden0 has inconsistent hidden_size: got 6, expected 5", gru, x, graphc.tensor(randn(3, 6)))
    _raises(ShapeError, "hidden1 has inconsistent hidden_size: got 7, expected 5", lstm, x,
            (graphc.tensor(randn(3, 5)), graphc.tensor(randn(3, 7))))
    _raises(GraphcValueError, "GRUCell: Expected input to be 1D or 2D, got 3D instead", gru,
            graphc.tensor(randn(1, 3, 4)))
    _raises(GraphcValueError, r"LSTMCell: Expected hx\[1\] to be 1D or 2D, got 3D instead", lstm, x,
            (graphc.tensor(randn(3, 5)), graphc.tensor(randn(1, 3, 5))))
    _raises(GraphcValueError, "RNNCell: Expected hidden to be 1D or 2D, got 3D instead", nn.RNNCell(4, 5), x,
            graphc.tensor(randn(1, 3, 5)))
