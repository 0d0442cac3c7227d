"""The verifier accepts every well-formed example and rejects each kind of malformed graph."""

from __future__ import annotations

import re

import numpy as np
import pytest
from ir_examples import example_graphs

from graphc.ir import Graph, IRError, TensorType, float32, int64
from graphc.ir.parser import parse_graph
from graphc.ir.printer import format_graph
from graphc.ir.verifier import verify


@pytest.mark.parametrize("graph", example_graphs(), ids=lambda g: g.name)
def test_examples_verify(graph):
    verify(graph)
    verify(parse_graph(format_graph(graph)))


def _small():
    """x -> exp -> neg -> add(x); w param assigned from the add; returns the neg."""
    g = Graph("small")
    x = g.placeholder("x", TensorType(float32, (2, 3)), "input")
    w = g.placeholder("w", TensorType(float32, (2, 3)), "param")
    e = g.add("exp", x, name="e", loc="model.py:5")
    n = g.add("neg", e, name="n", loc="model.py:6")
    a = g.add("add", n, x, name="a")
    g.assign(w, a, loc="train.py:9")
    g.set_outputs([n])
    return g


def _bad(graph, pattern):
    with pytest.raises(IRError, match=pattern) as info:
        verify(graph)
    assert info.value.fix
    return info.value


def _rewire(node, inputs):
    """Replace a node's inputs keeping users consistent (so only the intended defect remains)."""
    for x in node.inputs:
        x.users.pop(node, None)
    node.inputs = tuple(inputs)
    for x in inputs:
        x.users[node] = None


def test_small_graph_verifies():
    verify(_small())


def test_messages_name_the_node_op_and_location():
    g = _small()
    g.by_name("n").type = TensorType(float32, (3, 2))
    err = _bad(g, re.escape("%n (neg): its type is f32[3,2] but the op's rule gives f32[2,3] now"))
    assert err.loc == "model.py:6"
    assert str(err).startswith("model.py:6: %n (neg)")


def test_input_defined_later():
    g = _small()
    g.nodes[0], g.nodes[1] = g.nodes[1], g.nodes[0]
    _bad(g, re.escape("%n (neg): input 0 %e is not defined before it (nodes must be in topological order)"))


def test_input_removed_from_the_graph():
    g = _small()
    e = g.by_name("e")
    g.nodes.remove(e)
    _bad(g, "input 0 %e is not defined before it")


def test_input_from_another_graph():
    g = _small()
    other = Graph("other")
    y = other.placeholder("y", TensorType(float32, (2, 3)))
    _rewire(g.by_name("e"), [y])
    _bad(g, re.escape("%e (exp): input 0 %y belongs to another graph ('other')"))


def test_node_of_another_graph_listed():
    g = _small()
    other = Graph("other")
    y = other.placeholder("y", TensorType(float32, (2, 3)))
    g.nodes.append(other.add("exp", y))
    _bad(g, "belongs to another graph")


def test_duplicate_names():
    g = _small()
    g.by_name("a").name = "e"
    _bad(g, "the name %e is used by two nodes")


def test_node_listed_twice():
    g = _small()
    g.nodes.append(g.nodes[0])
    _bad(g, "is listed twice")


def test_user_missing():
    g = _small()
    g.by_name("e").users.clear()
    _bad(g, re.escape("%n (neg): reads %e but is missing from %e.users"))


def test_stale_user_not_in_graph():
    g = _small()
    extra = g.add("exp", g.by_name("x"), name="gone")
    g.nodes.remove(extra)  # removed behind Graph's back: x still lists it
    _bad(g, re.escape("%x (placeholder): lists %gone as a user, which is not in the graph"))


def test_user_that_does_not_read():
    g = _small()
    g.by_name("e").users[g.by_name("a")] = None
    _bad(g, re.escape("%e (exp): lists %a as a user, but %a does not read it"))


def test_type_stale_after_input_change():
    g = _small()
    g.by_name("x").type = TensorType(float32, (4,))
    _bad(g, re.escape("%e (exp): its type is f32[2,3] but the op's rule gives f32[4] now"))


def test_shape_rule_failing_now():
    g = _small()
    _rewire(g.by_name("a"), [g.by_name("n"), g.placeholder("z", TensorType(float32, (5,)))])
    _bad(g, re.escape("%a (add): its inputs no longer fit the op: shapes [2,3] and [5] cannot be broadcast"))


def test_attrs_failing_check():
    g = Graph("g")
    x = g.placeholder("x", TensorType(float32, (2, 3)))
    s = g.add("sum", x, dims=(0,))
    s.attrs["dims"] = "zero"
    _bad(g, re.escape("%0 (sum): bad attributes: attribute 'dims' of sum: expected a list of ints"))


def test_unknown_attribute():
    g = Graph("g")
    x = g.placeholder("x", TensorType(float32, (2, 3)))
    s = g.add("exp", x)
    s.attrs["alpha"] = 1
    _bad(g, re.escape("%0 (exp): bad attributes: op exp has no attribute ['alpha']"))


def test_missing_attribute():
    g = Graph("g")
    x = g.placeholder("x", TensorType(float32, (2, 3)))
    s = g.add("sum", x, dims=(0,))
    del s.attrs["keepdim"]
    _bad(g, re.escape("%0 (sum): lacks the attributes ['keepdim']"))


def test_arity_mismatch():
    g = _small()
    e = g.by_name("e")
    _rewire(e, [g.by_name("x"), g.by_name("x")])
    _bad(g, re.escape("%e (exp): has 2 inputs, but exp takes 1"))


def test_variadic_arity_accepts_any_count():
    g = Graph("g")
    x = g.placeholder("x", TensorType(float32, (2,)))
    g.set_outputs([g.add("concat", x, x, x, x)])
    verify(g)


def test_unknown_op():
    g = _small()
    g.by_name("n").op = "negate"
    _bad(g, re.escape("%n (negate): unknown op 'negate'"))


def test_placeholder_with_unknown_role():
    g = _small()
    g.by_name("x").attrs["role"] = "buffer"
    _bad(g, re.escape("%x (placeholder): has unknown role 'buffer'"))


def test_placeholder_op_among_nodes():
    g = _small()
    x = g.placeholders.pop(0)
    g.nodes.insert(0, x)
    _bad(g, re.escape("%x (placeholder): a placeholder is in graph.nodes"))


def test_op_among_placeholders():
    g = _small()
    e = g.nodes.pop(0)
    g.placeholders.append(e)
    _bad(g, re.escape("%e (exp): is in graph.placeholders but is not a placeholder"))


def test_assign_to_a_hyper_or_const():
    for role in ("hyper", "const"):
        g = _small()
        h = g.placeholder("h", TensorType(float32, (2, 3)), role, value=np.zeros((2, 3), np.float32) if role == "const" else None)
        (assign,) = g.assigns
        _rewire(assign, [h, g.by_name("a")])
        err = _bad(g, re.escape(f"assigns to the {role} placeholder %h"))
        assert err.loc == "train.py:9"


def test_assign_to_an_input_is_an_argument_changed_in_place():
    g = _small()
    (assign,) = g.assigns
    _rewire(assign, [g.by_name("x"), g.by_name("a")])
    verify(g)


def test_assign_to_a_computed_value():
    g = _small()
    (assign,) = g.assigns
    _rewire(assign, [g.by_name("n"), g.by_name("a")])
    _bad(g, re.escape("assigns to the neg node %n"))


def test_two_assigns_to_one_target():
    g = _small()
    g.assign(g.by_name("w"), g.by_name("n"))
    _bad(g, re.escape("is a second assign to %w"))


def test_assign_to_state_is_fine():
    g = Graph("g")
    s = g.placeholder("m", TensorType(int64, ()), "state")
    g.assign(s, g.add("add", s, g.add("constant", value=1, dtype="i64")))
    verify(g)


def test_output_not_in_graph():
    g = _small()
    other = Graph("other")
    g.set_outputs([other.placeholder("y", TensorType(float32, (2,)))])
    _bad(g, re.escape("output 0 %y is not a node of graph 'small'"))


def test_output_is_an_assign():
    g = _small()
    g.set_outputs(g.assigns)
    _bad(g, "is output 0 but has no value")


def test_cycle():
    g = _small()
    e, n = g.by_name("e"), g.by_name("n")
    _rewire(e, [n])  # e reads n, n reads e
    _bad(g, re.escape("is on a cycle"))


def test_value_bound_to_a_node_outside_the_placeholders():
    g = _small()
    g.const_values[g.by_name("e")] = 1.0
    _bad(g, re.escape("%e (exp): has a value in graph.const_values but is not a placeholder of the graph"))
