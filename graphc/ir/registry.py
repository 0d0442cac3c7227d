"""The op registry: one entry per op, with its attribute schema, shape rule and numpy reference.

Adding an op to graphc is one :func:`register_op` call here (plus a VJP rule in
``graphc.passes.vjp`` and a lowering in ``graphc.runtime``)::

    register_op(
        "exp", arity=1, kind="elementwise",
        infer=unary_float_rule, ref=np.exp,
        doc="e raised to each element",
    )

The shape rule receives the input types and the checked attributes and returns the output
type, raising :class:`~graphc.ir.errors.ShapeError` / :class:`DTypeError` with a clear message.
The reference receives numpy arrays and attributes as keywords and returns a numpy array.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import IRError

REQUIRED = object()

# attribute kinds and how a value of each is checked / normalised
_ATTR_KINDS = {
    "int": lambda v: int(v) if isinstance(v, int) and not isinstance(v, bool) else _bad(v, "an int"),
    "float": lambda v: float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else _bad(v, "a number"),
    "number": lambda v: v if isinstance(v, (int, float, bool)) else _bad(v, "a number"),
    "bool": lambda v: v if isinstance(v, bool) else _bad(v, "True or False"),
    "str": lambda v: v if isinstance(v, str) else _bad(v, "a string"),
    "dtype": lambda v: v if isinstance(v, str) else _bad(v, "a dtype name"),
    "ints": lambda v: tuple(int(x) for x in v) if _is_seq(v) and all(isinstance(x, int) and not isinstance(x, bool) for x in v) else _bad(v, "a list of ints"),
    "pairs": lambda v: tuple((int(a), int(b)) for a, b in v) if _is_seq(v) else _bad(v, "a list of (int, int) pairs"),
}


class _BadAttr(Exception):
    pass


def _bad(value, expected):
    raise _BadAttr(f"expected {expected}, got {value!r}")


def _is_seq(v) -> bool:
    return isinstance(v, (list, tuple))


@dataclass
class OpDef:
    """An op: its name, arity (None for variadic), attribute schema, shape rule and reference."""

    name: str
    arity: int | None
    kind: str
    infer: Callable | None
    ref: Callable | None
    attrs: dict[str, tuple[str, object]] = field(default_factory=dict)
    effect: bool = False  # has a side effect (assign): never removed, never reordered across
    doc: str = ""
    # composite ops: (graph, node) -> the node computing the same value from core ops, inserted
    # before ``node`` (the ``decompose`` pass calls it); None for core ops
    decompose: Callable | None = None

    def check_attrs(self, attrs: dict) -> dict:
        """Return the attributes with defaults filled in; raise IRError on unknown or bad ones."""
        unknown = set(attrs) - set(self.attrs)
        if unknown:
            raise IRError(f"op {self.name} has no attribute {sorted(unknown)}", fix=f"its attributes are {sorted(self.attrs)}")
        out = {}
        for key, (kind, default) in self.attrs.items():
            if key in attrs:
                value = attrs[key]
            elif default is REQUIRED:
                raise IRError(f"op {self.name} needs the attribute {key!r}")
            else:
                value = default
            if value is None and default is None:
                out[key] = None
                continue
            try:
                out[key] = _ATTR_KINDS[kind](value)
            except (_BadAttr, TypeError, ValueError) as e:
                raise IRError(f"attribute {key!r} of {self.name}: {e}") from None
        return out


_REGISTRY: dict[str, OpDef] = {}


def register_op(name: str, *, arity: int | None, kind: str, infer=None, ref=None, attrs=None, effect=False, doc="",
                decompose=None) -> OpDef:
    """Register an op. ``attrs`` maps each attribute to ``(kind, default)``; use REQUIRED for no default.

    ``decompose``, for a composite op, builds the op's value from core ops (see graphc.ir.ops.composite).
    """
    if name in _REGISTRY:
        raise IRError(f"op {name!r} is registered twice")
    opdef = OpDef(name, arity, kind, infer, ref, dict(attrs or {}), effect, doc, decompose)
    _REGISTRY[name] = opdef
    return opdef


def get_op(name: str) -> OpDef:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise IRError(f"unknown op {name!r}", fix="register it with graphc.ir.register_op") from None


def all_ops() -> dict[str, OpDef]:
    """Every registered op by name (a copy)."""
    return dict(_REGISTRY)
