"""Shape functions with PyTorch's semantics: view/reshape, permute, squeeze, expand, split, cat, ...

All are built from the IR's movement ops (``reshape``, ``permute``, ``expand``, ``slice``,
``concat``, ``flip``) and ``where``, so their gradients come from those ops' VJP rules::

    >>> import graphc
    >>> x = graphc.ones(2, 3)
    >>> x.view(-1, 2).shape, x.unsqueeze(0).shape, x.T.shape
    (graphc.Size([3, 2]), graphc.Size([1, 2, 3]), graphc.Size([3, 2]))

graphc does not model strides: ``view`` behaves as ``reshape`` (it never refuses a
non-contiguous input), and ``contiguous()`` returns the tensor itself.
"""

from __future__ import annotations

import numpy as np

from graphc.ir.errors import (
    DTypeError,
    GraphcIndexError,
    GraphcTypeError,
    GraphcValueError,
    ShapeError,
)

from . import _dispatch
from ._tensor_args import as_tensor, dtype_arg, numel_of, size_args, wrap_dim
from ._tensor_math import _torch_name
from .tensor import Tensor

apply = _dispatch.apply


def _infer_shape(shape, numel: int) -> tuple[int, ...]:
    """Replace one -1 by the size that keeps ``numel`` elements; PyTorch's errors otherwise."""
    unknown = [i for i, s in enumerate(shape) if s == -1]
    if len(unknown) > 1:
        raise ShapeError("only one dimension can be inferred", fix="use -1 for at most one dim")
    for s in shape:
        if s < -1:
            raise ShapeError(f"invalid shape dimension {s}", fix="sizes must be >= 0 (or -1 to infer one)")
    known = numel_of(s for s in shape if s != -1)
    if unknown:
        if known == 0 or numel % known:
            raise ShapeError(f"shape '{list(shape)}' is invalid for input of size {numel}",
                             fix="the sizes must multiply to the number of elements")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    elif known != numel:
        raise ShapeError(f"shape '{list(shape)}' is invalid for input of size {numel}",
                         fix="the sizes must multiply to the number of elements")
    return tuple(shape)


def _reshape(x: Tensor, shape) -> Tensor:
    return apply("reshape", x, shape=tuple(shape))


def reshape(input, *shape):
    """The same elements in a new shape (one size may be -1)."""
    x = as_tensor(input)
    return _reshape(x, _infer_shape(size_args(shape, "reshape"), x.numel()))


def view(input, *shape):
    """As :func:`reshape` (graphc has no strides, so a view never has to be refused)."""
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer, tuple, list, Tensor)):
        raise GraphcTypeError("view(dtype) (reinterpreting the bits) is not supported by graphc",
                              fix="use .to(dtype) to convert the values")
    return reshape(input, *shape)


def view_as(input, other):
    """``input.view(other.shape)``."""
    return reshape(input, tuple(other.shape))


reshape_as = view_as


def flatten(input, start_dim: int = 0, end_dim: int = -1):
    """Merge dims ``start_dim..end_dim`` into one (a 0-dim tensor becomes shape [1])."""
    x = as_tensor(input)
    if x.ndim == 0:
        return _reshape(x, (1,))
    s, e = wrap_dim(start_dim, x.ndim), wrap_dim(end_dim, x.ndim)
    if s > e:
        raise ShapeError("flatten() has invalid args: start_dim cannot come after end_dim", fix="pass start_dim <= end_dim")
    shape = x.shape[:s] + (numel_of(x.shape[s:e + 1]),) + x.shape[e + 1:]
    return _reshape(x, shape)


def unflatten(input, dim: int, sizes):
    """Split dim ``dim`` into ``sizes`` (one may be -1)."""
    x = as_tensor(input)
    d = wrap_dim(dim, x.ndim)
    sizes = _infer_shape(size_args((sizes,), "unflatten"), x.shape[d])
    return _reshape(x, x.shape[:d] + sizes + x.shape[d + 1:])


def permute(input, *dims):
    """Reorder the dims: ``x.permute(2, 0, 1)``."""
    x = as_tensor(input)
    dims = tuple(wrap_dim(d, x.ndim) for d in size_args(dims, "permute"))
    if len(dims) != x.ndim:
        raise ShapeError(f"permute(sparse_coo): number of dimensions in the tensor input does not match the length of the "
                         f"desired ordering of dimensions i.e. input.dim() = {x.ndim} is not equal to len(dims) = {len(dims)}",
                         fix="name every dim exactly once")
    if len(set(dims)) != len(dims):
        raise ShapeError("permute(): duplicate dims are not allowed.", fix="name every dim exactly once")
    return apply("permute", x, dims=dims)


def transpose(input, dim0: int, dim1: int):
    """Swap two dims."""
    x = as_tensor(input)
    a, b = wrap_dim(dim0, x.ndim), wrap_dim(dim1, x.ndim)
    if x.ndim < 2 or a == b:
        return apply("reshape", x, shape=tuple(x.shape))
    order = list(range(x.ndim))
    order[a], order[b] = order[b], order[a]
    return apply("permute", x, dims=tuple(order))


swapaxes = swapdims = transpose


def t(input):
    """Transpose a matrix (0-D and 1-D tensors are returned as they are)."""
    x = as_tensor(input)
    if x.ndim > 2:
        raise ShapeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D", fix="use transpose(dim0, dim1) or .mT")
    return transpose(x, 0, 1) if x.ndim == 2 else apply("reshape", x, shape=tuple(x.shape))


def _T(self):
    """All dims reversed."""
    return apply("permute", self, dims=tuple(reversed(range(self.ndim))))


def _mT(self):
    """The last two dims swapped (a batch of matrices transposed)."""
    if self.ndim < 2:
        raise ShapeError(f"tensor.mT is only supported on matrices or batches of matrices. Got {self.ndim}-D tensor.",
                         fix="unsqueeze a vector first")
    return transpose(self, -2, -1)


def unsqueeze(input, dim: int):
    """Insert a dim of size 1 at ``dim`` (in ``[-ndim-1, ndim]``)."""
    x = as_tensor(input)
    d = wrap_dim(dim, x.ndim, extra=1)
    return _reshape(x, x.shape[:d] + (1,) + x.shape[d:])


def squeeze(input, dim=None):
    """Remove dims of size 1: all of them, or those among ``dim`` (an int or a tuple)."""
    x = as_tensor(input)
    if dim is None:
        dims = range(x.ndim)
    elif isinstance(dim, (tuple, list)):
        dims = [wrap_dim(d, x.ndim) for d in dim]
    else:
        dims = [wrap_dim(dim, x.ndim)]
    drop = {d for d in dims if x.ndim and x.shape[d] == 1}
    return _reshape(x, tuple(s for i, s in enumerate(x.shape) if i not in drop))


def expand(input, *sizes):
    """Broadcast to ``sizes`` without copying (-1 keeps a dim; new dims go in front)."""
    x = as_tensor(input)
    sizes = size_args(sizes, "expand")
    if len(sizes) < x.ndim:
        raise ShapeError(f"expand(torch.FloatTensor{{{list(x.shape)}}}, size=[{', '.join(map(str, sizes))}]): the number of "
                         f"sizes provided ({len(sizes)}) must be greater or equal to the number of dimensions in the tensor ({x.ndim})",
                         fix="give a size for every dim")
    lead = len(sizes) - x.ndim
    out = []
    for i, s in enumerate(sizes):
        if i < lead:
            if s < 0:
                raise ShapeError(f"The expanded size of the tensor ({s}) isn't allowed in a leading, non-existing dimension {i}",
                                 fix="give new leading dims an explicit size")
            out.append(s)
            continue
        have = x.shape[i - lead]
        if s == -1:
            s = have
        if have != s and have != 1:
            raise ShapeError(f"The expanded size of the tensor ({s}) must match the existing size ({have}) at non-singleton "
                             f"dimension {i}.  Target sizes: {list(sizes)}.  Tensor sizes: {list(x.shape)}",
                             fix="only dims of size 1 can be expanded")
        out.append(s)
    return apply("expand", x, shape=tuple(out))


def expand_as(input, other):
    """``input.expand(other.shape)``."""
    return expand(input, tuple(other.shape))


def broadcast_to(input, size):
    """``input.expand(size)``."""
    return expand(input, tuple(size))


def repeat(input, *sizes):
    """Tile the tensor ``sizes[i]`` times along each dim (extra sizes add leading dims)."""
    x = as_tensor(input)
    reps = size_args(sizes, "repeat")
    if len(reps) < x.ndim:
        raise ShapeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor",
                         fix=f"give at least {x.ndim} repeat counts")
    shape = (1,) * (len(reps) - x.ndim) + tuple(x.shape)
    interleaved = []
    for s in shape:
        interleaved += [1, s]
    target = []
    for r, s in zip(reps, shape, strict=True):
        target += [r, s]
    tiled = apply("expand", _reshape(x, interleaved), shape=tuple(target))
    return _reshape(tiled, tuple(r * s for r, s in zip(reps, shape, strict=True)))


def contiguous(input, memory_format=None):
    """The tensor itself (graphc tensors are always contiguous as far as the user can tell)."""
    return input


def narrow(input, dim: int, start: int, length: int):
    """Elements ``start .. start+length`` along ``dim``."""
    x = as_tensor(input)
    d = wrap_dim(dim, x.ndim)
    n = x.shape[d]
    if start < 0:
        start += n
    if not 0 <= start <= n or length < 0 or start + length > n:
        raise ShapeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).", fix="stay inside the dim")
    return apply("slice", x, dim=d, start=int(start), stop=int(start + length), step=1)


def select(input, dim: int, index: int):
    """The slice at ``index`` along ``dim``, without that dim (``x.select(0, i)`` is ``x[i]``)."""
    x = as_tensor(input)
    if x.ndim == 0:
        raise GraphcIndexError("select() cannot be applied to a 0-dim tensor.", fix="index a tensor with dims")
    d = wrap_dim(dim, x.ndim)
    n = x.shape[d]
    if not -n <= index < n:
        raise GraphcIndexError(f"select(): index {index} out of range for tensor of size {list(x.shape)} at dimension {d}",
                               fix=f"use an index in [{-n}, {n - 1}]")
    return squeeze(narrow(x, d, index % n, 1), d)


def split(tensor, split_size_or_sections, dim: int = 0):
    """Pieces of ``split_size`` along ``dim`` (the last may be smaller), or of the listed sizes."""
    x = as_tensor(tensor)
    d = wrap_dim(dim, x.ndim)
    n = x.shape[d]
    if isinstance(split_size_or_sections, (list, tuple)):
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n or any(s < 0 for s in sizes):
            raise ShapeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at dimension {d}), "
                             f"but got split_sizes={sizes}", fix="make the sizes add up to the dim's size")
    else:
        step = int(split_size_or_sections)
        if step <= 0 and n:
            raise GraphcValueError(f"split expects split_size be non-negative, but got split_size={step}", fix="pass a positive size")
        sizes = [min(step, n - i) for i in range(0, n, step)] if n else [0]
    out, start = [], 0
    for s in sizes:
        out.append(apply("slice", x, dim=d, start=start, stop=start + s, step=1))
        start += s
    return tuple(out)


def chunk(input, chunks: int, dim: int = 0):
    """Split into ``chunks`` pieces of ``ceil(size / chunks)`` (possibly fewer pieces)."""
    if chunks <= 0:
        raise GraphcValueError(f"chunk expects `chunks` to be greater than 0, got: {chunks}", fix="pass chunks >= 1")
    x = as_tensor(input)
    n = x.shape[wrap_dim(dim, x.ndim)]
    step = max(-(-n // chunks), 1)
    return split(x, step, dim)


def unbind(input, dim: int = 0):
    """The slices along ``dim``, with that dim removed."""
    x = as_tensor(input)
    d = wrap_dim(dim, x.ndim)
    return tuple(squeeze(p, d) for p in split(x, 1, d)) if x.shape[d] else ()


def flip(input, *dims):
    """Reverse the order of elements along ``dims``."""
    x = as_tensor(input)
    dims = tuple(sorted({wrap_dim(d, x.ndim) for d in size_args(dims, "flip")}))
    return apply("flip", x, dims=dims)


def movedim(input, source, destination):
    """Move dim(s) ``source`` to position(s) ``destination``."""
    x = as_tensor(input)
    src = [wrap_dim(d, x.ndim) for d in (source if isinstance(source, (tuple, list)) else [source])]
    dst = [wrap_dim(d, x.ndim) for d in (destination if isinstance(destination, (tuple, list)) else [destination])]
    if len(src) != len(dst):
        raise ShapeError("movedim: Invalid source or destination dims", fix="give as many destinations as sources")
    order = [None] * x.ndim
    for s, d in zip(src, dst, strict=True):
        order[d] = s
    rest = iter(i for i in range(x.ndim) if i not in src)
    order = [o if o is not None else next(rest) for o in order]
    return apply("permute", x, dims=tuple(order))


def masked_fill(input, mask, value):
    """``value`` where ``mask`` is True, else ``input`` (value: a number or a 0-dim tensor)."""
    x = as_tensor(input)
    mask = as_tensor(mask)
    if not mask.dtype.is_bool:
        raise DTypeError(f"masked_fill_ only supports boolean masks, but got mask with dtype {_torch_name(mask.dtype)}",
                         fix="pass a comparison such as x > 0")
    if isinstance(value, Tensor):
        if value.ndim:
            raise ShapeError(f"masked_fill_ only supports a 0-dimensional value tensor, but got tensor with {value.ndim} dimension(s).",
                             fix="pass a number or a 0-dim tensor")
        v = _dispatch.cast(value, x.dtype)
    else:
        if not x.dtype.is_floating_point and isinstance(value, float) and not float(value).is_integer():
            raise DTypeError(f"value cannot be converted to type {x.dtype.name} without overflow", fix="use an integer value")
        v = _dispatch.cast(as_tensor(value), x.dtype)
    out = apply("where", mask, v, x)
    if tuple(out.shape) != tuple(x.shape):
        raise ShapeError(f"The size of the mask {list(mask.shape)} must be broadcastable to the tensor's size {list(x.shape)}",
                         fix="the mask may not have more or larger dims than the tensor")
    return out


def type_as(input, other):
    """``input`` cast to ``other``'s dtype."""
    return _dispatch.cast(as_tensor(input), other.dtype)


def clone(input, *, memory_format=None):
    """A differentiable copy whose data is a fresh array."""
    x = as_tensor(input)
    return apply("cast", x, dtype=x.dtype.short)


def cat(tensors, dim: int = 0):
    """Join tensors along an existing dim (dtypes promote; legacy empty 1-D tensors are skipped)."""
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise GraphcTypeError("cat() argument 'tensors' must be tuple of Tensors, not " + type(tensors).__name__,
                              fix="pass a list or tuple of tensors")
    if not tensors:
        raise GraphcValueError("torch.cat(): expected a non-empty list of Tensors", fix="pass at least one tensor")
    converted, _ = _dispatch.promote(*tensors)
    parts = [t for t in converted if not (t.ndim == 1 and t.shape[0] == 0)] or converted[:1]
    ref = parts[0]
    d = wrap_dim(dim, ref.ndim)
    for i, t in enumerate(parts):
        if t.ndim != ref.ndim:
            raise ShapeError(f"Tensors must have same number of dimensions: got {ref.ndim} and {t.ndim}", fix="unsqueeze or reshape first")
        for k in range(ref.ndim):
            if k != d and t.shape[k] != ref.shape[k]:
                raise ShapeError(f"Sizes of tensors must match except in dimension {d}. Expected size {ref.shape[k]} but got "
                                 f"size {t.shape[k]} for tensor number {i} in the list.", fix="make the other dims equal")
    if len(parts) == 1:
        return apply("cast", parts[0], dtype=parts[0].dtype.short)
    return apply("concat", *parts, dim=d)


concat = concatenate = cat


def stack(tensors, dim: int = 0):
    """Join equally shaped tensors along a new dim."""
    if not isinstance(tensors, (list, tuple)) or not tensors:
        raise GraphcValueError("stack expects a non-empty TensorList", fix="pass a list of tensors")
    tensors = [as_tensor(t) for t in tensors]
    first = tensors[0]
    for i, t in enumerate(tensors):
        if tuple(t.shape) != tuple(first.shape):
            raise ShapeError(f"stack expects each tensor to be equal size, but got {list(first.shape)} at entry 0 and "
                             f"{list(t.shape)} at entry {i}", fix="make the shapes equal")
    d = wrap_dim(dim, first.ndim, extra=1)
    return cat([unsqueeze(t, d) for t in tensors], d)


def hstack(tensors):
    """Join along dim 1 (dim 0 for 1-D tensors)."""
    return cat(tensors, 0 if as_tensor(tensors[0]).ndim == 1 else 1)


def vstack(tensors):
    """Join along dim 0, 1-D tensors becoming rows."""
    return cat([unsqueeze(t, 0) if as_tensor(t).ndim == 1 else t for t in tensors], 0)


# ------------------------------------------------------------------ new tensors like this one
def _new_device(self: Tensor, device):
    """``device`` when given (checked), else this tensor's: as PyTorch's ``new_*``."""
    if device is None:
        return self._device
    from .device import check_device, placed

    return placed(check_device(device))


def _new(self: Tensor, size, value, dtype, requires_grad, device=None) -> Tensor:
    dtype = dtype_arg(dtype) or self.dtype
    shape = size_args(size, "new_full")
    t = Tensor._wrap(np.full(shape, value, dtype=dtype.np))
    t._device = _new_device(self, device)
    if requires_grad:
        t.requires_grad_(True)
    return t


def new_zeros(self, *size, dtype=None, device=None, requires_grad: bool = False):
    """A zero tensor of ``size`` with this tensor's dtype (unless ``dtype`` is given)."""
    return _new(self, size, 0, dtype, requires_grad, device)


def new_ones(self, *size, dtype=None, device=None, requires_grad: bool = False):
    """A tensor of ones of ``size`` with this tensor's dtype."""
    return _new(self, size, 1, dtype, requires_grad, device)


def new_empty(self, *size, dtype=None, device=None, requires_grad: bool = False):
    """An (in graphc: zero-filled) tensor of ``size`` with this tensor's dtype."""
    return _new(self, size, 0, dtype, requires_grad, device)


def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad: bool = False):
    """A tensor of ``size`` filled with ``fill_value``, with this tensor's dtype."""
    return _new(self, (size,), fill_value, dtype, requires_grad, device)


def new_tensor(self, data, *, dtype=None, device=None, requires_grad: bool = False):
    """A new leaf tensor holding a copy of ``data``, with this tensor's dtype by default."""
    dtype = dtype_arg(dtype) or self.dtype
    if isinstance(data, Tensor):
        data._no_value("new_tensor(tensor)")
        data = data._data
    t = Tensor._wrap(np.array(data, dtype=dtype.np, copy=True))
    t._device = _new_device(self, device)
    if requires_grad:
        t.requires_grad_(True)
    return t

