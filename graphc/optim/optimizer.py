"""The optimizer base class: parameter groups, state, ``zero_grad``, ``step`` and state dicts.

An optimizer holds ``param_groups`` (dicts with ``'params'`` and one value per option, in
PyTorch's key order) and ``state`` (a dict per parameter, created lazily at the first step).
Subclasses implement ``_update_group(group)`` with tensor operations only, so the same code
runs eagerly and, inside ``graphc.compile``, becomes graph nodes: while a trace is running each
numeric option is handed to the update as a :class:`graphc._trace.Hyper` float that turns into
a ``hyper`` placeholder, so changing ``lr`` later needs no recompilation.

    >>> import graphc
    >>> w = graphc.tensor([1.0, 2.0], requires_grad=True)
    >>> opt = graphc.optim.SGD([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> [round(v, 4) for v in w.tolist()]
    [0.8, 1.6]
"""

from __future__ import annotations

import copy
import functools
import warnings
import weakref
from collections import defaultdict
from itertools import chain

from graphc import _dispatch
from graphc.autograd import enable_grad, no_grad
from graphc.ir.errors import GraphcTypeError, GraphcValueError
from graphc.tensor import Tensor

LIVE: weakref.WeakSet = weakref.WeakSet()  # every optimizer made

__all__ = ["Optimizer", "required"]

# options read as structure only (never tensor arithmetic), so never turned into hypers
_NOT_HYPER = frozenset({"initial_accumulator_value", "initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum"})


class _RequiredParameter:
    """Marks a default that every parameter group must give (PyTorch's ``required``)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def check_unknown_options(cls_name: str, unknown: dict) -> None:
    """PyTorch's TypeError for a keyword argument an optimizer does not take."""
    if unknown:
        name = next(iter(unknown))
        raise GraphcTypeError(f"{cls_name}.__init__() got an unexpected keyword argument '{name}'",
                              fix=f"see help(graphc.optim.{cls_name}) for the options it takes")


def check_unsupported(cls_name: str, differentiable: bool) -> None:
    if differentiable:
        raise GraphcValueError(f"{cls_name}(differentiable=True) is not supported by graphc",
                               fix="graphc has no higher-order gradients; leave differentiable=False")


def check_lr(lr) -> None:
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise GraphcValueError("Tensor lr must be 1-element", fix="pass a Python float or a 0-dim tensor")
    if not 0.0 <= lr:
        raise GraphcValueError(f"Invalid learning rate: {lr}", fix="use a learning rate >= 0")


def check_nonnegative(what: str, value) -> None:
    """PyTorch's ``Invalid <what> value: <value>`` for a negative option."""
    if not 0.0 <= value:
        raise GraphcValueError(f"Invalid {what} value: {value}", fix=f"use a {what} >= 0")


class Optimizer:
    """Base class of all optimizers (as ``torch.optim.Optimizer``).

    Args:
        params: an iterable of tensors, or of dicts each holding ``'params'`` and options that
            override ``defaults`` for that group.
        defaults: the default value of every option.
    """

    def __init__(self, params, defaults: dict):
        LIVE.add(self)  # (graphc.compile checks that a trace leaves every optimizer's options alone)
        self.defaults = defaults
        if isinstance(params, Tensor):
            raise GraphcTypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                                  "but got graphc.Tensor", fix="wrap it in a list: [tensor]")
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict] = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise GraphcValueError("optimizer got an empty parameter list",
                                   fix="pass model.parameters() of a model that has parameters, or a non-empty list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own options (missing ones taken from ``defaults``).

            >>> import graphc
            >>> a, b = graphc.zeros(2, requires_grad=True), graphc.zeros(3, requires_grad=True)
            >>> opt = graphc.optim.SGD([a], lr=0.1)
            >>> opt.add_param_group({"params": [b], "lr": 0.01})
            >>> [g["lr"] for g in opt.param_groups]
            [0.1, 0.01]
        """
        if not isinstance(param_group, dict):
            raise GraphcTypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        if "params" not in param_group:
            raise GraphcValueError("param_group has no 'params' entry", fix="give each group a 'params' list")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise GraphcTypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                                  "of tensors in sets will change between runs. Please use a list instead.")
        else:
            param_group["params"] = list(params)
        names, tensors = [], []
        for p in param_group["params"]:
            if isinstance(p, tuple):
                names.append(p[0])
                tensors.append(p[1])
            else:
                tensors.append(p)
        param_group["params"] = tensors
        if names:
            if len(names) != len(tensors):
                raise GraphcValueError("all optimizer params should be with/without names. Some param names are missing")
            param_group["param_names"] = names
        for p in tensors:
            if not isinstance(p, Tensor):
                raise GraphcTypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not (p.is_leaf or p.retains_grad):
                raise GraphcValueError("can't optimize a non-leaf Tensor", fix="optimize the leaf tensor, or .detach() it")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise GraphcValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)
        if len({id(p) for p in tensors}) != len(tensors):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in future, this will cause "
                          "an error; see github.com/pytorch/pytorch/issues/40967 for more information", stacklevel=3)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for group in self.param_groups:
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise GraphcValueError("all optimizer param groups should be with/without names. "
                                       f"cannot add param group {which} to the optimizer")
        if any(id(p) in seen for p in tensors):
            raise GraphcValueError("some parameters appear in more than one parameter group",
                                   fix="put each parameter in exactly one group")
        self.param_groups.append(param_group)

    # ------------------------------------------------------------------ stepping
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized tensors (to None by default, as PyTorch)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    g = p.grad
                    if g.grad_fn is not None:
                        g.detach_()
                    else:
                        g.requires_grad_(False)
                    g.zero_()

    def step(self, closure=None):
        """Perform one optimization step; ``closure`` re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self._step_groups():
                self._update_group(group)
        return loss

    def _update_group(self, group: dict) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not implement _update_group")

    def _step_groups(self) -> list[dict]:
        """The groups as the update reads them: as they are, or with hyper floats while tracing."""
        tracer = _dispatch.tracer
        if tracer is None:
            return self.param_groups
        tracer.note_optimizer(self)
        same = [o for o in tracer.optimizers.values() if type(o) is type(self)]
        prefix = type(self).__name__.lower() + (str(same.index(self)) if len(same) > 1 else "")
        return [_hyper_view(prefix, i, g) for i, g in enumerate(self.param_groups)]

    # ------------------------------------------------------------------ state dicts
    def state_dict(self) -> dict:
        """``{'state': {index: {...}}, 'param_groups': [{..., 'params': [index, ...]}]}`` as PyTorch.

        Parameters are numbered in group order; the state tensors are the live ones (no copy).
        """
        mapping: dict[int, int] = {}
        start = 0
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                mapping.setdefault(id(p), i)
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            groups.append(packed)
        state = {(mapping[id(k)] if isinstance(k, Tensor) else k): v for k, v in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Load options and state saved by :meth:`state_dict` (of an optimizer of the same shape).

        State tensors are copied (cast to each parameter's dtype, ``step`` kept as it is), so the
        loaded optimizer never shares memory with the dict it came from.
        """
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise GraphcValueError("optimizer state dict must be a dict with 'state' and 'param_groups'",
                                   fix="pass the dict returned by optimizer.state_dict()")
        groups = self.param_groups
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise GraphcValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups, strict=True)):
            raise GraphcValueError("loaded state dict contains a parameter group that doesn't match the size of "
                                   "optimizer's group")
        id_map = dict(zip(chain.from_iterable(g["params"] for g in saved_groups),
                          chain.from_iterable(g["params"] for g in groups), strict=True))
        state: defaultdict = defaultdict(dict)
        for k, v in state_dict["state"].items():
            key = int(k) if isinstance(k, str) and k.isdigit() else k
            if key in id_map:
                param = id_map[key]
                state[param] = {name: _copy_state_value(param, name, value) for name, value in v.items()}
                _check_state_shapes(param, state[param], key)
            else:
                state[key] = v
        for group, saved in zip(groups, saved_groups, strict=True):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
        self.state = state
        self.param_groups = saved_groups

    def __repr__(self) -> str:
        text = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            for key in sorted(group):
                if key != "params":
                    text += f"    {key}: {group[key]}\n"
        return text + ")"


def _copy_state_value(param: Tensor, key: str, value):
    if isinstance(value, Tensor):
        with no_grad():
            out = value.detach().clone()
            if key != "step" and param.dtype.is_floating_point and out.dtype is not param.dtype:
                out = out.to(param.dtype)
            if key != "step":  # state follows its parameter's device ("step" stays on the CPU, as in PyTorch)
                out._device = param._device
        return out
    if isinstance(value, dict):
        return {k: _copy_state_value(param, k, v) for k, v in value.items()}
    return copy.deepcopy(value)


def _check_state_shapes(param: Tensor, state: dict, index) -> None:
    for name, value in state.items():
        if isinstance(value, Tensor) and value.ndim and tuple(value.shape) != tuple(param.shape):
            raise GraphcValueError(f"loaded optimizer state '{name}' of parameter {index} has shape "
                                   f"{list(value.shape)}, but the parameter has shape {list(param.shape)}",
                                   fix="load a state dict saved from an optimizer over the same model")


def _read_hyper(group: dict, key: str, index):
    value = group[key] if index is None else group[key][index]
    return float(value)


def _hyper_view(prefix: str, gi: int, group: dict) -> dict:
    """A copy of ``group`` whose numeric options are Hyper floats (read afresh at every call)."""
    from graphc._trace import Hyper

    view = {}
    for key, value in group.items():
        if key == "params" or key in _NOT_HYPER or isinstance(value, bool):
            view[key] = value
        elif isinstance(value, (int, float)):
            view[key] = Hyper(float(value), (prefix, gi, key), functools.partial(_read_hyper, group, key, None))
        elif isinstance(value, tuple) and value and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            view[key] = tuple(Hyper(float(v), (prefix, gi, key, j), functools.partial(_read_hyper, group, key, j))
                              for j, v in enumerate(value))
        else:
            view[key] = value
    return view
