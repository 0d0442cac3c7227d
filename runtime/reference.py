"""The reference backend: interprets any graph with numpy, op by op.

It is the living definition of every op (each op's ``ref`` in the registry) and the oracle the
compiled backends are tested against. Eager mode runs backward graphs through it.
"""

from __future__ import annotations

import numpy as np

from graphc.ir import Graph, Node, get_op
from graphc.ir.errors import CompileError


def run_node(node: Node, args: list) -> np.ndarray:
    """Evaluate one node on numpy arrays; the result has exactly the node's dtype."""
    opdef = get_op(node.op)
    if opdef.ref is None:
        raise CompileError(f"op {node.op} has no reference implementation")
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # inf/nan follow IEEE, as in PyTorch
        out = np.asarray(opdef.ref(*args, **node.attrs))
    if node.type is not None and out.dtype != node.type.dtype.np:
        out = out.astype(node.type.dtype.np)
    return out


def interpret(graph: Graph, feeds: dict[Node, np.ndarray], env: dict[Node, np.ndarray] | None = None) -> list[np.ndarray]:
    """Run ``graph`` and return its outputs.

    ``feeds`` binds placeholders to arrays (const placeholders fall back to
    ``graph.const_values``). ``env`` may hold values already known for some nodes; they are not
    recomputed, and it is filled with every value computed.

    ``assign`` has the IR's semantics: every read of a placeholder sees its value at entry, and
    the assigns take effect together when the step ends, each writing into the fed array in
    place (so parameters update where they live).
    """
    env = {} if env is None else env
    for p in graph.placeholders:
        if p in env:
            continue
        if p in feeds:
            env[p] = feeds[p]
        elif p in graph.const_values:
            env[p] = np.asarray(graph.const_values[p])
        else:
            raise CompileError(f"placeholder %{p.name} ({p.attrs['role']}) was given no value")
    updates = []
    for node in graph.nodes:
        if node in env:
            continue
        args = [env[x] for x in node.inputs]
        if node.op == "assign":
            updates.append(args)
            continue
        env[node] = run_node(node, args)
    outputs = [np.array(env[o], copy=True) if o.is_placeholder else env[o] for o in graph.outputs]
    for target, value in updates:
        np.copyto(target, value)
    return outputs
