"""The IR verifier: checks that a graph is well formed. Tests run it after every pass.

    >>> from graphc.ir import Graph, TensorType, float32
    >>> from graphc.ir.verifier import verify
    >>> g = Graph("g")
    >>> x = g.placeholder("x", TensorType(float32, (2,)))
    >>> y = g.add("exp", x)
    >>> g.set_outputs([y])
    >>> verify(g)                      # silent when the graph is fine
    >>> y.type = TensorType(float32, (3,))
    >>> verify(g)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    graphc.ir.errors.IRError: ...%0 (exp): its type is f32[3] but the op's rule gives f32[2] now
      fix: ...

What it checks, in order: membership (every node belongs to this graph, placeholders only in
``graph.placeholders`` with a known role, ``const_values`` only for those), unique names, no cycles (networkx), topological
order (every input defined earlier), ``users`` consistent with ``inputs``, per node the op
exists, its arity, its attributes (``OpDef.check_attrs``) and its type (the shape rule re-run),
``assign`` targets (a param, state or input placeholder, at most one assign each), and the outputs.
Every message names the node (``%name (op)``) and, through the error's location, its source line.
"""

from __future__ import annotations

import networkx as nx

from .errors import GraphcError, IRError
from .graph import ROLES, Graph, Node
from .registry import get_op

_PASS_FIX = "the last pass that ran built this graph wrongly; check it with verify() after each pass"


def _fail(node: Node | None, message: str, fix: str = _PASS_FIX) -> IRError:
    if node is None:
        return IRError(message, fix=fix)
    where = f"%{node.name} ({node.op})"
    return IRError(f"{where}: {message}", fix=fix, loc=node.loc or None)


def _check_membership(graph: Graph) -> None:
    for p in graph.placeholders:
        if p.op != "placeholder":
            raise _fail(p, "is in graph.placeholders but is not a placeholder", fix="add ops with Graph.add")
        role = p.attrs.get("role")
        if role not in ROLES:
            raise _fail(p, f"has unknown role {role!r}", fix=f"a placeholder's role is one of {', '.join(ROLES)}")
        if p.type is None:
            raise _fail(p, "has no type", fix="give every placeholder a TensorType")
        if p.inputs:
            raise _fail(p, "a placeholder has inputs", fix="create placeholders with Graph.placeholder")
    for n in graph.nodes:
        if n.op == "placeholder":
            raise _fail(n, "a placeholder is in graph.nodes", fix="create placeholders with Graph.placeholder")
    seen: dict[str, Node] = {}
    members: set[Node] = set()
    for n in graph:
        if n.graph is not graph:
            raise _fail(n, f"belongs to another graph ({getattr(n.graph, 'name', n.graph)!r}), not {graph.name!r}")
        if n in members:
            raise _fail(n, "is listed twice in the graph")
        members.add(n)
        if n.name in seen:
            raise _fail(n, f"the name %{n.name} is used by two nodes", fix="create nodes through Graph so names are unique")
        seen[n.name] = n
    for p in graph.const_values:
        if p not in graph.placeholders:
            raise _fail(p, "has a value in graph.const_values but is not a placeholder of the graph",
                        fix="bind values with Graph.placeholder(..., value=...); Graph.remove drops them")


def _check_acyclic(graph: Graph) -> None:
    dg = nx.DiGraph()
    dg.add_nodes_from(graph)
    members = set(graph)
    dg.add_edges_from((x, n) for n in graph.nodes for x in n.inputs if x in members)
    if not nx.is_directed_acyclic_graph(dg):
        cycle = nx.find_cycle(dg)
        path = " -> ".join(f"%{a.name}" for a, _ in cycle) + f" -> %{cycle[0][0].name}"
        raise _fail(cycle[0][0], f"is on a cycle: {path}", fix="a value cannot depend on itself")


def _check_node(graph: Graph, n: Node, defined: set[Node]) -> None:
    for i, x in enumerate(n.inputs):
        if not isinstance(x, Node):
            raise _fail(n, f"input {i} is {x!r}, not a Node")
        if x.graph is not graph:
            raise _fail(n, f"input {i} %{x.name} belongs to another graph ({getattr(x.graph, 'name', None)!r})",
                        fix="copy values between graphs explicitly; a node only reads nodes of its own graph")
        if x not in defined:
            raise _fail(n, f"input {i} %{x.name} is not defined before it (nodes must be in topological order)",
                        fix="insert the node after its inputs (Graph.add(..., before=...) keeps order)")
        if n not in x.users:
            raise _fail(n, f"reads %{x.name} but is missing from %{x.name}.users",
                        fix="edit inputs through Graph (add, replace_all_uses) so users stay current")
    try:
        opdef = get_op(n.op)
    except IRError:
        raise _fail(n, f"unknown op {n.op!r}", fix="register the op with graphc.ir.register_op") from None
    if opdef.arity is not None and len(n.inputs) != opdef.arity:
        raise _fail(n, f"has {len(n.inputs)} inputs, but {n.op} takes {opdef.arity}")
    missing = set(opdef.attrs) - set(n.attrs)
    if missing:
        raise _fail(n, f"lacks the attributes {sorted(missing)}", fix="Graph.add fills in every attribute")
    try:
        checked = opdef.check_attrs(n.attrs)
    except IRError as e:
        raise _fail(n, f"bad attributes: {e.message}", fix=e.fix or _PASS_FIX) from None
    if opdef.infer is None:
        return
    try:
        want = opdef.infer([x.type for x in n.inputs], checked)
    except GraphcError as e:
        raise _fail(n, f"its inputs no longer fit the op: {e.message}", fix=e.fix or _PASS_FIX) from None
    except (ValueError, TypeError, KeyError) as e:  # a shape rule that raised a builtin
        raise _fail(n, f"the op's shape rule fails: {e}") from None
    if want != n.type:
        raise _fail(n, f"its type is {n.type} but the op's rule gives {want} now",
                    fix="rebuild the node with Graph.add after changing its inputs or attributes")


def _check_users(graph: Graph, members: set[Node]) -> None:
    for x in graph:
        for u in x.users:
            if u not in members:
                raise _fail(x, f"lists %{getattr(u, 'name', u)} as a user, which is not in the graph",
                            fix="remove nodes with Graph.remove so users stay current")
            if x not in u.inputs:
                raise _fail(x, f"lists %{u.name} as a user, but %{u.name} does not read it",
                            fix="edit inputs through Graph (replace_all_uses) so users stay current")


def _check_assigns(graph: Graph) -> None:
    targets: dict[Node, Node] = {}
    for n in graph.assigns:
        target = n.inputs[0]
        if not target.is_placeholder or target.role not in ("param", "state", "input"):
            what = f"the {target.role} placeholder %{target.name}" if target.is_placeholder else f"the {target.op} node %{target.name}"
            raise _fail(n, f"assigns to {what}", fix="only param, state and input placeholders can be assigned")
        if target in targets:
            raise _fail(n, f"is a second assign to %{target.name}",
                        fix="all assigns take effect together at the end of the step; combine the updates into one value")
        targets[target] = n


def _check_outputs(graph: Graph, members: set[Node]) -> None:
    for i, o in enumerate(graph.outputs):
        if o not in members:
            raise IRError(f"output {i} %{getattr(o, 'name', o)} is not a node of graph {graph.name!r}",
                          fix="outputs must be placeholders or nodes of the graph")
        if o.type is None:
            raise _fail(o, f"is output {i} but has no value", fix="return values, not assign nodes")


def verify(graph: Graph) -> None:
    """Raise :class:`IRError` on the first malformed thing in ``graph``; return None if it is well formed."""
    _check_membership(graph)
    _check_acyclic(graph)
    members = set(graph)
    defined: set[Node] = set(graph.placeholders)
    for n in graph.nodes:
        _check_node(graph, n, defined)
        defined.add(n)
    _check_users(graph, members)
    _check_assigns(graph)
    _check_outputs(graph, members)
