"""nn.RNN, nn.LSTM and nn.GRU with PyTorch's parameters, layouts, shapes and errors.

The time loop is a Python loop over the (static) sequence length: eagerly it runs step by step,
and ``graphc.compile`` traces it unrolled, one cell step per time step, layer and direction
(built from ``linear``, ``sigmoid``, ``tanh``, slices; no recurrent op). The input projection of
every time step is one matmul per layer and direction, ahead of the loop.

    >>> import graphc
    >>> from graphc import nn
    >>> lstm = nn.LSTM(10, 20, num_layers=2)
    >>> output, (h_n, c_n) = lstm(graphc.randn(5, 3, 10))      # (L, N, H_in)
    >>> output.shape, h_n.shape, c_n.shape
    (graphc.Size([5, 3, 20]), graphc.Size([2, 3, 20]), graphc.Size([2, 3, 20]))
"""

from __future__ import annotations

import math
import numbers
import warnings

from graphc.ir.errors import GraphcTypeError, GraphcValueError, ShapeError

from . import _prims as P
from . import functional as F
from . import init
from ._factory import factory_dtype, new_param
from .module import Module
from .rnn_cells import gru_step, lstm_step, rnn_step, zeros

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def refuse_packed_sequence(input, name: str) -> None:
    """graphc compiles static shapes; a PackedSequence's per-step batch sizes are data."""
    if type(input).__name__ == "PackedSequence" or hasattr(input, "batch_sizes"):
        raise GraphcTypeError(
            f"{name}: PackedSequence input is not supported by graphc",
            fix="pass the padded (L, N, H_in) tensor instead of pack_padded_sequence's result, and read each "
                "sequence's output at its last valid step (or mask the padded steps in the loss)")


def _check_args(input_size, hidden_size, num_layers, bias, batch_first, dropout, proj_size) -> None:
    if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
        raise GraphcValueError("dropout should be a number in range [0, 1] representing the probability of an "
                               "element being zeroed", fix="pass a float between 0 and 1")
    if dropout > 0 and num_layers == 1:
        warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout expects "
                      f"num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}", stacklevel=4)
    for name, value, kind in (("bias", bias, bool), ("batch_first", batch_first, bool),
                              ("input_size", input_size, int), ("hidden_size", hidden_size, int)):
        if not isinstance(value, kind):
            raise GraphcTypeError(f"{name} should be of type {kind.__name__}, got: {type(value).__name__}",
                                  fix=f"pass {name} as a {kind.__name__}")
    for name, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
        if value <= 0:
            raise GraphcValueError(f"{name} must be greater than zero", fix=f"pass a positive {name}")
    if proj_size < 0:
        raise GraphcValueError("proj_size should be a positive integer or zero to disable projections",
                               fix="pass proj_size=0 (no projection) or a positive size")
    if proj_size >= hidden_size:
        raise GraphcValueError("proj_size has to be smaller than hidden_size",
                               fix=f"pass a proj_size below hidden_size={hidden_size}")


class RNNBase(Module):
    """The layers and directions every recurrent module has, and the unrolled forward pass.

    Parameters carry PyTorch's names and order, so a torch ``state_dict`` loads as it is: per layer
    ``k`` and direction, ``weight_ih_l{k}`` (gates * H, H_in), ``weight_hh_l{k}`` (gates * H, H_out),
    ``bias_ih_l{k}``, ``bias_hh_l{k}``, ``weight_hr_l{k}`` (proj_size, H) for an LSTM with
    ``proj_size``, and the same with ``_reverse`` for the backward direction. All are initialised
    ~ U(-1/sqrt(H), 1/sqrt(H)), as in PyTorch.
    """

    _state_names = ("hidden",)

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device=None, dtype=None):
        super().__init__()
        _check_args(input_size, hidden_size, num_layers, bias, batch_first, dropout, proj_size)
        dt = factory_dtype(device, dtype)
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        directions = 2 if bidirectional else 1
        out_size = proj_size if proj_size > 0 else hidden_size
        gate_size = _GATES[mode] * hidden_size
        self._flat_weights_names = []
        self._all_weights = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else out_size * directions
            for direction in range(directions):
                suffix = "_reverse" if direction == 1 else ""
                shapes = [("weight_ih", (gate_size, layer_input)), ("weight_hh", (gate_size, out_size))]
                if bias:
                    shapes += [("bias_ih", (gate_size,)), ("bias_hh", (gate_size,))]
                if proj_size > 0:
                    shapes.append(("weight_hr", (proj_size, hidden_size)))
                names = []
                for kind, shape in shapes:
                    names.append(f"{kind}_l{layer}{suffix}")
                    setattr(self, names[-1], new_param(shape, dt))
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """A no-op: PyTorch compacts weights for cuDNN here; graphc reads the parameters as they are."""

    @property
    def _flat_weights(self):
        return [getattr(self, name) for name in self._flat_weights_names]

    @property
    def all_weights(self):
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    # ------------------------------------------------------------------ what the subclasses differ in
    def _state_sizes(self):
        """The last dimension of each state (h; c for an LSTM)."""
        return [self.proj_size if self.proj_size > 0 else self.hidden_size]

    def _unpack_hx(self, hx):
        return [hx]

    def _pack_result(self, output, finals):
        return output, finals[0]

    def _hx_dim_error(self, states, want: int) -> str:
        kind = "batched 3-D" if want == 3 else "unbatched 2-D"
        return f"For {kind} input, hx should also be {want}-D but got {states[0].ndim}-D tensor"

    def _input_dim_error(self, ndim: int) -> str:
        return f"{type(self).__name__}: Expected input to be 2D or 3D, got {ndim}D instead"

    def _step(self, gx, state, w):
        """One time step of the cell (RNN, LSTM and GRU each define it)."""
        raise NotImplementedError(f"{type(self).__name__} does not define its cell step (_step)")

    # ------------------------------------------------------------------ forward
    def forward(self, input, hx=None):
        """``(output, h_n)`` (an LSTM: ``(output, (h_n, c_n))``) for input (L, N, H_in), (N, L, H_in)
        with ``batch_first``, or unbatched (L, H_in); ``hx`` defaults to zeros."""
        name = type(self).__name__
        refuse_packed_sequence(input, name)
        if input.ndim not in (2, 3):
            raise GraphcValueError(self._input_dim_error(input.ndim),
                                   fix=f"pass (L, N, {self.input_size}) (batch_first: (N, L, {self.input_size})) "
                                       f"or unbatched (L, {self.input_size})")
        batched = input.ndim == 3
        states = self._unpack_hx(hx)
        if hx is not None and any(s.ndim != input.ndim for s in states):
            raise ShapeError(self._hx_dim_error(states, input.ndim),
                             fix="give the initial state as (num_layers * num_directions, N, H_out), or without "
                                 "the batch dimension for unbatched input")
        if not batched:
            input = P.unsqueeze(input, 1)
            states = [None if s is None else P.unsqueeze(s, 1) for s in states]
        elif self.batch_first:
            input = P.permute(input, (1, 0, 2))
        self._check_input(input)
        self._check_states(input, states)
        output, finals = self._layers(input, states)
        if not batched:
            output = P.squeeze(output, 1)
            finals = [P.squeeze(s, 1) for s in finals]
        elif self.batch_first:
            output = P.permute(output, (1, 0, 2))
        return self._pack_result(output, finals)

    def _check_input(self, input) -> None:
        w = self.weight_ih_l0
        if input.dtype is not w.dtype:
            raise GraphcValueError(f"RNN input dtype ({input.dtype}) does not match weight dtype ({w.dtype}). "
                                   f"Convert input: input.to({w.dtype}), or convert model: model.to({input.dtype})",
                                   fix="convert the input or the model so that their dtypes agree")
        if input.shape[-1] != self.input_size:
            raise ShapeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                             f"got {input.shape[-1]}", fix=f"the last dimension of the input must be input_size="
                                                           f"{self.input_size}")

    def _check_states(self, input, states) -> None:
        rows = self.num_layers * (2 if self.bidirectional else 1)
        many = len(states) > 1
        for k, (s, size) in enumerate(zip(states, [*self._state_sizes(), self.hidden_size])):
            want = (rows, input.shape[1], size)
            if s is not None and tuple(s.shape) != want:
                label = f"hidden[{k}]" if many else "hidden"
                raise ShapeError(f"Expected {label} size {want}, got {list(s.shape)}",
                                 fix="initial states are (num_layers * num_directions, N, H_out) whatever "
                                     "batch_first says")

    def _layers(self, x, states):
        """Run every layer and direction over the (L, N, H_in) input; returns output and final states."""
        directions = 2 if self.bidirectional else 1
        sizes = [*self._state_sizes(), self.hidden_size][:len(states)]
        finals = [[] for _ in states]
        for layer in range(self.num_layers):
            outs = []
            for direction in range(directions):
                row = layer * directions + direction
                names = self._all_weights[row]
                w = {n[:n.index("_l")]: getattr(self, n) for n in names}
                init_state = [zeros((x.shape[1], size), x.dtype) if s is None
                              else P.squeeze(P.slice_(s, 0, row, row + 1), 0) for s, size in zip(states, sizes)]
                seq, last = self._direction(x, init_state, w, reverse=direction == 1)
                outs.append(seq)
                for acc, s in zip(finals, last):
                    acc.append(P.unsqueeze(s, 0))
            x = P.concat(outs, 2)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        return x, [P.concat(f, 0) for f in finals]

    def _direction(self, x, state, w, reverse: bool):
        """One direction of one layer, unrolled: every step's input projection in one matmul, then the loop."""
        steps = x.shape[0]
        gx_all = F.linear(x, w["weight_ih"], w.get("bias_ih"))
        outs = [None] * steps
        for t in (reversed(range(steps)) if reverse else range(steps)):
            state = self._step(P.squeeze(P.slice_(gx_all, 0, t, t + 1), 0), state, w)
            outs[t] = P.unsqueeze(state[0], 0)
        return P.concat(outs, 0), state


class RNN(RNNBase):
    """An Elman RNN: h_t = tanh(x_t @ W_ih.T + b_ih + h_{t-1} @ W_hh.T + b_hh) (``nonlinearity='relu'``: relu).

    ``RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True, batch_first=False,
    dropout=0.0, bidirectional=False)``, positional arguments in PyTorch's order.
    """

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise GraphcValueError("proj_size argument is only supported for LSTM, not RNN or GRU",
                                   fix="drop proj_size, or use nn.LSTM")
        if len(args) > 3:
            self.nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            self.nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if self.nonlinearity not in ("tanh", "relu"):
            raise GraphcValueError(f"Unknown nonlinearity '{self.nonlinearity}'. Select from 'tanh' or 'relu'.",
                                   fix="pass nonlinearity='tanh' or 'relu'")
        super().__init__("RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU", *args, **kwargs)

    def _input_dim_error(self, ndim: int) -> str:
        return f"RNN: Expected input to be 2D or 3D, got {ndim}D tensor instead"

    def _step(self, gx, state, w):
        return [rnn_step(gx, state[0], w["weight_hh"], w.get("bias_hh"), self.nonlinearity)]


class LSTM(RNNBase):
    """A multi-layer LSTM; ``forward(input, (h_0, c_0))`` returns ``(output, (h_n, c_n))``.

    ``LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False, proj_size=0)``. With ``proj_size > 0`` each h_t is projected by
    ``weight_hr_l{k}`` to proj_size features (output and h_n have proj_size features; c_n keeps
    hidden_size).
    """

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)

    def _unpack_hx(self, hx):
        return [None, None] if hx is None else list(hx)

    def _pack_result(self, output, finals):
        return output, (finals[0], finals[1])

    def _hx_dim_error(self, states, want: int) -> str:
        kind = "batched 3-D" if want == 3 else "unbatched 2-D"
        return (f"For {kind} input, hx and cx should also be {want}-D but got "
                f"({states[0].ndim}-D, {states[1].ndim}-D) tensors")

    def _step(self, gx, state, w):
        return list(lstm_step(gx, state[0], state[1], w["weight_hh"], w.get("bias_hh"), w.get("weight_hr")))


class GRU(RNNBase):
    """A multi-layer gated recurrent unit; ``forward(input, h_0)`` returns ``(output, h_n)``.

    ``GRU(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False)``; gates in PyTorch's order (reset, update, new).
    """

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise GraphcValueError("proj_size argument is only supported for LSTM, not RNN or GRU",
                                   fix="drop proj_size, or use nn.LSTM")
        super().__init__("GRU", *args, **kwargs)

    def _step(self, gx, state, w):
        return [gru_step(gx, state[0], w["weight_hh"], w.get("bias_hh"))]
