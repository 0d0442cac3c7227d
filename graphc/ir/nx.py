"""The graph as a networkx DiGraph (for analyses) and as Graphviz DOT (for pictures).

The IR itself stays a plain Python structure; networkx serves the analyses it is good at
(topological generations, ancestors, dominators, cycle checks, partitioning)::

    >>> import networkx as nx
    >>> from graphc.ir import Graph, TensorType, float32
    >>> from graphc.ir.nx import to_networkx
    >>> g = Graph("g")
    >>> x = g.placeholder("x", TensorType(float32, (2,)))
    >>> y = g.add("mul", x, g.add("exp", x))
    >>> G = to_networkx(g)
    >>> G.nodes["1"]["op"], G.nodes["1"]["type"], sorted(nx.ancestors(G, "1"))
    ('mul', 'f32[2]', ['0', 'x'])

:func:`to_dot` draws placeholders as ellipses coloured by role and ops as boxes labelled
``%name = op`` and the type; :func:`render` runs Graphviz's ``dot`` to write ``.svg``/``.png``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import networkx as nx

from .errors import GraphcError
from .graph import Graph
from .printer import format_value

ROLE_COLORS = {"input": "#cfe2ff", "param": "#d1e7dd", "state": "#fff3cd", "hyper": "#e2d9f3", "const": "#e9ecef"}


def to_networkx(graph: Graph) -> nx.DiGraph:
    """The graph as a ``networkx.DiGraph`` keyed by node name, in the graph's order.

    Node attributes: ``op``, ``type`` (text such as ``f32[2,3]``, None for assign), ``role``
    (placeholders; None otherwise), ``loc``, ``attrs`` (a dict; a placeholder's role is not
    repeated there), ``output`` (its index among the outputs, or None) and ``node`` (the IR
    Node). Edge attributes: ``pos`` (the first input position the edge feeds) and
    ``positions`` (all of them: ``add %x, %x`` is one edge with positions ``(0, 1)``).
    Graph attributes: ``name`` and ``outputs`` (names).
    """
    dg = nx.DiGraph(name=graph.name, outputs=[o.name for o in graph.outputs])
    out_index: dict = {}
    for i, o in enumerate(graph.outputs):
        out_index.setdefault(o, i)
    for n in graph:
        attrs = {} if n.is_placeholder else dict(n.attrs)
        dg.add_node(n.name, op=n.op, type=None if n.type is None else str(n.type), role=n.role,
                    loc=n.loc, attrs=attrs, output=out_index.get(n), node=n)
    for n in graph.nodes:
        for i, x in enumerate(n.inputs):
            if dg.has_edge(x.name, n.name):
                dg.edges[x.name, n.name]["positions"] += (i,)
            else:
                dg.add_edge(x.name, n.name, pos=i, positions=(i,))
    return dg


def _quote(text: str) -> str:
    """A DOT double-quoted string; ``\\n`` in ``text`` becomes a line break."""
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _attr_list(**attrs) -> str:
    return "[" + ", ".join(f"{k}={_quote(v)}" for k, v in attrs.items()) + "]"


def to_dot(graph: Graph, attrs: bool = True) -> str:
    """Graphviz DOT text of the graph.

    Placeholders are ellipses filled by role (:data:`ROLE_COLORS`); ops are boxes labelled
    ``%name = op`` over the type (and the attributes unless ``attrs=False``); assign nodes are
    grey boxes reached by dashed edges; a ``return`` node collects the outputs. Edges into an
    op with several inputs are labelled with the input position.
    """
    lines = [f"digraph {_quote(graph.name)} {{",
             '  node [fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=9];']
    for n in graph:
        nid = _quote(n.name)
        if n.is_placeholder:
            label = f"%{n.name}\n{n.role} {n.type}"
            style = _attr_list(shape="ellipse", style="filled", fillcolor=ROLE_COLORS.get(n.role, "white"), label=label)
        elif n.type is None:
            style = _attr_list(shape="box", style="filled,rounded", fillcolor="#dddddd", label=n.op)
        else:
            label = f"%{n.name} = {n.op}\n{n.type}"
            if attrs and n.attrs:
                label += "\n" + ", ".join(f"{k}={format_value(v)}" for k, v in n.attrs.items())
            style = _attr_list(shape="box", label=label)
        if n.loc:
            style = style[:-1] + f", tooltip={_quote(n.loc)}]"
        lines.append(f"  {nid} {style};")
    for n in graph.nodes:
        for i, x in enumerate(n.inputs):
            edge = {}
            if n.type is None:
                edge["style"] = "dashed"
            if len(n.inputs) > 1:
                edge["label"] = str(i)
            suffix = f" {_attr_list(**edge)}" if edge else ""
            lines.append(f"  {_quote(x.name)} -> {_quote(n.name)}{suffix};")
    if graph.outputs:
        lines.append('  "%return" [shape=plaintext, label="return"];')
        for i, o in enumerate(graph.outputs):
            label = f" {_attr_list(label=str(i))}" if len(graph.outputs) > 1 else ""
            lines.append(f'  {_quote(o.name)} -> "%return"{label};')
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(graph: Graph, path: str | os.PathLike) -> Path:
    """Draw the graph to ``path``: ``.dot`` writes the DOT text; ``.svg``, ``.png``, ``.pdf`` run Graphviz.

    Raises GraphcError when the ``dot`` executable is missing or fails. Returns the path written.
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    text = to_dot(graph)
    if fmt in ("dot", "gv"):
        path.write_text(text, encoding="utf-8")
        return path
    if fmt not in ("svg", "png", "pdf"):
        raise GraphcError(f"cannot render a graph to {path.name!r}: unknown format {fmt!r}",
                          fix="name the file .svg, .png, .pdf or .dot")
    dot = shutil.which("dot")
    if dot is None:
        raise GraphcError(f"cannot render {path.name}: the Graphviz 'dot' program is not installed",
                          fix=f"apt-get install graphviz (or brew install graphviz), or write the DOT text "
                              f"instead: render(graph, {str(path.with_suffix('.dot'))!r})")
    result = subprocess.run([dot, f"-T{fmt}", "-o", str(path)], input=text.encode("utf-8"),
                            capture_output=True, check=False)
    if result.returncode != 0:
        raise GraphcError(f"Graphviz 'dot' failed to render {path.name}: {result.stderr.decode(errors='replace').strip()}",
                          fix="save the DOT text with render(graph, 'graph.dot') and inspect it")
    return path
