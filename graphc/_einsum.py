"""``graphc.einsum``: Einstein summation with PyTorch's semantics, built from matmul and movement ops.

The operands are contracted left to right. Before each pair is multiplied, every subscript
that neither the output nor a later operand needs is summed out of the operand that alone has
it; the pair then becomes one batched ``matmul`` (shared kept subscripts are the batch,
shared dropped ones the contraction) between a permute/reshape on each side::

    >>> import graphc
    >>> a, b = graphc.ones(2, 3), graphc.ones(3, 4)
    >>> graphc.einsum("ij,jk->ik", a, b).shape, graphc.einsum("ii", graphc.eye(3)).item()
    (graphc.Size([2, 4]), 3.0)

A subscript repeated within one operand takes that operand's diagonal first; ``...`` stands
for the same broadcast dims in every operand; dims of size 1 broadcast, as in PyTorch.
"""

from __future__ import annotations

import string

from graphc.ir.errors import DTypeError, GraphcTypeError, ShapeError

from . import _dispatch
from ._tensor_args import as_tensor, numel_of
from ._tensor_math import _torch_name
from ._tensor_reduce import sum as reduce_sum
from ._tensor_select import _take_diagonal
from .tensor import Tensor

apply = _dispatch.apply

__all__ = ["einsum"]

_LETTERS = set(string.ascii_letters)
_ELLIPSIS_LABELS = [chr(0x100 + k) for k in range(64)]  # stand-ins for the dims '...' covers


def _error(message: str) -> ShapeError:
    return ShapeError("einsum(): " + message, fix="check the equation against the operands' shapes, e.g. "
                      "graphc.einsum('ij,jk->ik', a, b) for a matrix product")


# ------------------------------------------------------------------ parsing the equation
def _split_terms(equation: str):
    """The input terms and the output term (None when implicit), checked character by character."""
    arrow = equation.find("->")
    at = 0
    while at < len(equation):
        ch = equation[at]
        if at == arrow:
            at += 2
            continue
        if ch not in _LETTERS and ch not in " ." and (ch != "," or 0 <= arrow < at):
            raise _error(f"invalid subscript given at index {at} in the equation string, subscripts must be in [a-zA-Z]")
        at += 1
    lhs, out = (equation[:arrow], equation[arrow + 2:]) if arrow >= 0 else (equation, None)
    terms = [t.replace(" ", "") for t in lhs.split(",")]
    return terms, None if out is None else out.replace(" ", "")


def _labels(term: str, what: str) -> tuple[list[str], bool]:
    """A term's subscripts with '...' kept as one item; whether it had an ellipsis."""
    if term.count("...") > 1 or term.replace("...", "").count("."):
        raise _error(f"found '.' for {what} that is not part of any ellipsis")
    head, dots, tail = term.partition("...")
    return list(head) + (["..."] if dots else []) + list(tail), bool(dots)


def _expand_ellipsis(labels: list[str], ndim: int, index: int) -> list[str]:
    named = [lb for lb in labels if lb != "..."]
    if "..." not in labels:
        if len(named) != ndim:
            raise _error(f"the number of subscripts in the equation ({len(named)}) does not match the number of "
                         f"dimensions ({ndim}) for operand {index} and no ellipsis was given")
        return named
    covered = ndim - len(named)
    if covered < 0:
        raise _error(f"the number of subscripts in the equation ({len(named)}) is more than the number of dimensions "
                     f"({ndim}) for operand {index}")
    at = labels.index("...")
    stand_ins = _ELLIPSIS_LABELS[len(_ELLIPSIS_LABELS) - covered:]  # right-aligned, so they broadcast
    return labels[:at] + stand_ins + labels[at + 1:]


# ------------------------------------------------------------------ the computation
def _diagonals(x: Tensor, labels: list[str], index: int) -> tuple[Tensor, list[str]]:
    """Take the diagonal of every subscript repeated within one operand ('ii->i')."""
    while True:
        seen = {}
        for k, lb in enumerate(labels):
            if lb in seen:
                a = seen[lb]
                if x.shape[a] != x.shape[k]:
                    raise _error(f"subscript {lb} is repeated for operand {index} but the sizes don't match, "
                                 f"{x.shape[k]} != {x.shape[a]}")
                x = _take_diagonal(x, 0, a, k)
                labels = [m for j, m in enumerate(labels) if j not in (a, k)] + [lb]
                break
            seen[lb] = k
        else:
            return x, labels


def _sum_out(x: Tensor, labels: list[str], drop) -> tuple[Tensor, list[str]]:
    dims = tuple(k for k, lb in enumerate(labels) if lb in drop)
    if not dims:
        return x, labels
    return reduce_sum(x, dims), [lb for lb in labels if lb not in drop]


def _contract(a: Tensor, la: list[str], b: Tensor, lb: list[str], keep: set) -> tuple[Tensor, list[str]]:
    """``a`` times ``b`` summed over their shared subscripts that ``keep`` does not hold."""
    a, la = _sum_out(a, la, set(la) - set(lb) - keep)
    b, lb = _sum_out(b, lb, set(lb) - set(la) - keep)
    batch = [lb_ for lb_ in la if lb_ in lb and lb_ in keep]
    summed = [lb_ for lb_ in la if lb_ in lb and lb_ not in keep]
    only_a = [lb_ for lb_ in la if lb_ not in lb]
    only_b = [lb_ for lb_ in lb if lb_ not in la]
    size = dict(zip(la, a.shape, strict=True)) | dict(zip(lb, b.shape, strict=True))

    def arranged(x, labels, order):
        groups = [numel_of(size[lb_] for lb_ in g) for g in order]
        dims = tuple(labels.index(lb_) for g in order for lb_ in g)
        return apply("reshape", apply("permute", x, dims=dims), shape=tuple(groups))

    left = arranged(a, la, (batch, only_a, summed))
    right = arranged(b, lb, (batch, summed, only_b))
    out_labels = batch + only_a + only_b
    out = apply("matmul", left, right)
    return apply("reshape", out, shape=tuple(size[lb_] for lb_ in out_labels)), out_labels


def _broadcast_sizes(operands, labels) -> dict:
    """Each subscript's size; dims of size 1 broadcast to the others (PyTorch's rule)."""
    size = {}
    for i, (x, ls) in enumerate(zip(operands, labels, strict=True)):
        for lb, s in zip(ls, x.shape, strict=True):
            seen = size.get(lb, 1)
            if s != 1 and seen != 1 and s != seen:
                name = "..." if lb in _ELLIPSIS_LABELS else lb
                raise _error(f"subscript {name} has size {s} for operand {i} which does not broadcast with previously "
                             f"seen size {seen}")
            size[lb] = max(seen, s) if s != 1 else seen
    return size


def einsum(equation: str, *operands):
    """Sum the product of ``operands`` over the subscripts that ``equation`` leaves out of its output.

    Supports PyTorch's equation language: explicit (``'bij,bjk->bik'``) and implicit
    (``'ij,jk'``: the subscripts seen once, in alphabetical order) outputs, ``...``, repeated
    subscripts (``'ii->i'``) and size-1 broadcasting. Operands may also be passed as one list.
    """
    if not isinstance(equation, str):
        raise GraphcTypeError("einsum(): the sublist form einsum(op1, [0, 1], op2, [1, 2]) is not supported by graphc",
                              fix="pass the equation as a string: graphc.einsum('ij,jk->ik', a, b)")
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    operands = [as_tensor(x) for x in operands]
    terms, out = _split_terms(equation)
    if len(terms) > len(operands):
        raise _error("fewer operands were provided than specified in the equation")
    if len(terms) < len(operands):
        raise _error("more operands were provided than specified in the equation")
    parsed = [_labels(t, f"operand {i}") for i, t in enumerate(terms)]
    labels = [_expand_ellipsis(ls, x.ndim, i) for i, ((ls, _), x) in enumerate(zip(parsed, operands, strict=True))]
    dtype = operands[0].dtype
    for x in operands[1:]:
        if x.dtype is not dtype:
            raise DTypeError(f"expected scalar type {_torch_name(dtype)} but found {_torch_name(x.dtype)}",
                             fix="cast the operands to one dtype, e.g. b.to(a.dtype)")
    covered = max((sum(lb in _ELLIPSIS_LABELS for lb in ls) for ls in labels), default=0)
    ellipsis = _ELLIPSIS_LABELS[len(_ELLIPSIS_LABELS) - covered:]
    if out is None:
        counts = {}
        for ls in labels:
            for lb in ls:
                counts[lb] = counts.get(lb, 0) + 1
        out_labels = ellipsis + sorted(lb for lb, c in counts.items() if c == 1 and lb not in _ELLIPSIS_LABELS)
    else:
        out_items, _ = _labels(out, "the output")
        out_labels = []
        for lb in out_items:
            if lb == "...":
                out_labels += ellipsis
            elif lb in out_labels:
                raise _error(f"output subscript {lb} appears more than once in the output")
            elif not any(lb in ls for ls in labels):
                raise _error(f"output subscript {lb} does not appear in the equation for any input operand")
            else:
                out_labels.append(lb)
    diagonalised = [_diagonals(x, ls, i) for i, (x, ls) in enumerate(zip(operands, labels, strict=True))]
    size = _broadcast_sizes([x for x, _ in diagonalised], [ls for _, ls in diagonalised])
    tensors = []
    for x, ls in diagonalised:
        want = tuple(size[lb] for lb in ls)
        tensors.append((x if tuple(x.shape) == want else apply("expand", x, shape=want), ls))
    result, rl = tensors[0]
    for j in range(1, len(tensors)):
        keep = set(out_labels).union(*(ls for _, ls in tensors[j + 1:]))
        result, rl = _contract(result, rl, *tensors[j], keep)
    result, rl = _sum_out(result, rl, set(rl) - set(out_labels))
    if rl != out_labels:
        result = apply("permute", result, dims=tuple(rl.index(lb) for lb in out_labels))
    if result is operands[0]:  # 'ij->ij': a new tensor (a view), as in PyTorch
        result = apply("reshape", result, shape=tuple(result.shape))
    return result
