"""Reverse-mode autodiff: append the backward graph of a forward graph.

The idea is micrograd's: walk the nodes in reverse topological order, apply each op's VJP rule
(``graphc.passes.vjp``) to the gradient of its output, and sum the gradients of values used
more than once. Only nodes on a path from a wanted leaf to a root are differentiated, so frozen
parameters and label pipelines cost nothing.

Eager ``loss.backward()`` and compiled training steps both use :func:`append_backward`.
"""

from __future__ import annotations

from graphc.ir import Graph, Node
from graphc.ir.errors import AutogradError

from .vjp import VJP_RULES, GradBuilder


def _differentiable(node: Node) -> bool:
    return node.type is not None and node.type.dtype.is_floating_point


def needed_nodes(graph: Graph, roots: list[Node], wrt: list[Node], only: set[Node] | None = None) -> set[Node]:
    """Nodes that depend on some ``wrt`` node and on which some root depends.

    ``only``, when given, limits gradient flow to those nodes (a tracer passes the nodes whose
    tensors require grad, so values computed under ``no_grad`` or detached stop it). A ``wrt``
    node outside ``only`` is where the gradient ends: a leaf's value after an in-place update
    under ``no_grad`` (an optimizer step between two backward passes) does not lead back to
    the value before it.
    """
    forward = set(wrt)
    for node in graph.nodes:
        if only is not None and node not in only:
            continue
        if _differentiable(node) and any(x in forward for x in node.inputs):
            forward.add(node)
    ends = set() if only is None else {w for w in wrt if w not in only}
    needed: set[Node] = set()
    stack = [r for r in roots if r in forward]
    while stack:
        n = stack.pop()
        if n in needed:
            continue
        needed.add(n)
        if n not in ends:
            stack.extend(x for x in n.inputs if x in forward and x not in needed)
    return needed


def append_backward(graph: Graph, roots: list[Node], root_grads: list[Node], wrt: list[Node],
                    only: set[Node] | None = None, hooks: dict | None = None) -> list[Node | None]:
    """Append to ``graph`` the nodes computing d(roots . root_grads)/d(wrt).

    Returns one gradient node per ``wrt`` node, or None where no root depends on it. ``hooks``
    maps a node to ``f(grad) -> grad``, called with the node's whole gradient before it flows
    on (``Tensor.register_hook`` on a non-leaf), in reverse graph order.
    """
    needed = needed_nodes(graph, roots, wrt, only)
    grads: dict[Node, Node] = {}
    builder = GradBuilder(graph)

    def accumulate(node: Node, g: Node) -> None:
        if g.shape != node.shape or g.dtype is not node.dtype:
            raise AutogradError(f"internal: gradient {g.type} for %{node.name}:{node.type} (op {node.op})")
        if node in grads:
            builder.loc = node.loc
            grads[node] = builder.add("add", grads[node], g)
        else:
            grads[node] = g

    for root, g in zip(roots, root_grads):
        if root in needed:
            accumulate(root, g)

    forward = [n for n in graph.nodes if n in needed]
    for node in reversed(forward):
        grad = grads.get(node)
        if grad is None:
            continue
        if hooks and node in hooks:
            grads[node] = grad = hooks[node](grad)
        rule = VJP_RULES.get(node.op)
        if rule is None:
            raise AutogradError(f"op {node.op!r} has no gradient rule, but a gradient flows through it"
                                f" (at {node.loc or 'an unknown line'})",
                                fix="detach() its input, or add a rule with graphc.passes.vjp.vjp", loc=node.loc)
        needs = tuple(x in needed for x in node.inputs)
        if not any(needs):  # (a wrt node where the gradient ends)
            continue
        builder.loc = node.loc
        in_grads = rule(builder, node, grad, needs)
        for x, need, g in zip(node.inputs, needs, in_grads):
            if need and g is not None:
                accumulate(x, g)
    return [grads.get(w) for w in wrt]
