"""Tracing: run a Python function on symbolic tensors and record a static graph.

While a :class:`Tracer` is installed (``graphc._dispatch.tracer``), every tensor operation
becomes a graph node instead of a computation. Symbolic tensors look like ordinary tensors
(shape, dtype, requires_grad all work) but hold no values: reading one from Python
(``.item()``, ``bool(t)``, ``.numpy()``) raises a TraceError naming the user's line.

Real tensors met during the trace become placeholders bound to their live arrays:
parameters (``param``), other tensors that existed before the trace (``state``: buffers,
optimizer state), tensors created while tracing (``const``). In-place updates of real tensors
are *functionalized*: the tracer remembers each tensor's latest value and, at the end, emits
one ``assign`` per mutated tensor. Optimizer hyperparameters enter as :class:`Hyper` floats
that turn into ``hyper`` placeholders when they meet a tensor, so changing ``lr`` needs no
recompilation.
"""

from __future__ import annotations

import numpy as np

from graphc.ir import Graph, Node, TensorType
from graphc.ir.errors import AutogradError, ShapeError, TraceError
from graphc.ir.source import user_location

from . import _dispatch
from .autograd import check_root, is_grad_enabled, run_grad_hooks


class Hyper(float):
    """A numeric hyperparameter read during a trace (``group['lr']``).

    It compares and branches as the plain number it is (structure: ``if momentum != 0``), and
    turns into a ``hyper`` placeholder, read afresh at every call, when it takes part in tensor
    arithmetic.
    """

    def __new__(cls, value, key: str, getter):
        obj = super().__new__(cls, value)
        obj.key = key
        obj.getter = getter
        return obj

    def _t(self):
        return _dispatch.tracer.hyper_tensor(self)

    def __neg__(self):
        return -self._t()

    def __add__(self, other):
        return self._t() + other

    def __radd__(self, other):
        return other + self._t()

    def __sub__(self, other):
        return self._t() - other

    def __rsub__(self, other):
        return other - self._t()

    def __mul__(self, other):
        return self._t() * other

    def __rmul__(self, other):
        return other * self._t()

    def __truediv__(self, other):
        return self._t() / other

    def __rtruediv__(self, other):
        return other / self._t()

    def __pow__(self, other):
        return self._t() ** other

    def __rpow__(self, other):
        return other ** self._t()

    def __hash__(self):
        return float.__hash__(self)


class Tracer:
    """Records the operations of one call of a function into ``self.graph``."""

    def __init__(self, name: str, serial_start: int):
        self.graph = Graph(name)
        self.serial_start = serial_start
        self.bound: dict[Node, object] = {}  # placeholder -> the real tensor it reads
        self.captured: dict[int, Node] = {}  # id(real tensor) -> placeholder
        self.current: dict[int, Node] = {}  # id(real tensor) -> latest traced value
        self.mutated: dict[int, object] = {}  # id(real tensor) -> tensor, for the final assigns
        self.versions: dict[int, int] = {}  # traced in-place updates per tensor id
        self.hypers: dict[tuple, tuple[Node, object]] = {}  # key -> (placeholder, getter)
        self.requires_grad: set[Node] = set()  # nodes whose tensors require grad
        self.freed: set[Node] = set()
        self.symbolic: list = []  # weak references to every symbolic tensor made
        self.modules: dict[int, object] = {}  # every module called, with its submodules
        self.training_reads: dict[int, object] = {}  # modules whose train/eval mode the trace read
        self.optimizers: dict[int, object] = {}
        self.optimizer_structures: dict[int, object] = {}  # id -> structure when the trace first met it
        self.keep_alive: list = []  # real tensors the graph reads, kept alive while tracing
        self.grad_reads: list = []  # (leaf, grad was None) for .grad read before the trace wrote it
        self.input_leaves: list = []  # symbolic arguments that require grad: backward() reaches them
        self.grad_inputs: dict = {}  # placeholder of an argument's existing .grad -> argument index
        self.retained: list = []  # symbolic non-leaf tensors whose .grad backward() keeps (retain_grad())
        self.history: dict[int, list[Node]] = {}  # id(real tensor) -> the values in-place updates gave it
        self.hooked: list = []  # symbolic non-leaf tensors with register_hook hooks
        self.hook_reads: dict[int, tuple] = {}  # id(leaf) -> (leaf, its hooks) when backward() ran them
        self.own_random: str | None = None  # the first graphc.rand/randn/... call: eager mode draws other numbers
        self._grad_seen: set[int] = set()

    def note_module(self, module) -> None:
        """A module called during the trace: name its tensors (its state is the step's state)."""
        if id(module) in self.modules:
            return
        for _, m in module.named_modules():
            if id(m) not in self.modules:
                self.modules[id(m)] = m
        for _ in module.named_parameters():  # sets "fc.weight"-style name hints, outermost first
            pass
        for _ in module.named_buffers():
            pass

    def note_training(self, module) -> None:
        """The trace read ``module.training``: the compiled version holds only in that mode."""
        self.training_reads[id(module)] = module

    def note_optimizer(self, opt) -> None:
        """An optimizer stepped in the trace: its structure as the trace found it is what the
        compiled version depends on (the first step creates momentum buffers it did not read)."""
        if id(opt) not in self.optimizers:
            from ._guards import optimizer_structure

            self.optimizer_structures[id(opt)] = optimizer_structure(opt)
        self.optimizers[id(opt)] = opt

    def note_grad(self, t, write: bool) -> None:
        """Python state a trace depends on: whether a real leaf had a .grad when first looked at."""
        if t._tnode is not None or id(t) in self._grad_seen:
            return
        self._grad_seen.add(id(t))
        if not write:
            self.grad_reads.append((t, t._grad is None))

    # ------------------------------------------------------------------ tensors <-> nodes
    def active(self, inputs) -> bool:
        return True  # while tracing, every tensor op is recorded

    def make_symbolic(self, node: Node, requires_grad: bool, base=None):
        import weakref

        from .tensor import Tensor

        t = Tensor._wrap(np.broadcast_to(np.zeros((), node.dtype.np), node.shape))
        t._tnode = node
        t._requires_grad = requires_grad
        if requires_grad:
            self.requires_grad.add(node)
        if base is not None:
            t._view_of = (base, self.versions.get(id(base), 0))
        self.symbolic.append(weakref.ref(t))
        return t

    def detach(self, t):
        """``t.detach()`` while tracing: a new node where ``t`` requires grad (the node itself is
        shared by every tensor computed from it, so only a separate node stops the gradient;
        the simplify pass removes the copy once the trace's backward is built). In-place writes
        to the result are refused like writes to any alias of a live tensor."""
        import weakref

        node = self.node_of(t)
        if node in self.requires_grad:
            node = self.graph.add("cast", node, dtype=node.dtype.short, loc=user_location())
        out = self.make_symbolic(node, False)
        out._alias_of = weakref.ref(t)
        return out

    def node_of(self, t) -> Node:
        """The graph value of a tensor: its node, its latest traced value, or a new placeholder."""
        view = getattr(t, "_view_of", None)
        if view is not None and self.versions.get(id(view[0]), 0) != view[1]:
            raise TraceError("a view is read after the tensor it views was modified in place; compiled code "
                             "cannot alias them", fix="clone() the view before the in-place update, or update out of place")
        if t._tnode is not None:
            if t._tnode.graph is not self.graph:
                raise TraceError("a tensor from another compiled function's trace was used here",
                                 fix="return values from the compiled function instead of storing them")
            return t._tnode
        key = id(t)
        if key in self.current:
            return self.current[key]
        return self.capture(t)

    def capture(self, t, role: str | None = None, inline: bool = True) -> Node:
        key = id(t)
        if key in self.captured:
            return self.captured[key]
        from .tensor import Tensor

        if role is None:
            if getattr(t, "_is_param", False) or (t.requires_grad and t.is_leaf):
                role = "param"
            elif t._serial >= self.serial_start:
                role = "const"
            else:
                role = "state"
        if inline and role == "const" and t._data.size and not t.requires_grad:
            flat = t._data.reshape(-1)
            if np.all(flat == flat[0]) and (t._data.ndim == 0 or t._data.size == 1):
                # a number written in the traced code: an inline constant, not a buffer
                node = self.graph.add("constant", value=flat[0].item(), dtype=t.dtype.short, shape=tuple(t.shape),
                                      loc=user_location())
                self.captured[key] = node
                self.keep_alive.append(t)
                return node
        name = getattr(t, "_name_hint", None) or ("c" if role == "const" else role)
        value = np.array(t._data, copy=True) if role == "const" else None
        p = self.graph.placeholder(name, TensorType(t.dtype, t.shape), role=role, value=value)
        self.captured[key] = p
        self.bound[p] = t
        self.keep_alive.append(t)
        if t.requires_grad and isinstance(t, Tensor):
            self.requires_grad.add(p)
        return p

    def _placeholder_for_update(self, t) -> None:
        """A real tensor about to be updated in place needs a placeholder, not an inline constant."""
        key = id(t)
        node = self.captured.get(key)
        if node is None:
            self.capture(t, inline=False)
            return
        if key in self.current:
            return
        if node.op == "constant":
            p = self.graph.placeholder(getattr(t, "_name_hint", None) or "c", TensorType(t.dtype, t.shape),
                                       role="const", value=np.array(t._data, copy=True))
            self.graph.replace_all_uses(node, p)
            self.graph.remove(node)
            self.captured[key] = p
            self.bound[p] = t

    def hyper_tensor(self, h: Hyper):
        key = h.key
        if key not in self.hypers:
            from graphc.ir.dtypes import float64

            # float64, like the Python float it stands for: scalar arithmetic on hyperparameters
            # (1 - beta1, lr / bias_correction) rounds as in eager mode, and meeting a float32
            # tensor casts it down exactly as a Python number would be
            p = self.graph.placeholder(".".join(map(str, key)), TensorType(float64, ()), role="hyper")
            self.hypers[key] = (p, h.getter)
        return self.make_symbolic(self.hypers[key][0], False)

    # ------------------------------------------------------------------ ops
    def _add(self, op, nodes, attrs):
        try:
            return self.graph.add(op, *nodes, loc=user_location(), **attrs)
        except TraceError:
            raise

    def apply(self, op, inputs, attrs):
        node = self._add(op, [self.node_of(t) for t in inputs], attrs)
        rg = node.dtype.is_floating_point and is_grad_enabled() and any(t.requires_grad for t in inputs)
        base = inputs[0] if op in _dispatch.VIEW_OPS else None
        if base is not None and getattr(base, "_view_of", None) is not None:
            base = base._view_of[0]
        return self.make_symbolic(node, rg, base)

    def apply_inplace(self, target, op, others, attrs):
        grad = is_grad_enabled() and any(t.requires_grad for t in (target, *others))
        if grad and target.is_leaf and target.requires_grad:
            raise AutogradError("a leaf Variable that requires grad is being used in an in-place operation.",
                                fix="wrap the update in `with graphc.no_grad():`, or use the out-of-place op")
        alias = target._alias_of() if target._alias_of is not None else None  # a live tensor sharing its memory
        if getattr(target, "_view_of", None) is not None or target._base is not None or alias is not None:
            raise TraceError("in-place modification of a view (or of a detach() alias of a live tensor) inside a compiled function "
                             "is not supported",
                             fix="modify the base tensor, or build the result out of place")
        if target._tnode is None:
            self._placeholder_for_update(target)
        node = self._add(op, [self.node_of(target)] + [self.node_of(t) for t in others], attrs)
        if node.shape != tuple(target.shape):
            raise ShapeError(f"output with shape {list(target.shape)} doesn't match the broadcast shape {list(node.shape)}",
                             fix="an in-place op cannot change the shape of the tensor it writes to")
        if node.dtype is not target.dtype:
            node = self._add("cast", [node], {"dtype": target.dtype.short})
        if grad and node.dtype.is_floating_point:
            self.requires_grad.add(node)
            target._requires_grad = True
        key = id(target)
        self.versions[key] = self.versions.get(key, 0) + 1
        if target._tnode is not None:
            target._tnode = node
        else:
            self.node_of(target)  # capture it before the first write, so its placeholder exists
            self.current[key] = node
            self.mutated[key] = target
            self.history.setdefault(key, []).append(node)
        return target

    # ------------------------------------------------------------------ autograd
    def backward(self, tensors, grad_tensors, retain_graph, inputs):
        from graphc.passes.autodiff import append_backward

        from .tensor import Tensor

        roots, seeds = [], []
        for t, g in zip(tensors, grad_tensors):
            check_root(t, g is not None)
            if g is None:
                seed = self.graph.add("constant", value=1.0, dtype=t.dtype.short, shape=tuple(t.shape), loc=user_location())
            else:
                g = g if isinstance(g, Tensor) else _dispatch.operand(g)
                seed = self.node_of(g)
            roots.append(self.node_of(t))
            seeds.append(seed)
        leaves = [(self.bound[p], p) for p in self.graph.placeholders
                  if p in self.bound and self.bound[p].requires_grad and self.bound[p].is_leaf]
        leaves += [(t, t._tnode) for t in self.input_leaves if t._tnode.is_placeholder]  # (x.requires_grad_())
        if inputs is not None:
            leaves = [(t, self.node_of(t)) for t in inputs]
        else:  # non-leaves that called retain_grad(): their gradient too, as eager mode keeps it
            leaves += [(t, t._tnode) for t in self.retained if not t._tnode.is_placeholder]
        from graphc.passes.autodiff import needed_nodes

        # a leaf updated in place under no_grad (the optimizer's step before a second backward,
        # as in a GAN step) is one tensor with several values: its gradient is the sum over them
        versions = [[p] + self.history.get(id(t), []) if p is self.captured.get(id(t)) else [p] for t, p in leaves]
        wrt = [n for vs in versions for n in vs]
        needed = needed_nodes(self.graph, roots, wrt, self.requires_grad)
        if needed & self.freed:
            raise AutogradError("Trying to backward through the graph a second time (or directly access saved tensors after they have already been freed).",
                                fix="specify retain_graph=True if you need to backward through the graph a second time")
        def traced_hooks(t):
            def at(grad_node):
                return self.node_of(run_grad_hooks(t, self.make_symbolic(grad_node, False)))
            return at

        hooks = {t._tnode: traced_hooks(t) for t in self.hooked if t._hooks}
        flat = iter(append_backward(self.graph, roots, seeds, wrt, only=self.requires_grad, hooks=hooks))
        grads = []
        for vs in versions:
            parts = [g for g in (next(flat) for _ in vs) if g is not None]
            total = parts[0] if parts else None
            for g in parts[1:]:
                total = self.graph.add("add", total, g, loc=total.loc)
            grads.append(total)
        if not retain_graph:
            self.freed |= {n for n in needed if not n.is_placeholder}
        for (t, _), g in zip(leaves, grads):
            if g is None:
                continue
            grad = self.make_symbolic(g, False)
            if t._tnode is None:  # a real leaf: the compiled version holds while its hooks do
                self.hook_reads[id(t)] = (t, tuple((t._hooks or {}).values()))
                if t._hooks:
                    with _no_grad():
                        grad = run_grad_hooks(t, grad)
            elif t._hooks:
                with _no_grad():
                    grad = run_grad_hooks(t, grad)
            if t.grad is None:
                t.grad = grad
            else:
                with _no_grad():
                    _dispatch.apply_inplace(t.grad, "add", grad)


def _no_grad():
    from .autograd import no_grad

    return no_grad()


class JournalingTracer(Tracer):
    """A tracer that remembers the Python state a trace changes (``.grad``, module buffers,
    optimizer state), so that :meth:`undo` leaves the model and optimizer as they were."""

    def __init__(self, name: str, serial_start: int):
        super().__init__(name, serial_start)
        self.saved_grads: dict[int, tuple] = {}
        self.saved_buffers: dict[int, tuple] = {}
        self.saved_state: dict[int, tuple] = {}
        self.optimizers = _NoteOnInsert(self._save_optimizer)

    def note_grad(self, t, write: bool) -> None:
        if t._tnode is None and id(t) not in self.saved_grads:
            self.saved_grads[id(t)] = (t, t._grad)
        super().note_grad(t, write)

    def note_module(self, module) -> None:
        for _, m in module.named_modules():
            if id(m) not in self.saved_buffers:
                self.saved_buffers[id(m)] = (m, dict(m._buffers))
        super().note_module(module)

    def _save_optimizer(self, opt) -> None:
        self.saved_state[id(opt)] = (opt, {p: dict(s) for p, s in opt.state.items()})

    def undo(self) -> None:
        for t, grad in self.saved_grads.values():
            t._grad = grad
        for m, buffers in self.saved_buffers.values():
            m._buffers.clear()
            m._buffers.update(buffers)
        for opt, state in self.saved_state.values():
            opt.state.clear()
            opt.state.update(state)


class _NoteOnInsert(dict):
    def __init__(self, on_new):
        super().__init__()
        self._on_new = on_new

    def __setitem__(self, key, value):
        if key not in self:
            self._on_new(value)
        super().__setitem__(key, value)
