"""The graph IR: typed single-assignment nodes in topological order.

A :class:`Graph` holds placeholders (the graph's inputs, each with a *role*), nodes in
topological order, and outputs. Persistent updates are explicit ``assign`` nodes, which have
no value and are never removed by dead-code elimination.

    >>> from graphc.ir import Graph, TensorType, float32
    >>> g = Graph("double")
    >>> x = g.placeholder("x", TensorType(float32, (2, 3)), role="input")
    >>> y = g.add("add", x, x)
    >>> g.set_outputs([y])
    >>> print(g)
    graph double {
      %x:f32[2,3] = input
      %0:f32[2,3] = add %x, %x
      return %0
    }
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from .dtypes import DType, as_dtype
from .errors import IRError
from .registry import get_op

ROLES = ("input", "param", "state", "hyper", "const")
_NAME_OK = re.compile(r"[^A-Za-z0-9_.]")


class TensorType:
    """A static type: dtype and shape. Prints as ``f32[64,784]`` (``f32[]`` for a scalar)."""

    __slots__ = ("dtype", "shape")

    def __init__(self, dtype: DType | str, shape: Iterable[int]):
        self.dtype = as_dtype(dtype)
        self.shape = tuple(int(s) for s in shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    @property
    def nbytes(self) -> int:
        return self.numel * self.dtype.itemsize

    def __eq__(self, other) -> bool:
        return isinstance(other, TensorType) and self.dtype is other.dtype and self.shape == other.shape

    def __hash__(self) -> int:
        return hash((self.dtype.name, self.shape))

    def __str__(self) -> str:
        return f"{self.dtype.short}[{','.join(map(str, self.shape))}]"

    __repr__ = __str__


class Node:
    """One operation: op name, input nodes, plain-Python attributes, static type, name, source."""

    __slots__ = ("op", "inputs", "attrs", "type", "name", "loc", "users", "graph")

    def __init__(self, graph, op: str, inputs: tuple, attrs: dict, type_: TensorType | None, name: str, loc):
        self.graph = graph
        self.op = op
        self.inputs = tuple(inputs)
        self.attrs = attrs
        self.type = type_
        self.name = name
        self.loc = loc
        self.users: dict[Node, None] = {}  # an ordered set, kept current by the Graph

    @property
    def shape(self) -> tuple[int, ...]:
        return self.type.shape

    @property
    def dtype(self) -> DType:
        return self.type.dtype

    @property
    def ndim(self) -> int:
        return len(self.type.shape)

    @property
    def role(self) -> str | None:
        return self.attrs["role"] if self.op == "placeholder" else None

    @property
    def is_placeholder(self) -> bool:
        return self.op == "placeholder"

    def __repr__(self) -> str:
        return f"%{self.name}"


class Graph:
    """A static graph. Build it with :meth:`placeholder`, :meth:`add`, :meth:`assign`, :meth:`set_outputs`."""

    def __init__(self, name: str = "graph"):
        self.name = name
        self.placeholders: list[Node] = []
        self.nodes: list[Node] = []
        self.outputs: list[Node] = []
        self.const_values: dict[Node, object] = {}  # numpy arrays bound to const placeholders
        self.meta: dict = {}  # analyses late passes leave for the backends (fusion plan, memory plan)
        self._names: set[str] = set()
        self._counter = 0

    # ----------------------------------------------------------------- construction
    def _unique_name(self, hint: str | None) -> str:
        if hint:
            base = _NAME_OK.sub("_", str(hint)) or "v"
            if base[0].isdigit():
                base = "v" + base
            name, i = base, 1
            while name in self._names:
                name = f"{base}_{i}"
                i += 1
        else:
            while str(self._counter) in self._names:
                self._counter += 1
            name = str(self._counter)
            self._counter += 1
        self._names.add(name)
        return name

    def placeholder(self, name: str, type_: TensorType, role: str = "input", *, value=None, loc=None) -> Node:
        """Add a graph input. ``role`` is one of input, param, state, hyper, const."""
        if role not in ROLES:
            raise IRError(f"unknown placeholder role {role!r}", fix=f"use one of {ROLES}")
        node = Node(self, "placeholder", (), {"role": role}, type_, self._unique_name(name), loc)
        self.placeholders.append(node)
        if value is not None:
            self.const_values[node] = value
        return node

    def add(self, op: str, *inputs: Node, name: str | None = None, loc=None, type_=None, before: Node | None = None,
            **attrs) -> Node:
        """Append a node (or insert it ``before`` another); its type comes from the op's shape rule."""
        opdef = get_op(op)
        attrs = opdef.check_attrs(attrs)
        for x in inputs:
            if not isinstance(x, Node) or x.graph is not self:
                raise IRError(f"input {x!r} of {op} is not a node of graph {self.name!r}")
        inferred = opdef.infer([x.type for x in inputs], attrs) if opdef.infer else None
        node = Node(self, op, inputs, attrs, type_ or inferred, self._unique_name(name), loc)
        for x in inputs:
            x.users[node] = None
        if before is None:
            self.nodes.append(node)
        else:
            self.nodes.insert(self.nodes.index(before), node)
        return node

    def assign(self, target: Node, value: Node, loc=None) -> Node:
        """Record the persistent update ``target := value`` (target is a param, state or input placeholder)."""
        return self.add("assign", target, value, loc=loc)

    def set_outputs(self, outputs: Iterable[Node]) -> None:
        self.outputs = list(outputs)

    # ----------------------------------------------------------------- editing
    def replace_all_uses(self, old: Node, new: Node) -> None:
        """Make every user of ``old`` (and the outputs) use ``new`` instead."""
        for user in list(old.users):
            user.inputs = tuple(new if x is old else x for x in user.inputs)
            new.users[user] = None
        old.users.clear()
        self.outputs = [new if x is old else x for x in self.outputs]

    def remove(self, node: Node) -> None:
        """Remove a node that has no users."""
        if node.users or node in self.outputs:
            raise IRError(f"cannot remove %{node.name}: it is still used")
        for x in node.inputs:
            x.users.pop(node, None)
        if node.is_placeholder:
            self.placeholders.remove(node)
            self.const_values.pop(node, None)
        else:
            self.nodes.remove(node)
        self._names.discard(node.name)

    def rename(self, node: Node, hint: str) -> str:
        """Give ``node`` a unique name made from ``hint`` (a pass handing one node's name to another)."""
        self._names.discard(node.name)
        node.name = self._unique_name(hint)
        return node.name

    # ----------------------------------------------------------------- queries
    def __iter__(self) -> Iterator[Node]:
        yield from self.placeholders
        yield from self.nodes

    def by_name(self, name: str) -> Node:
        for n in self:
            if n.name == name:
                return n
        raise KeyError(name)

    def placeholders_with_role(self, role: str) -> list[Node]:
        return [p for p in self.placeholders if p.attrs["role"] == role]

    @property
    def assigns(self) -> list[Node]:
        return [n for n in self.nodes if n.op == "assign"]

    def __str__(self) -> str:
        from .printer import format_graph

        return format_graph(self)

    def __repr__(self) -> str:
        return f"<Graph {self.name}: {len(self.placeholders)} placeholders, {len(self.nodes)} nodes>"
