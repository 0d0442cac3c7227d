"""Eager autograd: grad mode, the tape, and backward through the autodiff pass.

Every eager op whose result requires grad records a :class:`TapeNode` (its op, attributes,
inputs and value). ``loss.backward()`` turns the tape reachable from ``loss`` into an IR graph,
runs the autodiff pass on it (the same pass compiled steps use) and interprets the backward
nodes with the reference backend, reusing the forward values already computed. Before running,
it checks that no value the backward graph reads has been modified in place since it was
recorded, raising where PyTorch raises.
"""

from __future__ import annotations

import itertools
import threading
from contextlib import contextmanager

import numpy as np

from graphc.ir import Graph, TensorType
from graphc.ir.errors import AutogradError, GraphcTypeError, ShapeError

_state = threading.local()


def is_grad_enabled() -> bool:
    return getattr(_state, "grad_enabled", True)


def _set_grad_enabled(mode: bool) -> None:
    _state.grad_enabled = bool(mode)


class _GradModeContext:
    """Base of no_grad / enable_grad / set_grad_enabled: a context manager and a decorator."""

    mode = True

    def __enter__(self):
        self._prev = is_grad_enabled()
        _set_grad_enabled(self.mode)
        return self

    def __exit__(self, *exc):
        _set_grad_enabled(self._prev)
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            ctx = self.__class__.__new__(self.__class__)  # (a fresh context per call: calls may nest)
            ctx.mode = self.mode
            with ctx:
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradModeContext):
    """Disable gradient recording inside a ``with`` block or a decorated function."""

    mode = False


class enable_grad(_GradModeContext):
    """Enable gradient recording inside a ``with`` block or a decorated function."""

    mode = True


class inference_mode(_GradModeContext):
    """``torch.inference_mode``: no gradient recording, as ``no_grad`` (graphc has no separate
    inference tensors: a result made here may be used with autograd later, which PyTorch refuses).
    ``inference_mode(False)`` records as usual."""

    def __init__(self, mode: bool = True):
        self.mode = not mode


class set_grad_enabled(_GradModeContext):
    """``set_grad_enabled(False)`` as a context manager, a decorator, or a plain call (as PyTorch)."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self._prev = is_grad_enabled()
        _set_grad_enabled(self.mode)  # a plain call takes effect at once

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _set_grad_enabled(self._prev)
        return False

    def __call__(self, fn):
        import functools

        _set_grad_enabled(self._prev)  # as a decorator it changes the mode only inside fn (as PyTorch)
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = is_grad_enabled()
            _set_grad_enabled(mode)
            try:
                return fn(*args, **kwargs)
            finally:
                _set_grad_enabled(prev)

        return wrapper


class VersionCounter:
    """Shared by a tensor and its views; bumped by every in-place modification."""

    __slots__ = ("value",)

    def __init__(self):
        self.value = 0


class SavedValue:
    """A value recorded on the tape, with the version it had then."""

    __slots__ = ("array", "counter", "version", "freed", "type")

    def __init__(self, array, counter: VersionCounter):
        self.array = array
        self.type = TensorType(_dtype_of(array), array.shape)
        self.counter = counter
        self.version = counter.value
        self.freed = False

    def free(self) -> None:
        self.array = None
        self.freed = True


_hook_ids = itertools.count()


class RemovableHandle:
    """Returned by ``register_*_hook`` (tensors and modules); ``handle.remove()`` unregisters the hook."""

    def __init__(self, hooks: dict):
        self._hooks = hooks
        self.id = next(_hook_ids)

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def run_grad_hooks(t, grad):
    """``t``'s ``register_hook`` hooks, in order, on ``grad`` (a tensor); each may return a new
    gradient (of the same shape and dtype) for the next one and for what the gradient flows to."""
    for hook in list(t._hooks.values()):
        out = hook(grad)
        if out is None:
            continue
        from graphc.tensor import Tensor

        if not isinstance(out, Tensor) or tuple(out.shape) != tuple(grad.shape) or out.dtype is not grad.dtype:
            what = type(out).__name__ if not isinstance(out, Tensor) else f"{out.dtype.name}{list(out.shape)}"
            raise AutogradError(f"hook '{getattr(hook, '__name__', 'hook')}' has changed the type or size of value: "
                                f"expected {grad.dtype.name}{list(grad.shape)}, got {what}",
                                fix="return a gradient of the tensor's shape and dtype, or None to keep it")
        grad = out
    return grad


class TapeNode:
    """One recorded eager op: what PyTorch calls a ``grad_fn``.

    ``inputs`` holds, per op input, one of: a TapeNode (a non-leaf that requires grad), a
    leaf Tensor that requires grad (its gradient accumulates into ``.grad``), or None for an
    input that needs no gradient; ``saved`` holds the input arrays with their versions.
    """

    __slots__ = ("op", "attrs", "inputs", "saved", "out", "out_type", "loc", "retain", "hooked", "__weakref__")

    def __init__(self, op, attrs, inputs, saved, out: SavedValue, out_type: TensorType, loc):
        self.op = op
        self.attrs = attrs
        self.inputs = inputs
        self.saved = saved
        self.out = out
        self.out_type = out_type
        self.loc = loc
        self.retain = None  # weakref to a non-leaf tensor whose .grad is retained
        self.hooked = None  # weakref to the non-leaf tensor whose register_hook hooks see this gradient

    def name(self) -> str:
        return "".join(p.capitalize() for p in self.op.split("_")) + "Backward0"

    @property
    def next_functions(self):
        from graphc.tensor import Tensor

        return tuple((x if isinstance(x, TapeNode) else ("AccumulateGrad" if isinstance(x, Tensor) else None), 0) for x in self.inputs)

    def __repr__(self) -> str:
        return f"<{self.name()} object>"


def check_root(t, has_gradient: bool) -> None:
    """PyTorch's checks of a tensor ``backward()`` starts from (eager and traced alike)."""
    if not t.requires_grad:
        if getattr(t, "_compiled_by", None) is not None:
            raise AutogradError(f"this tensor was returned by the compiled function {t._compiled_by}, and a compiled "
                                "function's results carry no autograd history",
                                fix="call backward() inside the compiled function: compile the whole train step "
                                    "(forward, loss.backward(), opt.step())")
        raise AutogradError("element 0 of tensors does not require grad and does not have a grad_fn",
                            fix="call backward() on a result computed from a tensor with requires_grad=True (results "
                                "of a graphc.compile'd function have no autograd history: call backward() inside it)")
    if not has_gradient and t.numel() != 1:
        raise AutogradError(f"grad can be implicitly created only for scalar outputs (got shape {list(t.shape)})",
                            fix="pass gradient=torch.ones_like(out), or reduce the output with .sum() or .mean() first")


def _collect(roots):
    """Topologically ordered TapeNodes reachable from the roots (inputs first)."""
    order, seen = [], set()
    for root in roots:
        stack = [(root, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((x, False) for x in node.inputs if isinstance(x, TapeNode) and id(x) not in seen)
    return order


def run_backward(tensors, grad_tensors, retain_graph: bool = False, inputs=None) -> None:
    """Accumulate d(sum of tensors * grad_tensors)/d(leaf) into each leaf's ``.grad``."""
    from graphc.passes.autodiff import append_backward
    from graphc.runtime.reference import interpret
    from graphc.tensor import Tensor

    roots, seeds = [], []
    for t, g in zip(tensors, grad_tensors):
        check_root(t, g is not None)
        if g is None:
            g = np.ones(t.shape, t.dtype.np)
        else:
            g = g._data if isinstance(g, Tensor) else np.asarray(g)
            if tuple(g.shape) != tuple(t.shape):
                raise ShapeError(f"gradient has shape {list(g.shape)} but the output has shape {list(t.shape)}",
                                 fix="pass a gradient of the output's shape")
            g = g.astype(t.dtype.np, copy=False)
        roots.append(t)
        seeds.append(g)

    tape = _collect([t.grad_fn for t in roots if t.grad_fn is not None])

    # the tape as an IR graph: leaves and constants become placeholders, records become nodes
    graph = Graph("backward")
    node_of: dict[int, object] = {}
    leaf_nodes: dict[int, object] = {}
    leaves: list[Tensor] = []
    env: dict = {}
    saved_of: dict = {}

    def leaf_placeholder(t: Tensor):
        key = id(t)
        if key not in leaf_nodes:
            p = graph.placeholder("leaf", t._type(), role="param")
            leaf_nodes[key] = p
            leaves.append(t)
            env[p] = t._data
        return leaf_nodes[key]

    for rec in tape:
        args = []
        for x, saved in zip(rec.inputs, rec.saved):
            if isinstance(x, TapeNode):
                node = node_of[id(x)]
                if saved.array is not x.out.array:  # an in-place op's input: the overwritten value, kept as a copy
                    node = graph.add("cast", node, dtype=x.out_type.dtype.short, type_=x.out_type)
                    env[node] = saved.array
                    saved_of[node] = saved
                args.append(node)
            elif isinstance(x, Tensor):
                p = leaf_placeholder(x)
                saved_of.setdefault(p, saved)
                args.append(p)
            else:
                p = graph.placeholder("c", saved.type, role="const")
                env[p] = saved.array
                saved_of[p] = saved
                args.append(p)
        node = graph.add(rec.op, *args, loc=rec.loc, type_=rec.out_type, **rec.attrs)
        node_of[id(rec)] = node
        env[node] = rec.out.array
        saved_of[node] = rec.out

    root_nodes, seed_nodes = [], []
    for t, g in zip(roots, seeds):
        r = node_of[id(t.grad_fn)] if t.grad_fn is not None else leaf_placeholder(t)
        s = graph.placeholder("seed", TensorType(t.dtype, t.shape), role="input")
        env[s] = g
        root_nodes.append(r)
        seed_nodes.append(s)

    forward_count = len(graph.nodes)
    wanted = [leaf_nodes[id(t)] for t in leaves]
    retained = [(rec.retain(), node_of[id(rec)]) for rec in tape if rec.retain is not None and rec.retain() is not None]
    if inputs is not None:
        retained += [(t, node_of[id(t.grad_fn)]) for t in inputs if t.grad_fn is not None]
    # register_hook on non-leaves: each hooked node's gradient is cut at a placeholder the hooks
    # fill in, stage by stage (a hook sees real values and may return a new gradient)
    hooked = {node_of[id(rec)]: rec.hooked() for rec in tape if rec.hooked is not None
              and rec.hooked() is not None and rec.hooked()._hooks}
    cuts: list[tuple] = []  # (tensor, gradient before its hooks, placeholder after them), in backward order

    def cut(tensor):
        def at(grad_node):
            p = graph.placeholder("hooked_grad", grad_node.type, role="input")
            cuts.append((tensor, grad_node, p))
            return p
        return at

    grads = append_backward(graph, root_nodes, seed_nodes, wanted + [n for _, n in retained],
                            hooks={n: cut(t) for n, t in hooked.items()})

    # PyTorch's checks: every saved value the backward graph reads is still there and unchanged
    backward_nodes = graph.nodes[forward_count:]
    for node in backward_nodes:
        for x in node.inputs:
            saved = saved_of.get(x)
            if saved is not None and saved.freed:
                raise AutogradError(
                    "Trying to backward through the graph a second time (or directly access saved tensors after they have already been freed).",
                    fix="specify retain_graph=True if you need to backward through the graph a second time")
            if saved is not None and saved.counter.value != saved.version:
                raise AutogradError(
                    "one of the variables needed for gradient computation has been modified by an inplace operation: "
                    f"[{x.type}], which is {_describe(x)}, is at version {saved.counter.value}; "
                    f"expected version {saved.version} instead.",
                    fix="clone() the tensor before modifying it in place, or use the out-of-place op")

    for tensor, before, after in cuts:
        value = _evaluate(graph, before, env)
        with no_grad():
            env[after] = run_grad_hooks(tensor, Tensor._wrap(np.array(value, copy=True)))._data
    graph.set_outputs([g for g in grads if g is not None])
    values = iter(interpret(graph, {}, env))
    results = [next(values) if g is not None else None for g in grads]

    for t, g in zip(leaves + [t for t, _ in retained], results):
        if g is None:
            continue
        if inputs is not None and not any(t is i for i in inputs):
            continue
        if t._hooks and t.grad_fn is None:  # a leaf's hooks see its gradient before it accumulates
            with no_grad():
                g = run_grad_hooks(t, Tensor._wrap(np.array(g, copy=True)))._data
        if t.grad is None:
            grad = Tensor._wrap(np.array(g, dtype=t.dtype.np, copy=True))
            grad._device = t._device  # a gradient lives where its tensor lives
            t.grad = grad
        else:
            t.grad._data += g
            t.grad._version.value += 1

    if not retain_graph:  # free what the backward graph read, as PyTorch frees saved tensors
        for node in backward_nodes:
            for x in node.inputs:
                if x in saved_of:
                    saved_of[x].free()


def _evaluate(graph: Graph, target, env: dict):
    """The value of ``target``, computing only the nodes it needs that ``env`` lacks."""
    from graphc.runtime.reference import run_node

    needed, stack = set(), [target]
    while stack:
        n = stack.pop()
        if n in env or n in needed:
            continue
        needed.add(n)
        stack.extend(n.inputs)
    for node in graph.nodes:
        if node in needed:
            env[node] = run_node(node, [env[x] for x in node.inputs])
    return env[target]


def _describe(node) -> str:
    if node.is_placeholder:
        return "an input of the recorded graph"
    return f"output 0 of {''.join(p.capitalize() for p in node.op.split('_'))}"


def _dtype_of(array):
    from graphc.ir.dtypes import from_numpy

    return from_numpy(array.dtype)


@contextmanager
def detect_anomaly():
    """Accepted for compatibility; graphc's errors already name the line that recorded the op."""
    yield


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """``graphc.autograd.backward``: PyTorch's functional form of ``Tensor.backward``."""
    from graphc.tensor import Tensor

    if create_graph:
        raise GraphcTypeError("create_graph=True (higher-order gradients) is not supported by graphc",
                              fix="compute higher-order derivatives analytically, or use PyTorch for them")
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    if grad_tensors is None or isinstance(grad_tensors, Tensor):
        grad_tensors = [grad_tensors] * len(tensors) if grad_tensors is None else [grad_tensors]
    run_backward(list(tensors), list(grad_tensors), bool(retain_graph), inputs)
