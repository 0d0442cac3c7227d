"""What tracing a step does to Python state, and what it must leave alone.

The trace of a train step reads and writes Python objects: ``.grad`` of parameters, optimizer
state, module buffers. After it, :func:`_materialize` gives real storage to what it left
symbolic (the compiled code updates it in place every call); :func:`_check_escapes` refuses a
traced tensor kept anywhere else. Optimizer options must come out of a trace unchanged
(:func:`_check_options_unchanged`), since Python code in the function runs only while tracing.
"""

from __future__ import annotations

import gc

import numpy as np

from graphc.ir.errors import TraceError

from ._trace import Tracer
from .tensor import Tensor


def _optimizer_options() -> list:
    """Every live optimizer's param-group options (not the params), to compare after a trace."""
    from .optim.optimizer import LIVE

    return [(opt, [[(k, v) for k, v in g.items() if k != "params"] for g in opt.param_groups]) for opt in list(LIVE)]


def _restore_options(before: list) -> None:
    for opt, groups in before:
        for old, g in zip(groups, opt.param_groups):
            g.update(old)


def _check_options_unchanged(before: list, name: str) -> None:
    """A trace that changed an optimizer option (a scheduler's step(), ``g["lr"] *= 0.9``) would
    compile a step whose Python side effect never happens again: refuse it, naming the option."""
    for opt, groups in before:
        for i, (old, g) in enumerate(zip(groups, opt.param_groups)):
            for k, v in old:
                now = g.get(k)
                if now is v or (not isinstance(now, Tensor) and not isinstance(v, Tensor) and now == v):
                    continue
                raise TraceError(f"{name} changed param_groups[{i}][{k!r}] of a {type(opt).__name__} optimizer "
                                 f"({v!r} -> {now!r}) while being traced: Python code in a compiled function runs only "
                                 "when it is traced, so later calls would never change it",
                                 fix="call scheduler.step() (or change the option) outside the compiled function, "
                                     "between calls: the compiled step reads the options afresh at every call")


def _grad_node(tracer, sym):
    """The graph value of a symbolic argument's ``.grad`` when the trace computed one (not when it
    is None or still the argument's old gradient, unchanged)."""
    g = sym._grad if isinstance(sym, Tensor) else None
    if g is None or (g._tnode is not None and g._tnode.is_placeholder):
        return None
    return tracer.node_of(g)


def _flatten(value):
    """Split a return value into a structure and its tensors (tuples, lists, dicts, None, numbers)."""
    tensors = []

    def walk(v):
        if isinstance(v, Tensor):
            tensors.append(v)
            return ("T",)
        if isinstance(v, (tuple, list)):
            return (type(v), [walk(x) for x in v])
        if isinstance(v, dict):
            return (dict, {k: walk(x) for k, x in v.items()})
        return ("C", v)

    return walk(value), tensors


def _step_device(args, tracer: Tracer):
    """The one device of the step's tensor arguments, parameters and state (None: the CPU).

    As in PyTorch, tensors on different devices cannot meet in one step; 0-dim CPU tensors
    (Python numbers, Adam's step count) mix with any device.
    """
    from graphc.ir.errors import DeviceError

    bound = [t for p, t in tracer.bound.items() if p.role in ("param", "state") and isinstance(t, Tensor)]
    tensors = [a for a in args if isinstance(a, Tensor)] + bound
    devices = {t._device for t in tensors if t._device is not None}
    if len(devices) > 1:
        raise DeviceError(f"Expected all tensors to be on the same device, but found {sorted(map(str, devices))}",
                          fix="move the model and the inputs to one device (model.to(device), x.to(device))")
    device = devices.pop() if devices else None
    if device is not None:
        for t in tensors:
            if t._device is None and t.ndim > 0:
                what = t._name_hint or "an argument"
                raise DeviceError(f"Expected all tensors to be on the same device, but found {device} and cpu ({what})",
                                  fix="move the model and the inputs to one device (model.to(device), x.to(device))")
    return device


def _materialize(tracer: Tracer, device=None):
    """Give real storage to what the trace left symbolic in Python state, via assigns."""
    graph = tracer.graph
    persistent = _persistent_tensors(tracer)
    for key, t in tracer.mutated.items():
        p = tracer.captured[key]
        if t._serial >= tracer.serial_start and key not in persistent:
            continue  # scratch made and updated inside the step: nothing outlives the call
        if p.role == "const":  # made in the step and kept (Adam's step count): persistent state
            p.attrs["role"] = "state"
            graph.const_values.pop(p, None)
        graph.assign(p, tracer.current[key])

    def real_for(sym, name: str) -> Tensor:
        real = Tensor._wrap(np.zeros(tuple(sym.shape), sym.dtype.np))
        real._device = device
        real._name_hint = name
        p = graph.placeholder(name, sym._tnode.type, role="state")
        tracer.bound[p] = real
        tracer.captured[id(real)] = p
        graph.assign(p, sym._tnode)
        return real

    created = []  # what the step creates in Python state: (dict or tensor, key, real tensor)
    for t in list(tracer.bound.values()):
        g = t._grad if isinstance(t, Tensor) else None  # (not .grad: that would guard on it)
        if g is not None and g._tnode is not None:
            t.grad = real_for(g, f"{t._name_hint or 'param'}.grad")
            created.append((t, None, t._grad))
    for opt in tracer.optimizers.values():
        for param, state in opt.state.items():
            for k, v in list(state.items()):
                if isinstance(v, Tensor) and v._tnode is not None:
                    owner = getattr(param, "_name_hint", None) or "param"
                    state[k] = real_for(v, f"{owner}.{k}")
                    created.append((opt, (param, k), state[k]))  # (opt.state itself is replaced by load_state_dict)
    for m in tracer.modules.values():
        for k, v in list(getattr(m, "_buffers", {}).items()):
            if isinstance(v, Tensor) and v._tnode is not None:
                m._buffers[k] = real_for(v, v._name_hint or k)
                created.append((m._buffers, k, m._buffers[k]))
    return created


def put_back(created) -> None:
    """After a call of a version whose trace created Python state (the first step: ``.grad`` of
    every parameter, the momentum buffers), that state is there again, holding what the call
    computed: the version runs again only where the state is absent (its guards say so), after
    ``opt.zero_grad()`` or ``opt.state.clear()``, and eager mode would create it then too."""
    for owner, key, real in created:
        if key is None:  # a leaf's .grad
            owner._grad = real
        elif type(key) is tuple:  # optimizer state: opt.state[param][name]
            owner.state.setdefault(key[0], {})[key[1]] = real
        else:
            owner[key] = real


def _persistent_tensors(tracer: Tracer) -> set[int]:
    """Ids of tensors kept in Python state the compiled step must update: optimizer state, buffers."""
    keep = set()
    for opt in tracer.optimizers.values():
        for state in opt.state.values():
            keep.update(id(v) for v in state.values() if isinstance(v, Tensor))
    for m in tracer.modules.values():
        keep.update(id(v) for v in getattr(m, "_buffers", {}).values() if v is not None)
        keep.update(id(v) for v in getattr(m, "_parameters", {}).values() if v is not None)
    return keep


def _check_escapes(tracer: Tracer) -> None:
    """A symbolic tensor still referenced after the trace escaped into Python state: refuse it.

    A full garbage collection (tens of milliseconds) runs only when one is still alive, to tell
    a tensor kept by a reference cycle the trace left behind from one that really escaped."""
    outputs = set(tracer.graph.outputs)

    def alive():
        return [t for t in (ref() for ref in tracer.symbolic) if t is not None and t._tnode not in outputs]

    if not alive():
        return
    gc.collect()
    for t in alive():
        node = t._tnode
        raise TraceError(
            f"a tensor computed inside the compiled function (%{node.name}, made at {node.loc}) was stored "
            "somewhere graphc cannot follow (a global, a list, an attribute)",
            fix="return it from the compiled function instead", loc=node.loc)
