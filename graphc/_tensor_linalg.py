"""Matrix products with PyTorch's semantics: matmul (and ``@``), mm, bmm, mv, dot, outer.

The IR's ``matmul`` op takes two operands of at least two dims with equal batch dims;
:func:`matmul` handles the rest as ``torch.matmul`` does: a 1-D first operand gains a leading
dim that is removed again, a 1-D second operand a trailing one, batch dims broadcast, and a
batched matrix times a plain matrix is folded into one large matrix product::

    >>> import graphc
    >>> a, v = graphc.ones(4, 2, 3), graphc.ones(3)
    >>> (a @ v).shape
    graphc.Size([4, 2])
"""

from __future__ import annotations

from graphc.ir.errors import DTypeError, ShapeError

from . import _dispatch
from ._tensor_args import as_tensor, numel_of
from ._tensor_math import _torch_name
from .tensor import Tensor

apply = _dispatch.apply


def _same_dtype(a: Tensor, b: Tensor) -> None:
    if a.dtype is not b.dtype:
        raise DTypeError(f"expected m1 and m2 to have the same dtype, but got: {_torch_name(a.dtype).lower()} != "
                         f"{_torch_name(b.dtype).lower()}", fix="cast one operand, e.g. b.to(a.dtype)")
    if a.dtype.is_bool:
        raise DTypeError("\"addmm_impl_cpu_\" not implemented for 'Bool'", fix="cast to float first")


def _broadcast_batch(a_batch, b_batch):
    n = max(len(a_batch), len(b_batch))
    a_batch = (1,) * (n - len(a_batch)) + tuple(a_batch)
    b_batch = (1,) * (n - len(b_batch)) + tuple(b_batch)
    out = []
    for x, y in zip(a_batch, b_batch, strict=True):
        if x != y and 1 not in (x, y):
            raise ShapeError(f"The size of tensor a ({x}) must match the size of tensor b ({y}) at non-singleton dimension",
                             fix="make the batch dims equal or 1")
        out.append(max(x, y))
    return tuple(out)


def _mm_shapes_error(a, b) -> ShapeError:
    return ShapeError(f"mat1 and mat2 shapes cannot be multiplied ({a.shape[-2]}x{a.shape[-1]} and {b.shape[-2]}x{b.shape[-1]})",
                      fix="the first operand's last dim must equal the second's next-to-last dim")


def _matmul_nd(a: Tensor, b: Tensor) -> Tensor:
    """Both operands have >= 2 dims: broadcast the batch dims, then the IR's batched matmul."""
    if a.shape[-1] != b.shape[-2]:
        raise _mm_shapes_error(a, b)
    if b.ndim == 2 and a.ndim > 2:  # (..., m, k) @ (k, n): one (batch*m, k) @ (k, n) product
        lead = tuple(a.shape[:-1])
        flat = apply("reshape", a, shape=(numel_of(lead), a.shape[-1]))
        return apply("reshape", apply("matmul", flat, b), shape=lead + (b.shape[-1],))
    batch = _broadcast_batch(a.shape[:-2], b.shape[:-2])
    if tuple(a.shape[:-2]) != batch:
        a = apply("expand", a, shape=batch + tuple(a.shape[-2:]))
    if tuple(b.shape[:-2]) != batch:
        b = apply("expand", b, shape=batch + tuple(b.shape[-2:]))
    return apply("matmul", a, b)


def matmul(input, other):
    """The matrix product of two tensors, with ``torch.matmul``'s rules for 1-D and batched operands."""
    a, b = as_tensor(input), as_tensor(other)
    _same_dtype(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"both arguments to matmul need to be at least 1D, but they are {a.ndim}D and {b.ndim}D",
                         fix="use * for a product with a scalar")
    if a.ndim == 1 and b.ndim == 1:
        return dot(a, b)
    vector_first, vector_second = a.ndim == 1, b.ndim == 1
    if vector_first:
        a = apply("reshape", a, shape=(1, a.shape[0]))
    if vector_second:
        b = apply("reshape", b, shape=(b.shape[0], 1))
    out = _matmul_nd(a, b)
    if vector_first:  # drop the leading 1 that was added
        out = apply("reshape", out, shape=tuple(out.shape[:-2]) + tuple(out.shape[-1:]))
    if vector_second:
        out = apply("reshape", out, shape=tuple(out.shape[:-1]))
    return out


def mm(input, mat2):
    """The product of two matrices (2-D only)."""
    a, b = as_tensor(input), as_tensor(mat2)
    if a.ndim != 2 or b.ndim != 2:
        raise ShapeError(f"mm: expected 2D tensors, got {a.ndim}D and {b.ndim}D", fix="use matmul for other shapes")
    _same_dtype(a, b)
    return _matmul_nd(a, b)


def bmm(input, mat2):
    """Batched product of two 3-D tensors with equal batch sizes."""
    a, b = as_tensor(input), as_tensor(mat2)
    if a.ndim != 3 or b.ndim != 3:
        raise ShapeError(f"batch1 must be a 3D tensor and batch2 must be a 3D tensor (got {a.ndim}D and {b.ndim}D)",
                         fix="use matmul for other shapes")
    if a.shape[0] != b.shape[0]:
        raise ShapeError(f"batch1 and batch2 must have same number of batches, got {a.shape[0]} and {b.shape[0]}",
                         fix="make the batch sizes equal")
    _same_dtype(a, b)
    if a.shape[2] != b.shape[1]:
        raise ShapeError(f"Expected size for first two dimensions of batch2 tensor to be: [{a.shape[0]}, {a.shape[2]}] but got: "
                         f"[{b.shape[0]}, {b.shape[1]}].", fix="the inner sizes must agree")
    return apply("matmul", a, b)


def mv(input, vec):
    """Matrix times vector."""
    a, v = as_tensor(input), as_tensor(vec)
    if a.ndim != 2 or v.ndim != 1:
        raise ShapeError(f"vector + matrix @ vector expected, got {a.ndim}, {v.ndim}", fix="pass a 2-D matrix and a 1-D vector")
    if a.shape[1] != v.shape[0]:
        raise ShapeError(f"size mismatch, got input ({a.shape[0]}), mat ({a.shape[0]}x{a.shape[1]}), vec ({v.shape[0]})",
                         fix="the matrix's columns must equal the vector's length")
    return matmul(a, v)


def dot(input, other):
    """Inner product of two 1-D tensors of one dtype and length."""
    a, b = as_tensor(input), as_tensor(other)
    if a.ndim != 1 or b.ndim != 1:
        raise ShapeError(f"1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors", fix="use matmul for matrices")
    if a.dtype is not b.dtype:
        raise DTypeError(f"dot : expected both vectors to have same dtype, but found {_torch_name(a.dtype)} and {_torch_name(b.dtype)}",
                         fix="cast one vector")
    if a.shape[0] != b.shape[0]:
        raise ShapeError(f"inconsistent tensor size, expected tensor [{a.shape[0]}] and src [{b.shape[0]}] to have the same "
                         f"number of elements, but got {a.shape[0]} and {b.shape[0]} elements respectively",
                         fix="use vectors of one length")
    return apply("sum", apply("mul", a, b), dims=(0,), keepdim=False)


inner = dot
vdot = dot


def outer(input, vec2):
    """Outer product of two 1-D tensors: ``out[i, j] = a[i] * b[j]``."""
    a, b = as_tensor(input), as_tensor(vec2)
    if a.ndim != 1 or b.ndim != 1:
        raise ShapeError(f"outer: expected 1-D tensors, got {a.ndim}D and {b.ndim}D", fix="flatten the operands first")
    a = apply("reshape", a, shape=(a.shape[0], 1))
    return _dispatch.binary("mul", a, b)


ger = outer


def _rmatmul(self, other):
    return matmul(other, self)
