"""networkx export, DOT text and rendering with Graphviz."""

from __future__ import annotations

import shutil

import networkx as nx
import pytest
from ir_examples import example_graphs, train_step_graph

from graphc.ir import Graph, GraphcError, TensorType, float32
from graphc.ir import nx as ir_nx
from graphc.ir.nx import ROLE_COLORS, render, to_dot, to_networkx


def _tiny():
    g = Graph('my "graph"')
    x = g.placeholder("x", TensorType(float32, (2,)), "input", loc="m.py:1")
    w = g.placeholder("w", TensorType(float32, (2,)), "param")
    sq = g.add("mul", x, x, name="sq", loc="m.py:2")
    new_w = g.add("sub", w, sq)
    g.assign(w, new_w)
    g.set_outputs([sq, x])
    return g


def test_to_networkx_nodes_and_attributes():
    g = _tiny()
    G = to_networkx(g)
    assert list(G.nodes)[:4] == ["x", "w", "sq", "0"]
    assert G.number_of_nodes() == len(g.placeholders) + len(g.nodes)
    assert G.nodes["x"] | {"node": None} == {"op": "placeholder", "type": "f32[2]", "role": "input", "loc": "m.py:1",
                                             "attrs": {}, "output": 1, "node": None}
    assert G.nodes["sq"]["op"] == "mul" and G.nodes["sq"]["role"] is None and G.nodes["sq"]["output"] == 0
    assert G.nodes["sq"]["node"] is g.by_name("sq")
    (assign,) = g.assigns
    assert G.nodes[assign.name]["type"] is None and G.nodes[assign.name]["op"] == "assign"
    assert G.graph == {"name": 'my "graph"', "outputs": ["sq", "x"]}


def test_to_networkx_edges_carry_input_positions():
    G = to_networkx(_tiny())
    assert G.edges["x", "sq"] == {"pos": 0, "positions": (0, 1)}  # mul %x, %x: one edge, two inputs
    assert G.edges["w", "0"]["pos"] == 0 and G.edges["sq", "0"]["pos"] == 1
    assert G.number_of_edges() == 5


def test_to_networkx_attrs_are_a_copy():
    g = train_step_graph()
    G = to_networkx(g)
    perm = g.by_name("l1.weight.T")
    assert G.nodes["l1.weight.T"]["attrs"] == {"dims": (1, 0)}
    G.nodes["l1.weight.T"]["attrs"]["dims"] = (0, 1)
    assert perm.attrs["dims"] == (1, 0)


@pytest.mark.parametrize("graph", example_graphs(), ids=lambda g: g.name)
def test_networkx_analyses_agree_with_graph_order(graph):
    G = to_networkx(graph)
    assert nx.is_directed_acyclic_graph(G)
    order = {n.name: i for i, n in enumerate(graph)}
    assert all(order[a] < order[b] for a, b in G.edges)
    for n in graph.nodes:
        assert {x.name for x in n.inputs} == set(G.predecessors(n.name))


def test_to_dot_shapes_colours_and_edges():
    g = _tiny()
    dot = to_dot(g)
    assert dot.startswith('digraph "my \\"graph\\"" {')
    assert dot.rstrip().endswith("}")
    assert f'"x" [shape="ellipse", style="filled", fillcolor="{ROLE_COLORS["input"]}", label="%x\\ninput f32[2]"' in dot
    assert f'fillcolor="{ROLE_COLORS["param"]}"' in dot
    assert '"sq" [shape="box", label="%sq = mul\\nf32[2]", tooltip="m.py:2"];' in dot
    (assign,) = g.assigns
    assert f'"0" -> "{assign.name}" [style="dashed", label="1"];' in dot
    assert f'"w" -> "{assign.name}" [style="dashed", label="0"];' in dot
    assert '"x" -> "sq" [label="0"];' in dot and '"x" -> "sq" [label="1"];' in dot
    assert '"sq" -> "%return" [label="0"];' in dot and '"x" -> "%return" [label="1"];' in dot
    assert dot.count(" -> ") == 5 + 1 + 2  # every input (twice for mul %x, %x) and the outputs


def test_to_dot_attributes_optional():
    g = train_step_graph()
    assert 'label="%l1.weight.T = permute\\nf32[3,2]\\ndims=[1,0]"' in to_dot(g)
    assert 'label="%l1.weight.T = permute\\nf32[3,2]"' in to_dot(g, attrs=False)


def test_render_without_graphviz_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(GraphcError, match="Graphviz 'dot' program is not installed") as info:
        render(_tiny(), tmp_path / "g.svg")
    assert "apt-get install graphviz" in info.value.fix
    assert "g.dot" in info.value.fix
    assert not (tmp_path / "g.svg").exists()


def test_render_dot_text_needs_no_graphviz(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    path = render(_tiny(), tmp_path / "g.dot")
    assert path.read_text() == to_dot(_tiny())


def test_render_rejects_unknown_formats(tmp_path):
    with pytest.raises(GraphcError, match="unknown format 'jpeg'") as info:
        render(_tiny(), tmp_path / "g.jpeg")
    assert ".svg" in info.value.fix


def test_render_reports_graphviz_failure(monkeypatch, tmp_path):
    false = shutil.which("false")
    if false is None:
        pytest.skip("no 'false' program")
    monkeypatch.setattr(ir_nx.shutil, "which", lambda name: false)  # a "dot" that always fails
    with pytest.raises(GraphcError, match="Graphviz 'dot' failed to render g.svg"):
        render(_tiny(), tmp_path / "g.svg")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")
@pytest.mark.parametrize("graph", example_graphs(), ids=lambda g: g.name)
def test_render_svg_with_graphviz(graph, tmp_path):
    path = render(graph, tmp_path / f"{graph.name}.svg")
    svg = path.read_text()
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
    for n in graph.placeholders:
        assert f"%{n.name}" in svg


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")
def test_render_png_with_graphviz(tmp_path):
    path = render(_tiny(), tmp_path / "g.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
