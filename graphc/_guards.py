"""The guards of a compiled version: what must still hold for it to run.

A compiled step is valid while the globals and closure variables it read hold the same values
(``graphc._captured``), the tensors it binds keep their storage, requires_grad and device, the
modules whose ``training`` the trace read keep their mode, the optimizer keeps its param-group
structure and state keys, and every ``.grad`` it read stays None or not None. ``Guards.why()``
checks all of that on every call, so it reads plain fields into lists and compares them in one
go (with C-level maps: a batch-1 inference call spends less time here than in its kernels); only
when something differs does it look for the description to log.
"""

from __future__ import annotations

from itertools import repeat
from operator import attrgetter, is_

from .nn import _registry

_data_of = attrgetter("_data")
_flags_of = attrgetter("_requires_grad", "_device")
_training_of = attrgetter("training")
_grad_of = attrgetter("_grad")


class Guards:
    def __init__(self, bound: list, modules: list, optimizers: list, grad_reads: list, tree: list = (),
                 optimizer_state: list | None = None, captured=None, hooks: list = ()):
        # leaves whose gradient the step computes, and the register_hook hooks it traced for them
        self.hooked_leaves = [t for t, _ in hooks]
        self.leaf_hooks = [h for _, h in hooks]
        self.captured = captured if captured else None  # the globals and closure variables the trace read
        self.tree = [(m, _children(m), _plain(m)) for m in tree]  # every module the trace called, and what it held
        self.tree_version = _registry.VERSION[0]
        self.tensors = bound  # bound tensors
        self.arrays = [t._data for t in bound]  # kept alive, so that their ids stay theirs
        self.flags = [_flags_of(t) for t in bound]  # (requires_grad, device)
        self.modules = modules
        self.module_state = [m.training for m in modules]
        self.optimizers = optimizers
        # (as the trace found them: a step that creates state holds only while it does not exist)
        self.optimizer_state = optimizer_state if optimizer_state is not None else [optimizer_structure(o) for o in optimizers]
        self.grad_tensors = [t for t, _ in grad_reads]
        self.grad_state = [bool(was_none) for _, was_none in grad_reads]

    def why(self) -> str | None:
        """None while every guard holds, else what changed (for the recompilation log)."""
        if _registry.VERSION[0] != self.tree_version:  # some module's registry changed somewhere
            for m, held, plain in self.tree:
                now = _children(m)
                if len(now) != len(held) or any(k != j or v is not w for (k, v), (j, w) in zip(now, held)):
                    return f"a parameter, buffer, submodule or tensor attribute of {type(m).__name__} was replaced or removed"
                if _plain(m) != plain:
                    changed = min(k for k, _ in set(_plain(m).items()) ^ set(plain.items()))
                    return f"the attribute {changed!r} of {type(m).__name__} changed"
            self.tree_version = _registry.VERSION[0]  # (not one of these modules': nothing to recompile)
        if self.captured is not None:
            why = self.captured.why()
            if why is not None:
                return why
        tensors = self.tensors
        if not all(map(is_, map(_data_of, tensors), self.arrays)) or list(map(_flags_of, tensors)) != self.flags:
            return self._tensor_change()
        if self.modules and list(map(_training_of, self.modules)) != self.module_state:
            m = next(m for m, was in zip(self.modules, self.module_state) if m.training != was)
            return f"{type(m).__name__} switched between train() and eval()"
        if self.hooked_leaves and list(map(_hooks_now, self.hooked_leaves)) != self.leaf_hooks:
            return "a gradient hook (register_hook) of a parameter was added or removed"
        if self.grad_tensors and list(map(is_, map(_grad_of, self.grad_tensors), repeat(None))) != self.grad_state:
            return "a parameter's .grad appeared or was cleared"
        if self.optimizers:
            for o, was in zip(self.optimizers, self.optimizer_state):
                if optimizer_structure(o) != was:
                    return "the optimizer's param groups or state changed"
        return None

    def _tensor_change(self) -> str:
        for t, data, (requires_grad, device) in zip(self.tensors, self.arrays, self.flags):
            name = t._name_hint or "a bound tensor"
            if t._data is not data:
                return f"the storage of a bound tensor {t._name_hint or ''} was replaced"
            if t._requires_grad != requires_grad:
                return f"requires_grad of {name} changed"
            if t._device != device:
                return f"{name} moved to another device"
        return "a bound tensor changed"


def _hooks_now(t) -> tuple:
    return tuple(t._hooks.values()) if t._hooks else ()


_PLAIN_TYPES = (bool, int, float, str, type(None))


def _plain(m) -> dict:
    """A module's plain attributes (numbers, strings, None and tuples of them: the hyperparameters
    a forward reads as constants), not its mode, which has a guard of its own."""
    return {k: v for k, v in m.__dict__.items()
            if k != "training" and (isinstance(v, _PLAIN_TYPES) or
                                    (type(v) is tuple and all(isinstance(x, _PLAIN_TYPES) for x in v)))}


def _children(m) -> list:
    """What a module holds, by name: its parameters, buffers and submodules, and tensors kept as
    plain attributes (``self.mask = t``, bound like state), compared by identity."""
    from .tensor import Tensor

    held = [(k, v) for d in (m._parameters, m._buffers, m._modules) for k, v in d.items()]
    return held + [(k, v) for k, v in m.__dict__.items() if isinstance(v, Tensor)]


def optimizer_structure(opt):
    """What of an optimizer decides the graph: its params per group, the options' structure,
    and which state each parameter has. (Checked on every call of a compiled step, so the
    common cases, numbers and the key sets of the state, take C-level paths.)"""
    groups = [(list(map(id, g["params"])),
               [(k, v == 0 if type(v) in _NUMBERS else v if type(v) in _PLAIN else _structure(v))
                for k, v in g.items() if k != "params"])
              for g in opt.param_groups]
    state = opt.state
    # (the state tensors by identity: load_state_dict replaces them, and the compiled step must
    # then update the new ones; the old ones stay alive in the guard's bound tensors, so an id is
    # never reused while it is compared)
    return groups, list(map(id, state)), [(tuple(s), tuple(map(id, s.values()))) for s in state.values()]


_NUMBERS = {float, int}
_PLAIN = {bool, str, type(None)}  # options compared by value


def _structure(value):
    """What of an optimizer option decides the graph's structure: zero-ness of numbers, the rest by value."""
    kind = type(value)
    if kind is float or kind is int:  # the common case first: this runs on every call
        return value == 0
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return value == 0
    if isinstance(value, (tuple, list)):
        return tuple(_structure(v) for v in value)
    return type(value).__name__
