"""Composite ops: softmax, log_softmax, gelu, layer_norm and linear, each with its decomposition into core ops.

A composite is one readable node in traced IR (``%5:f32[64,10] = log_softmax %4 {dim=1}``) and one
numpy call in eager mode. The ``decompose`` pass (graphc.passes.decompose), first in the compile
pipeline, replaces each by the core ops its ``decompose`` function builds, so every later pass and
the backends see core ops only. Autodiff runs before that pass, so each composite has its own VJP
rule (graphc.passes.vjp.composite), built from core ops.

A decomposition is a function ``(b, node) -> Node``: ``b`` is an :class:`InsertBefore` that adds
nodes just before ``node`` with its source line; the returned node computes ``node``'s value (the
pass moves ``node``'s users and name onto it). ``layer_norm`` is the normalisation alone,
``(x - mean) * rsqrt(var + eps)`` over ``dims``: the front end multiplies by the weight and adds the
bias with ordinary ops, so their gradients need no rule of their own. ``linear`` decomposes into
the primitive ``matmul`` (a reshape to rows, the transposed weight, the bias added after).

    >>> import numpy as np
    >>> from graphc.ir import get_op
    >>> get_op("softmax").ref(np.zeros(2, np.float32), dim=0)
    array([0.5, 0.5], dtype=float32)
    >>> get_op("layer_norm").ref(np.array([[1.0, 3.0]]), dims=(1,), eps=0.0)
    array([[-1.,  1.]])
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import DTypeError, GraphcValueError, ShapeError
from ..graph import TensorType
from ..registry import REQUIRED, register_op
from .elementwise import _erf_ref
from .rules import normalize_dims, same_dtype

_GELU_MODES = ("none", "tanh")
_SQRT_HALF = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TANH_SCALE = math.sqrt(2.0 / math.pi)
_TANH_CUBIC = 0.044715


class InsertBefore:
    """Adds nodes just before ``anchor``, tagged with its source line (what decompositions build with).

    It has the interface of the VJP rules' GradBuilder (``add``, ``const``), so a helper such as
    :func:`layer_norm_moments` builds the same nodes for both, and CSE computes them once.
    """

    def __init__(self, graph, anchor):
        self.graph = graph
        self.anchor = anchor
        self.created: list = []

    def add(self, op: str, *inputs, **attrs):
        node = self.graph.add(op, *inputs, loc=self.anchor.loc, before=self.anchor, **attrs)
        self.created.append(node)
        return node

    def const(self, value, like, shape=()):
        return self.add("constant", value=value, dtype=like.dtype.short, shape=tuple(shape))


def _float_input(op: str, t: TensorType) -> None:
    if not t.dtype.is_floating_point:
        raise DTypeError(f'"{op}" not implemented for \'{t.dtype.name}\'', fix="cast the input with .float() first")


def _axis(dim: int, ndim: int):
    return dim % ndim if ndim else None


# ---------------------------------------------------------------------- softmax, log_softmax
def _softmax_rule(op):
    def rule(types, attrs):
        (t,) = types
        _float_input(op, t)
        normalize_dims((attrs["dim"],), t.ndim, op)
        return TensorType(t.dtype, t.shape)

    return rule


def _shifted(x, dim):
    """x minus its maximum along dim: exp of it cannot overflow."""
    return x - np.max(x, axis=_axis(dim, x.ndim), keepdims=True)


def _softmax_ref(x, *, dim):
    if x.size == 0:
        return x.copy()
    e = np.exp(_shifted(x, dim))
    return e / np.sum(e, axis=_axis(dim, x.ndim), keepdims=True, dtype=x.dtype)


def _log_softmax_ref(x, *, dim):
    if x.size == 0:
        return x.copy()
    s = _shifted(x, dim)
    return s - np.log(np.sum(np.exp(s), axis=_axis(dim, x.ndim), keepdims=True, dtype=x.dtype))


def _shifted_nodes(b, x, dim):
    """(x - max(x, dim), dims) as core nodes, the max kept as a size-1 dim."""
    dims = (dim % max(x.ndim, 1),)
    return b.add("sub", x, b.add("max", x, dims=dims, keepdim=True)), dims


def _softmax_decompose(b, node):
    x = node.inputs[0]
    if x.type.numel == 0:
        return x  # nothing to normalise (and max refuses an empty dim)
    s, dims = _shifted_nodes(b, x, node.attrs["dim"])
    e = b.add("exp", s)
    return b.add("div", e, b.add("sum", e, dims=dims, keepdim=True))


def _log_softmax_decompose(b, node):
    x = node.inputs[0]
    if x.type.numel == 0:
        return x
    s, dims = _shifted_nodes(b, x, node.attrs["dim"])
    return b.add("sub", s, b.add("log", b.add("sum", b.add("exp", s), dims=dims, keepdim=True)))


register_op("softmax", arity=1, kind="composite", infer=_softmax_rule("softmax"), ref=_softmax_ref,
            attrs={"dim": ("int", REQUIRED)}, decompose=_softmax_decompose,
            doc="exp(x - max) / sum(exp(x - max)) along dim")
register_op("log_softmax", arity=1, kind="composite", infer=_softmax_rule("log_softmax"), ref=_log_softmax_ref,
            attrs={"dim": ("int", REQUIRED)}, decompose=_log_softmax_decompose,
            doc="(x - max) - log(sum(exp(x - max))) along dim")


# ---------------------------------------------------------------------- gelu
def _gelu_rule(types, attrs):
    (t,) = types
    _float_input("gelu", t)
    if attrs["approximate"] not in _GELU_MODES:
        raise GraphcValueError(f"approximate argument must be either none or tanh, got '{attrs['approximate']}'",
                               fix="use approximate='none' (the erf form) or 'tanh'")
    return TensorType(t.dtype, t.shape)


def _gelu_ref(x, *, approximate):
    c = x.dtype.type
    if approximate == "tanh":
        inner = np.tanh((x + x * x * x * c(_TANH_CUBIC)) * c(_TANH_SCALE))
    else:
        inner = _erf_ref(x * c(_SQRT_HALF))
    return x * c(0.5) * (c(1.0) + inner)


def gelu_inner(b, x, approximate: str):
    """erf(x / sqrt 2), or tanh(sqrt(2/pi) (x + 0.044715 x^3)): the gelu decomposition and VJP share it."""
    if approximate == "tanh":
        cube = b.add("mul", b.add("mul", x, x), x)
        poly = b.add("add", x, b.add("mul", cube, b.const(_TANH_CUBIC, x)))
        return b.add("tanh", b.add("mul", poly, b.const(_TANH_SCALE, x)))
    return b.add("erf", b.add("mul", x, b.const(_SQRT_HALF, x)))


def _gelu_decompose(b, node):
    x = node.inputs[0]
    inner = gelu_inner(b, x, node.attrs["approximate"])
    return b.add("mul", b.add("mul", x, b.const(0.5, x)), b.add("add", b.const(1.0, x), inner))


register_op("gelu", arity=1, kind="composite", infer=_gelu_rule, ref=_gelu_ref,
            attrs={"approximate": ("str", "none")}, decompose=_gelu_decompose,
            doc="x * Phi(x) = x/2 (1 + erf(x / sqrt 2)); approximate=\"tanh\": x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))")


# ---------------------------------------------------------------------- layer_norm
def _layer_norm_rule(types, attrs):
    (t,) = types
    _float_input("layer_norm", t)
    if t.ndim == 0 or not attrs["dims"]:
        raise ShapeError(f"layer_norm normalises over at least one dimension, got dims={list(attrs['dims'])} "
                         f"for an input of type {t}", fix="give the input at least one dimension and dims=[-1]")
    normalize_dims(attrs["dims"], t.ndim, "layer_norm")
    if attrs["eps"] < 0:
        raise GraphcValueError(f"layer_norm: eps must be >= 0, got {attrs['eps']}", fix="use a small positive eps such as 1e-5")
    return TensorType(t.dtype, t.shape)


def _layer_norm_ref(x, *, dims, eps):
    axes = tuple(d % x.ndim for d in dims)
    n = x.dtype.type(math.prod(x.shape[a] for a in axes))
    centered = x - np.sum(x, axis=axes, keepdims=True, dtype=x.dtype) / n
    var = np.sum(centered * centered, axis=axes, keepdims=True, dtype=x.dtype) / n
    return centered * (x.dtype.type(1.0) / np.sqrt(var + x.dtype.type(eps)))


def layer_norm_moments(b, x, dims, eps: float):
    """``(x - mean, rsqrt(var + eps))`` over ``dims`` as core nodes (biased variance, sizes kept as 1).

    The decomposition and the VJP rule build them identically, so after decomposition CSE leaves
    one copy for the forward and backward passes.
    """
    dims = tuple(d % x.ndim for d in dims)
    n = b.const(float(math.prod(x.shape[d] for d in dims)), x)
    centered = b.add("sub", x, b.add("div", b.add("sum", x, dims=dims, keepdim=True), n))
    var = b.add("div", b.add("sum", b.add("mul", centered, centered), dims=dims, keepdim=True), n)
    return centered, b.add("rsqrt", b.add("add", var, b.const(float(eps), x)))


def _layer_norm_decompose(b, node):
    centered, rstd = layer_norm_moments(b, node.inputs[0], node.attrs["dims"], node.attrs["eps"])
    return b.add("mul", centered, rstd)


register_op("layer_norm", arity=1, kind="composite", infer=_layer_norm_rule, ref=_layer_norm_ref,
            attrs={"dims": ("ints", REQUIRED), "eps": ("float", 1e-5)}, decompose=_layer_norm_decompose,
            doc="(x - mean) * rsqrt(var + eps) over dims (biased var); weight and bias are separate mul / add")


# ---------------------------------------------------------------------- linear
def _linear_rule(types, attrs):
    if len(types) not in (2, 3):
        raise ShapeError(f"linear takes %input, %weight and optionally %bias, got {len(types)} operands",
                         fix="write linear %x, %w or linear %x, %w, %b")
    x, w = types[:2]
    same_dtype("linear", types)
    if x.dtype.is_bool:
        raise DTypeError("linear is not defined for bool tensors", fix="cast with .float() first")
    if w.ndim != 2:
        raise ShapeError(f"linear: expected a 2-D weight (out_features, in_features), got {w}")
    if x.ndim == 0 or x.shape[-1] != w.shape[1]:
        raise ShapeError(f"mat1 and mat2 shapes cannot be multiplied: input {x} (expected [*, {w.shape[1]}]) "
                         f"and weight {w}", fix=f"the last dimension of the input must be in_features={w.shape[1]}")
    if len(types) == 3 and types[2].shape != (w.shape[0],):
        raise ShapeError(f"linear: bias {types[2]} does not match out_features={w.shape[0]}",
                         fix=f"give a bias of shape [{w.shape[0]}]")
    return TensorType(x.dtype, x.shape[:-1] + (w.shape[0],))


def _linear_ref(x, w, b=None):
    # as the decomposition: one 2-D matrix product over all leading dims
    out = np.matmul(x.reshape(-1, x.shape[-1]), w.T)
    if b is not None:
        out = out + b
    return out.reshape(x.shape[:-1] + (w.shape[0],))


def linear_rows(b, x):
    """The input as a [rows, in_features] matrix (the node itself when it is one already)."""
    rows = (math.prod(x.shape[:-1]), x.shape[-1])
    return x if x.shape == rows else b.add("reshape", x, shape=rows)


def _linear_decompose(b, node):
    x, w = node.inputs[:2]
    out = b.add("matmul", linear_rows(b, x), b.add("permute", w, dims=(1, 0)))
    if len(node.inputs) == 3:
        out = b.add("add", out, node.inputs[2])
    return out if out.shape == node.shape else b.add("reshape", out, shape=node.shape)


register_op("linear", arity=None, kind="composite", infer=_linear_rule, ref=_linear_ref, decompose=_linear_decompose,
            doc="linear %x[..., in], %w[out, in] (, %b[out]): x @ w^T + b over the last dim")
