"""RNNCell, LSTMCell and GRUCell, and the one-time-step functions nn.RNN / LSTM / GRU unroll.

Built from ``linear``, ``sigmoid``, ``tanh``, ``relu``, slices and arithmetic: there is no
recurrent op in the IR, so a cell runs eagerly, differentiates and compiles like any layer.

    >>> import graphc
    >>> from graphc import nn
    >>> cell = nn.LSTMCell(10, 20)
    >>> h, c = cell(graphc.randn(3, 10))
    >>> h.shape, c.shape
    (graphc.Size([3, 20]), graphc.Size([3, 20]))
"""

from __future__ import annotations

import math

from graphc.ir.errors import GraphcValueError, ShapeError

from . import _prims as P
from . import functional as F
from . import init
from ._factory import factory_dtype, new_param
from .module import Module


def zeros(shape, dtype):
    """A zero initial state (a broadcast constant: nothing to read, no gradient to keep)."""
    return P.expand(P.const(0.0, dtype), shape)


def _chunks(gates, n: int):
    """Split (N, n * H) gate pre-activations into n (N, H) pieces, PyTorch's ``chunk(n, 1)``."""
    size = gates.shape[-1] // n
    return [P.slice_(gates, -1, k * size, (k + 1) * size) for k in range(n)]


def rnn_step(gx, h, w_hh, b_hh, nonlinearity: str = "tanh"):
    """h' = act(gx + h @ w_hh.T + b_hh), where ``gx = x @ w_ih.T + b_ih`` is precomputed."""
    pre = P.add(gx, F.linear(h, w_hh, b_hh))
    return F.tanh(pre) if nonlinearity == "tanh" else F.relu(pre)


def lstm_step(gx, h, c, w_hh, b_hh, w_hr=None):
    """One LSTM step in PyTorch's gate order (input, forget, cell, output); ``w_hr`` projects h'."""
    i, f, g, o = _chunks(P.add(gx, F.linear(h, w_hh, b_hh)), 4)
    c_next = P.add(P.mul(F.sigmoid(f), c), P.mul(F.sigmoid(i), F.tanh(g)))
    h_next = P.mul(F.sigmoid(o), F.tanh(c_next))
    if w_hr is not None:
        h_next = F.linear(h_next, w_hr)
    return h_next, c_next


def gru_step(gx, h, w_hh, b_hh):
    """One GRU step (reset, update, new): n = tanh(gx_n + r * (h @ w_hn.T + b_hn)), h' = n + z * (h - n)."""
    x_r, x_z, x_n = _chunks(gx, 3)
    h_r, h_z, h_n = _chunks(F.linear(h, w_hh, b_hh), 3)
    r = F.sigmoid(P.add(x_r, h_r))
    z = F.sigmoid(P.add(x_z, h_z))
    n = F.tanh(P.add(x_n, P.mul(r, h_n)))
    return P.add(n, P.mul(z, P.sub(h, n)))


class RNNCellBase(Module):
    """The parameters every cell has: ``weight_ih`` (chunks * H, input_size), ``weight_hh``
    (chunks * H, H), ``bias_ih`` and ``bias_hh`` (chunks * H), all ~ U(-1/sqrt(H), 1/sqrt(H))."""

    _name = "RNNCell"

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int, device=None, dtype=None):
        super().__init__()
        dt = factory_dtype(device, dtype)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = new_param((num_chunks * hidden_size, input_size), dt)
        self.weight_hh = new_param((num_chunks * hidden_size, hidden_size), dt)
        if bias:
            self.bias_ih = new_param((num_chunks * hidden_size,), dt)
            self.bias_hh = new_param((num_chunks * hidden_size,), dt)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def _check_dims(self, input, states, names):
        if input.ndim not in (1, 2):
            raise GraphcValueError(f"{self._name}: Expected input to be 1D or 2D, got {input.ndim}D instead",
                                   fix=f"pass one time step: (batch, {self.input_size}) or ({self.input_size},)")
        for name, s in zip(names, states):
            if s is not None and s.ndim not in (1, 2):
                raise GraphcValueError(f"{self._name}: Expected {name} to be 1D or 2D, got {s.ndim}D instead",
                                       fix=f"pass the state as (batch, {self.hidden_size}) or ({self.hidden_size},)")

    def _check_sizes(self, input, states):
        """PyTorch's checks of one step's input and hidden states (the text of its C++ checks)."""
        if input.shape[1] != self.input_size:
            raise ShapeError(f"input has inconsistent input_size: got {input.shape[1]} expected {self.input_size}",
                             fix=f"the last dimension of the input must be input_size={self.input_size}")
        for k, s in enumerate(states):
            if s.shape[0] != input.shape[0]:
                raise ShapeError(f"Input batch size {input.shape[0]} doesn't match hidden{k} batch size {s.shape[0]}",
                                 fix="give the hidden state the input's batch size")
            if s.shape[1] != self.hidden_size:
                raise ShapeError(f"hidden{k} has inconsistent hidden_size: got {s.shape[1]}, expected "
                                 f"{self.hidden_size}", fix=f"the state's last dimension must be {self.hidden_size}")

    def _batched(self, input, states):
        """(input, states) as 2-D tensors (zeros for missing states) and whether the input was batched."""
        batched = input.ndim == 2
        if not batched:
            input = P.unsqueeze(input, 0)
        states = [zeros((input.shape[0], self.hidden_size), input.dtype) if s is None
                  else (s if batched else P.unsqueeze(s, 0)) for s in states]
        self._check_sizes(input, states)
        return input, states, batched


class RNNCell(RNNCellBase):
    """An Elman RNN cell: h' = tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh) (or relu)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        self._check_dims(input, [hx], ["hidden"])
        if self.nonlinearity not in ("tanh", "relu"):
            raise GraphcValueError(f"Unknown nonlinearity: {self.nonlinearity}", fix="use 'tanh' or 'relu'")
        x, (h,), batched = self._batched(input, [hx])
        out = rnn_step(F.linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh, self.nonlinearity)
        return out if batched else P.squeeze(out, 0)


class LSTMCell(RNNCellBase):
    """A long short-term memory cell; ``forward(input, (h, c))`` returns ``(h', c')``."""

    _name = "LSTMCell"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        states = [None, None] if hx is None else list(hx)
        self._check_dims(input, states, ["hx[0]", "hx[1]"])
        x, (h, c), batched = self._batched(input, states)
        h, c = lstm_step(F.linear(x, self.weight_ih, self.bias_ih), h, c, self.weight_hh, self.bias_hh)
        return (h, c) if batched else (P.squeeze(h, 0), P.squeeze(c, 0))


class GRUCell(RNNCellBase):
    """A gated recurrent unit cell: h' = (1 - z) * n + z * h (computed as n + z * (h - n))."""

    _name = "GRUCell"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        self._check_dims(input, [hx], ["hidden"])
        x, (h,), batched = self._batched(input, [hx])
        out = gru_step(F.linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh)
        return out if batched else P.squeeze(out, 0)
