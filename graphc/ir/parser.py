"""Read IR text back into a Graph: the exact inverse of :func:`graphc.ir.printer.format_graph`.

    >>> from graphc.ir.parser import parse_graph
    >>> g = parse_graph('''
    ... graph double {
    ...   %x:f32[2,3] = input
    ...   %0:f32[2,3] = add %x, %x  # model.py:7
    ...   return %0
    ... }''')
    >>> g.by_name("0").loc
    'model.py:7'
    >>> print(g)
    graph double {
      %x:f32[2,3] = input
      %0:f32[2,3] = add %x, %x  # model.py:7
      return %0
    }

Every node type written in the text is checked against the op's shape rule, so a ``.gir`` file
(or a golden test) cannot claim a type the op would not produce. Errors are :class:`IRError`
naming the line (``line 4: unknown op 'matmull'``).

:func:`save_gir` / :func:`load_gir` store a graph as this text; values bound to placeholders
(``graph.const_values``) go to a sibling ``.npz`` keyed by placeholder name.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import numpy as np

from .atomic import atomic_write
from .dtypes import ALL as _ALL_DTYPES
from .errors import GraphcError, IRError
from .graph import ROLES, Graph, Node, TensorType
from .printer import format_graph
from .registry import get_op

_SHORT_DTYPES = {d.short: d for d in _ALL_DTYPES}
_NAME = re.compile(r"%([A-Za-z0-9_.]+)")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_INT = re.compile(r"[-+]?\d+")
_TYPE = re.compile(r"([A-Za-z0-9]+)\[([^\]]*)\]")
_WORDS = {"true": True, "false": False, "none": None, "inf": math.inf, "-inf": -math.inf, "nan": math.nan}
_FORMAT_FIX = "lines read '%name:f32[2,3] = op %a, %b {key=value}  # file:line' (see docs/ir.md)"
_NAME_FIX = "names are %[A-Za-z0-9_.]+, e.g. %x, %l1.weight, %7"


class _Line:
    """A cursor over one line of IR text; every error it raises names the line."""

    def __init__(self, text: str, number: int, source: str | None):
        self.text = text
        self.pos = 0
        self.number = number
        self.source = source

    def error(self, message: str, fix: str | None = None) -> IRError:
        loc = f"{self.source}:{self.number}" if self.source else None
        return IRError(f"line {self.number}: {message}", fix=fix or _FORMAT_FIX, loc=loc)

    def skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] == " ":
            self.pos += 1

    def peek(self, s: str) -> bool:
        return self.text.startswith(s, self.pos)

    def take(self, s: str) -> bool:
        if self.peek(s):
            self.pos += len(s)
            return True
        return False

    def expect(self, s: str, what: str) -> None:
        if not self.take(s):
            raise self.error(f"expected {what} at column {self.pos + 1}, found {self.rest()!r}")

    def match(self, pattern: re.Pattern) -> re.Match | None:
        m = pattern.match(self.text, self.pos)
        if m:
            self.pos = m.end()
        return m

    def rest(self) -> str:
        return self.text[self.pos:]

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    # ------------------------------------------------------------ pieces
    def name(self) -> str:
        m = self.match(_NAME)
        if not m:
            raise self.error(f"expected a %name at column {self.pos + 1}, found {self.rest()!r}", fix=_NAME_FIX)
        return m.group(1)

    def type(self) -> TensorType:
        m = self.match(_TYPE)
        if not m:
            raise self.error(f"expected a type such as f32[64,784] after ':', found {self.rest()!r}",
                             fix=f"a type is a dtype ({', '.join(_SHORT_DTYPES)}) and a shape in [...]")
        try:
            return parse_type(m.group(0))
        except IRError as e:
            raise self.error(e.message, fix=e.fix) from None

    def value(self):
        """One attribute value: number, inf/-inf/nan, true/false, none, "string" or [list]."""
        if self.take("["):
            items = []
            self.skip_spaces()
            if self.take("]"):
                return ()
            while True:
                self.skip_spaces()
                items.append(self.value())
                self.skip_spaces()
                if self.take("]"):
                    return tuple(items)
                self.expect(",", "',' or ']' in a list")
        if self.peek('"'):
            try:
                s, end = json.JSONDecoder().raw_decode(self.text, self.pos)
            except json.JSONDecodeError as e:
                raise self.error(f"bad string attribute value: {e.msg}", fix='strings are JSON: "text"') from None
            self.pos = end
            return s
        for word, v in sorted(_WORDS.items(), key=lambda kv: -len(kv[0])):
            if self.peek(word) and not _is_ident_char(self.text, self.pos + len(word)):
                self.pos += len(word)
                return v
        m = self.match(_NUMBER)
        if m and not _is_ident_char(self.text, self.pos):
            text = m.group(0)
            return int(text) if _INT.fullmatch(text) else float(text)
        raise self.error(f"bad attribute value {self.rest()!r}",
                         fix='values are ints, floats, inf, -inf, nan, true, false, none, "strings" or [lists]')

    def attrs(self) -> dict:
        out: dict = {}
        self.skip_spaces()
        if self.take("}"):
            return out
        while True:
            self.skip_spaces()
            m = self.match(_KEY)
            if not m:
                raise self.error(f"expected an attribute name, found {self.rest()!r}", fix="attributes are {key=value, ...}")
            if m.group(0) in out:
                raise self.error(f"attribute {m.group(0)!r} is given twice")
            self.skip_spaces()
            self.expect("=", f"'=' after attribute {m.group(0)!r}")
            self.skip_spaces()
            out[m.group(0)] = self.value()
            self.skip_spaces()
            if self.take("}"):
                return out
            self.expect(",", "',' or '}' in the attributes")

    def location(self) -> str | None:
        """The trailing ``  # file:line``, or None; anything else left on the line is an error."""
        self.skip_spaces()
        if self.at_end():
            return None
        if self.take("#"):
            self.take(" ")
            return self.rest()
        raise self.error(f"unexpected text {self.rest()!r}", fix="a source location follows '  # '")


def _is_ident_char(text: str, i: int) -> bool:
    return i < len(text) and (text[i].isalnum() or text[i] in "_.")


def parse_type(text: str) -> TensorType:
    """Parse a type: ``f32[64,784]`` -> ``TensorType(float32, (64, 784))``; ``i64[]`` is a scalar."""
    m = _TYPE.fullmatch(text.strip())
    if not m:
        raise IRError(f"bad type {text!r}", fix="write a dtype and a shape, e.g. f32[64,784] or i64[]")
    dtype = _SHORT_DTYPES.get(m.group(1))
    if dtype is None:
        raise IRError(f"unknown dtype {m.group(1)!r} in type {text!r}", fix=f"dtypes are {', '.join(_SHORT_DTYPES)}")
    dims = [d.strip() for d in m.group(2).split(",")] if m.group(2).strip() else []
    if not all(d.isdigit() for d in dims):
        raise IRError(f"bad shape in type {text!r}", fix="sizes are non-negative integers: f32[64,784]")
    return TensorType(dtype, [int(d) for d in dims])


def parse_value(text: str):
    """Parse one attribute value as ``format_value`` writes it: ``[[1,0],[0,2]]`` -> ``((1, 0), (0, 2))``."""
    line = _Line(text.strip(), 1, None)
    value = line.value()
    if not line.at_end():
        raise line.error(f"unexpected text {line.rest()!r} after the value")
    return value


def _rename(graph: Graph, node: Node, name: str) -> None:
    # Graph gives numeric names only to unnamed nodes (a hint "7" becomes "v7"); the text's
    # names are unique already, so take the exact one.
    if node.name != name:
        graph._names.discard(node.name)
        graph._names.add(name)
        node.name = name


class _Parser:
    def __init__(self, text: str, source: str | None):
        self.source = source
        self.lines = text.splitlines()
        self.env: dict[str, Node] = {}
        # every name the text defines, so names made up for assign nodes never collide
        self.reserved = set()
        for line in self.lines:
            m = _NAME.match(line.strip())
            if m:
                self.reserved.add(m.group(1))
        self.graph: Graph | None = None

    def error(self, number: int, message: str, fix: str | None = None) -> IRError:
        loc = f"{self.source}:{number}" if self.source else None
        return IRError(f"line {number}: {message}", fix=fix or _FORMAT_FIX, loc=loc)

    def parse(self) -> Graph:
        body = [(i + 1, line) for i, line in enumerate(self.lines) if line.strip()]
        if not body:
            raise self.error(1, "empty IR text", fix="IR text starts with 'graph NAME {'")
        number, first = body[0]
        head = first.strip()
        if not (head.startswith("graph ") and head.endswith("{")):
            raise self.error(number, f"expected 'graph NAME {{', found {head!r}")
        self.graph = Graph(head[len("graph "):-1].strip())
        last_number, last = body[-1]
        if last.strip() != "}" or len(body) < 3:
            raise self.error(last_number, "the graph must end with a 'return' line and '}'")
        *statements, (ret_number, ret) = body[1:-1]
        for number, line in statements:
            self.statement(_Line(line.strip(), number, self.source))
        self.returns(_Line(ret.strip(), ret_number, self.source))
        return self.graph

    def returns(self, line: _Line) -> None:
        if not (line.take("return") and (line.at_end() or line.peek(" "))):
            raise line.error(f"expected 'return %a, %b, ...' before '}}', found {line.text!r}")
        outputs = []
        line.skip_spaces()
        while not line.at_end():
            outputs.append(self.lookup(line, line.name()))
            line.skip_spaces()
            if not line.at_end():
                line.expect(",", "',' between returned values")
                line.skip_spaces()
        self.graph.set_outputs(outputs)

    def lookup(self, line: _Line, name: str) -> Node:
        try:
            return self.env[name]
        except KeyError:
            raise line.error(f"%{name} is not defined", fix="a value must be defined on an earlier line") from None

    def statement(self, line: _Line) -> None:
        if line.peek("return"):
            raise line.error("'return' must be the last line before '}'")
        name = declared = None
        if line.peek("%"):
            name = line.name()
            if name in self.env:
                raise line.error(f"%{name} is defined twice", fix="every value has its own name")
            line.expect(":", f"':type' after %{name}")
            declared = line.type()
            line.skip_spaces()
            line.expect("=", "' = '")
            line.skip_spaces()
        m = line.match(_IDENT)
        if not m:
            raise line.error(f"expected an op name, found {line.rest()!r}")
        word = m.group(0)
        if word in ROLES and name is not None:
            self.placeholder(line, name, declared, word)
        else:
            self.op(line, name, declared, word)

    def placeholder(self, line: _Line, name: str, declared: TensorType, role: str) -> None:
        if self.graph.nodes:
            raise line.error(f"placeholder %{name} comes after the first node", fix="placeholders come first")
        loc = line.location()
        node = self.graph.placeholder(name, declared, role, loc=loc)
        _rename(self.graph, node, name)
        self.env[name] = node

    def op(self, line: _Line, name: str | None, declared: TensorType | None, op: str) -> None:
        if op == "placeholder":
            raise line.error("'placeholder' is not written as an op", fix="write %name:type = input (or param, state, hyper, const)")
        try:
            opdef = get_op(op)
        except IRError:
            raise line.error(f"unknown op {op!r}", fix="see the op table in docs/ir.md (graphc.ir.all_ops())") from None
        inputs = []
        line.skip_spaces()
        if line.peek("%"):
            while True:
                inputs.append(self.lookup(line, line.name()))
                line.skip_spaces()
                if not line.take(","):
                    break
                line.skip_spaces()
        attrs = {}
        if line.take("{"):
            attrs = line.attrs()
        loc = line.location()
        hint = self.fresh_name(op) if name is None else name
        try:
            node = self.graph.add(op, *inputs, name=hint, loc=loc,
                                  type_=declared if opdef.infer is None else None, **attrs)
        except GraphcError as e:
            raise line.error(e.message, fix=e.fix) from None
        except (ValueError, TypeError, KeyError) as e:  # a shape rule that raised a builtin
            raise line.error(f"{op}: {e}", fix="check the attributes against the op table in docs/ir.md") from None
        if name is None:
            if node.type is not None:
                raise line.error(f"{op} gives a value of type {node.type}", fix=f"write '%name:{node.type} = {op} ...'")
            return
        if node.type is None:
            raise line.error(f"{op} gives no value, but the line names %{name}", fix=f"write '{op} %a, %b' with no '%name:type ='")
        if node.type != declared:
            raise line.error(f"%{name} is declared {declared} but {op} gives {node.type}",
                             fix="fix the type (or the inputs and attributes)")
        _rename(self.graph, node, name)
        self.env[name] = node

    def fresh_name(self, op: str) -> str:
        base, i = op, 0
        candidate = base
        while candidate in self.reserved:
            i += 1
            candidate = f"{base}_{i}"
        self.reserved.add(candidate)
        return candidate


def parse_graph(text: str, *, source: str | None = None) -> Graph:
    """Parse IR text (the output of ``format_graph``) into a Graph, checking every node's type.

    ``source`` (a file name) makes error locations read ``source:LINE``.
    """
    return _Parser(text, source).parse()


# ---------------------------------------------------------------------- .gir files
def _values_path(path: Path) -> Path:
    return path.with_suffix(".npz")


def save_gir(graph: Graph, path: str | os.PathLike) -> None:
    """Write ``graph`` as IR text to ``path`` (``.gir``); bound placeholder values go to ``path.npz``.

    ``step.gir`` keeps its values in ``step.npz`` (keyed by placeholder name); a stale
    ``step.npz`` is removed when the graph has none. Both writes are atomic.
    """
    path = Path(path)
    text = format_graph(graph) + "\n"
    atomic_write(path, text.encode("utf-8"))
    values = {}
    for node, value in graph.const_values.items():
        array = np.asarray(value)
        if array.dtype == object:
            raise IRError(f"the value bound to %{node.name} is not a numeric array", fix="bind a numpy array")
        values[node.name] = array
    npz = _values_path(path)
    if values:
        atomic_write(npz, lambda f: np.savez(f, **values))
    elif npz.exists():
        npz.unlink()


def load_gir(path: str | os.PathLike) -> Graph:
    """Read a graph written by :func:`save_gir`, with its placeholder values when ``path.npz`` exists."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise IRError(f"cannot read {path}: {e.strerror}", fix="check the path") from None
    graph = parse_graph(text, source=str(path))
    npz = _values_path(path)
    if not npz.exists():
        return graph
    placeholders = {p.name: p for p in graph.placeholders}
    with np.load(npz, allow_pickle=False) as data:
        for key in data.files:
            node = placeholders.get(key)
            if node is None:
                raise IRError(f"{npz} holds a value for %{key}, which is not a placeholder of {path}",
                              fix="save the graph and its values together with save_gir")
            array = data[key]
            if array.shape != node.type.shape or array.dtype != node.type.dtype.np:
                raise IRError(f"{npz}: the value of %{key} is {array.dtype}{list(array.shape)}, "
                              f"but the placeholder is {node.type}", fix="save the graph and its values together")
            graph.const_values[node] = array
    return graph
