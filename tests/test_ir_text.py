"""IR text: exact round trips through parse_graph, parse errors naming the line, .gir files, the op table."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from ir_examples import example_graphs

from graphc.ir import Graph, GraphcError, IRError, TensorType, all_ops, float32, format_graph, int64
from graphc.ir.optable import BEGIN, END, main, op_table_markdown, table_section, with_current_table
from graphc.ir.parser import load_gir, parse_graph, parse_type, parse_value, save_gir
from graphc.ir.printer import format_value
from graphc.ir.verifier import verify

DOC = Path(__file__).resolve().parents[1] / "docs" / "ir.md"
EXAMPLES = {g.name: g for g in example_graphs()}


# ---------------------------------------------------------------------- coverage of the op set
def test_examples_cover_every_registered_op():
    used = {n.op for g in example_graphs() for n in g.nodes}
    missing = sorted(set(all_ops()) - used - {"placeholder"})
    assert not missing, (f"ops without an example graph: {missing}; add a node using each to a builder in "
                         "tests/ir_examples.py")


# ---------------------------------------------------------------------- round trips
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_round_trip_is_exact(name):
    g = EXAMPLES[name]
    text = format_graph(g)
    back = parse_graph(text)
    assert format_graph(back) == text
    verify(back)
    assert back.name == g.name
    # assign nodes have no name in the text; every other name is kept
    assert [n.name for n in back if n.type is not None] == [n.name for n in g if n.type is not None]
    assert [n.op for n in back] == [n.op for n in g]
    assert [n.type for n in back] == [n.type for n in g]
    assert [n.loc for n in back] == [n.loc for n in g]
    assert [n.role for n in back] == [n.role for n in g]
    assert [o.name for o in back.outputs] == [o.name for o in g.outputs]
    # users are rebuilt through Graph.add, in the same order
    for a, b in zip(g, back):
        assert [u.name for u in a.users if u.type is not None] == [u.name for u in b.users if u.type is not None]


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_round_trip_without_locations(name):
    text = format_graph(EXAMPLES[name], locs=False)
    back = parse_graph(text)
    assert format_graph(back, locs=False) == text
    assert all(n.loc is None for n in back)


def test_parsed_graph_names_stay_unique_for_new_nodes():
    back = parse_graph(format_graph(EXAMPLES["sgd_step"]))
    names = {n.name for n in back}
    new = back.add("neg", back.by_name("loss"))
    assert new.name not in names
    new2 = back.add("neg", new, name="loss")
    assert new2.name == "loss_1"


def test_attribute_values_parse_back():
    g = EXAMPLES["movement"]
    back = parse_graph(format_graph(g))
    pad = next(n for n in back.nodes if n.op == "pad")
    assert pad.attrs["pads"] == ((1, 0), (0, 2)) and pad.attrs["value"] == -math.inf
    back_el = parse_graph(format_graph(EXAMPLES["elementwise"]))
    assert math.isnan(back_el.by_name("missing").attrs["value"])
    assert back_el.by_name("35").attrs == {"value": 2, "dtype": "i64", "shape": ()}
    assert isinstance(back_el.by_name("35").attrs["value"], int)


@pytest.mark.parametrize("value", [0, -7, 12345678901234, 0.5, -1e-05, 1e300, math.inf, -math.inf, True, False,
                                   None, "f32", 'say "hi"  # not a comment', "tab\tand \\ and ü", (), (1, 2, 3),
                                   ((1, 0), (0, 2)), (1.5, "a", (None, True))])
def test_parse_value_inverts_format_value(value):
    assert parse_value(format_value(value)) == value
    assert type(parse_value(format_value(value))) is type(value)


def test_parse_value_nan():
    assert math.isnan(parse_value("nan"))


@pytest.mark.parametrize("text", ["[1,2", "abc", '"open', "1 2", "[1,,2]", "infinity"])
def test_parse_value_rejects(text):
    with pytest.raises(IRError, match="line 1"):
        parse_value(text)


def test_location_may_contain_the_comment_marker():
    g = Graph("g")
    x = g.placeholder("x", TensorType(float32, (2,)), loc="a.py:1  # odd")
    g.set_outputs([g.add("exp", x, loc="<string>:3  # b")])
    text = format_graph(g)
    back = parse_graph(text)
    assert format_graph(back) == text
    assert back.by_name("0").loc == "<string>:3  # b"


def test_numeric_names_are_kept_exactly():
    text = "graph g {\n  %7:f32[2] = input\n  %v7:f32[2] = exp %7\n  %3:f32[2] = add %v7, %7\n  return %3\n}"
    g = parse_graph(text)
    assert [n.name for n in g] == ["7", "v7", "3"]
    assert format_graph(g) == text


def test_assign_lines_get_fresh_names_that_do_not_clash():
    text = ("graph g {\n  %w:f32[2] = param\n  %assign:f32[2] = neg %w\n  assign %w, %assign\n"
            "  %assign_1:f32[2] = exp %w\n  return %assign_1\n}")
    g = parse_graph(text)
    assert format_graph(g) == text
    assert len({n.name for n in g}) == 4
    verify(g)


def test_doc_worked_example_round_trips():
    blocks = re.findall(r"```gir\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    full = [b for b in blocks if b.startswith("graph ")]
    assert full, "docs/ir.md lost its worked example"
    for text in full:
        g = parse_graph(text)
        verify(g)
        assert format_graph(g) + "\n" == text


# ---------------------------------------------------------------------- types
def test_parse_type():
    assert parse_type("f32[64,784]") == TensorType(float32, (64, 784))
    assert parse_type("i64[]") == TensorType(int64, ())
    assert parse_type(" bool[0, 3] ").shape == (0, 3)


@pytest.mark.parametrize("text, fragment", [("f16[2]", "unknown dtype 'f16'"), ("f32[2,-1]", "bad shape"),
                                            ("f32", "bad type"), ("f32[a]", "bad shape"), ("[2]", "bad type")])
def test_parse_type_errors(text, fragment):
    with pytest.raises(IRError, match=re.escape(fragment)):
        parse_type(text)


# ---------------------------------------------------------------------- errors name the line
GOOD = ["graph g {", "  %x:f32[2,3] = input", "  %w:f32[2,3] = param", "  %0:f32[2,3] = add %x, %w",
        "  return %0", "}"]


def _with(line_no: int, text: str) -> str:
    lines = list(GOOD)
    lines[line_no - 1] = text
    return "\n".join(lines)


@pytest.mark.parametrize("line_no, text, fragment", [
    (4, "  %0:f32[2,3] = addd %x, %w", "line 4: unknown op 'addd'"),
    (4, "  %0:f32[2,3] = add %x, %y", "line 4: %y is not defined"),
    (4, "  %0:f32[2,3] = add %x, %0", "line 4: %0 is not defined"),
    (4, "  %0:f16[2,3] = add %x, %w", "line 4: unknown dtype 'f16'"),
    (4, "  %0:f32 = add %x, %w", "line 4: expected a type"),
    (4, "  %0:f32[3,2] = add %x, %w", "line 4: %0 is declared f32[3,2] but add gives f32[2,3]"),
    (4, "  %0:f32[2,3] = add %x, %w {alpha=2}", "line 4: op add has no attribute ['alpha']"),
    (4, "  %0:f32[2,3] = exp %x {dims=[1,}", "line 4: bad attribute value"),
    (4, "  %0:f32[2,3] = sum %x {dims=[0], keepdim=maybe}", "line 4: bad attribute value 'maybe}'"),
    (4, "  %0:f32[2,3] = sum %x {dims=[0], dims=[1]}", "line 4: attribute 'dims' is given twice"),
    (4, "  %0:f32[2] = sum %x {dims=[\"a\"]}", "line 4: attribute 'dims' of sum"),
    (4, "  %0:f32[2,3] = add %x %w", "line 4: unexpected text '%w'"),
    (4, "  %0:f32[2,3] = add %x, %w trailing", "line 4: unexpected text 'trailing'"),
    (4, "  add %x, %w", "line 4: add gives a value of type f32[2,3]"),
    (4, "  %0:f32[2,3] = assign %w, %x", "line 4: assign gives no value"),
    (4, "  %0:f32[2,3] = placeholder", "line 4: 'placeholder' is not written as an op"),
    (4, "  %0:f32[2,4] = matmul %x, %w", "line 4: "),
    (4, "  %0:f32[2,3] = cast %x {dtype=\"f16\"}", "line 4: cast"),
    (3, "  %x:f32[2,3] = param", "line 3: %x is defined twice"),
    (3, "  %w f32[2,3] = param", "line 3: expected ':type'"),
    (3, "  w:f32[2,3] = param", "line 3: unknown op 'w'"),
    (3, "  = param", "line 3: expected an op name"),
    (5, "  return %zz", "line 5: %zz is not defined"),
    (5, "  return %0 %x", "line 5: expected ',' between returned values"),
    (5, "  %1:f32[2,3] = neg %0", "line 5: expected 'return %a, %b, ...' before '}'"),
    (1, "graf g {", "line 1: expected 'graph NAME {'"),
    (6, "", "line 5: the graph must end with a 'return' line and '}'"),
])
def test_parse_errors_name_the_line(line_no, text, fragment):
    with pytest.raises(IRError, match=re.escape(fragment)) as info:
        parse_graph(_with(line_no, text))
    assert info.value.fix


def test_placeholder_after_a_node_is_rejected():
    text = "\n".join(GOOD[:4] + ["  %b:f32[2,3] = param"] + GOOD[4:])
    with pytest.raises(IRError, match="line 5: placeholder %b comes after the first node"):
        parse_graph(text)


def test_return_must_be_last():
    text = "\n".join(GOOD[:3] + ["  return %x"] + GOOD[3:])
    with pytest.raises(IRError, match="line 4: 'return' must be the last line"):
        parse_graph(text)


def test_empty_text():
    with pytest.raises(IRError, match="line 1: empty IR text"):
        parse_graph("  \n")


def test_error_location_names_the_file(tmp_path):
    path = tmp_path / "bad.gir"
    path.write_text(_with(4, "  %0:f32[2,3] = nope %x"))
    with pytest.raises(IRError) as info:
        load_gir(path)
    assert info.value.loc == f"{path}:4"
    assert str(info.value).startswith(f"{path}:4: line 4: unknown op 'nope'")


# ---------------------------------------------------------------------- .gir files
def test_save_and_load_gir_with_const_values(tmp_path):
    g = EXAMPLES["sgd_step"]
    path = tmp_path / "step.gir"
    save_gir(g, path)
    assert path.read_text() == format_graph(g) + "\n"
    assert (tmp_path / "step.npz").exists()
    back = load_gir(path)
    assert format_graph(back) == format_graph(g)
    (scale,) = back.const_values
    assert scale.name == "scale"
    np.testing.assert_array_equal(back.const_values[scale], np.array([1.0, 0.5, 2.0], np.float32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step.gir", "step.npz"]  # no temp files left


def test_save_without_values_removes_a_stale_npz(tmp_path):
    path = tmp_path / "step.gir"
    save_gir(EXAMPLES["sgd_step"], path)
    save_gir(EXAMPLES["conv"], path)
    assert not (tmp_path / "step.npz").exists()
    assert load_gir(path).const_values == {}


def test_load_gir_checks_values(tmp_path):
    path = tmp_path / "step.gir"
    save_gir(EXAMPLES["sgd_step"], path)
    np.savez(tmp_path / "step.npz", scale=np.zeros(4, np.float32))
    with pytest.raises(IRError, match=r"the value of %scale is float32\[4\], but the placeholder is f32\[3\]"):
        load_gir(path)
    np.savez(tmp_path / "step.npz", ghost=np.zeros(3, np.float32))
    with pytest.raises(IRError, match="value for %ghost, which is not a placeholder"):
        load_gir(path)


def test_load_gir_missing_file(tmp_path):
    with pytest.raises(IRError, match="cannot read"):
        load_gir(tmp_path / "nothing.gir")


# ---------------------------------------------------------------------- the op table in docs/ir.md
def test_docs_op_table_is_current():
    page = DOC.read_text(encoding="utf-8")
    assert table_section() in page, ("docs/ir.md's op table is stale (an op was added or changed); "
                                     "regenerate it with: python -m graphc.ir.optable")


def test_op_table_lists_every_op_with_its_attributes():
    table = op_table_markdown()
    for name, opdef in all_ops().items():
        row = next(line for line in table.splitlines() if line.startswith(f"| `{name}` |"))
        for attr in opdef.attrs:
            assert f"`{attr}`" in row
    assert "| `concat` | any | movement |" in table
    assert "`keepdim`: bool = `false`" in table


def test_optable_main_rewrites_and_checks(tmp_path, capsys):
    page = tmp_path / "ir.md"
    page.write_text(f"intro\n{BEGIN}\nold table\n{END}\noutro\n")
    assert main([str(page), "--check"]) == 1
    assert main([str(page)]) == 0
    assert page.read_text() == f"intro\n{table_section()}\noutro\n"
    assert main([str(page), "--check"]) == 0


def test_optable_needs_markers():
    with pytest.raises(GraphcError, match="no op-table markers"):
        with_current_table("no markers here")
