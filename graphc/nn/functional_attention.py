"""``graphc.nn.functional``: scaled_dot_product_attention and multi_head_attention_forward.

Both are built from core ops (matmul, softmax, where, dropout, linear), so they run eagerly,
differentiate and compile with no attention op of their own. Masks follow PyTorch, which uses
two conventions: for ``scaled_dot_product_attention`` a bool mask's True means *take part*;
for ``multi_head_attention_forward`` (``nn.MultiheadAttention``) True means *masked out*.
Float masks are added to the scores in both.

    >>> import graphc
    >>> import graphc.nn.functional as F
    >>> q = graphc.randn(2, 4, 5, 8)                  # (batch, heads, L, E)
    >>> F.scaled_dot_product_attention(q, q, q, is_causal=True).shape
    graphc.Size([2, 4, 5, 8])
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from graphc._tensor_linalg import matmul
from graphc.ir import dtypes as D
from graphc.ir.errors import DTypeError, GraphcValueError, ShapeError
from graphc.tensor import Tensor

from . import _prims as P
from .functional_act import dropout, softmax
from .functional_conv import linear

_NEG_INF = float("-inf")


def _swap_last(x: Tensor) -> Tensor:
    dims = list(range(x.ndim))
    dims[-2], dims[-1] = dims[-1], dims[-2]
    return P.permute(x, dims)


def _check_broadcast(mask: Tensor, shape) -> None:
    """PyTorch's broadcasting error when ``mask`` cannot be added to scores of ``shape``."""
    ndim = max(mask.ndim, len(shape))
    for back in range(1, ndim + 1):
        a = shape[-back] if back <= len(shape) else 1
        b = mask.shape[-back] if back <= mask.ndim else 1
        if a != b and b != 1:
            raise ShapeError(f"The size of tensor a ({a}) must match the size of tensor b ({b}) at non-singleton "
                             f"dimension {ndim - back}",
                             fix=f"attn_mask must broadcast to the attention scores' shape {P.shape_str(shape)} "
                                 "(..., L, S)")
    if mask.ndim > len(shape) and any(s != 1 for s in mask.shape[:mask.ndim - len(shape)]):
        raise ShapeError(f"attn_mask of shape {P.shape_str(mask.shape)} has more batch dimensions than the scores "
                         f"{P.shape_str(shape)}", fix="give the mask at most the dimensions of query @ key.T")


def _repeat_heads(x: Tensor, times: int) -> Tensor:
    """``x.repeat_interleave(times, dim=-3)`` (grouped-query attention's key/value heads)."""
    shape = tuple(x.shape)
    wide = P.expand(P.unsqueeze(x, -3), shape[:-2] + (times,) + shape[-2:])
    return P.reshape(wide, shape[:-3] + (shape[-3] * times,) + shape[-2:])


def _check_sdpa_inputs(query, key, value, attn_mask, is_causal: bool, enable_gqa: bool):
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor) or t.ndim < 2:
            got = f"{t.ndim}-D" if isinstance(t, Tensor) else type(t).__name__
            raise ShapeError(f"scaled_dot_product_attention: {name} must be a tensor of at least 2 dims (..., L, E), "
                             f"got {got}", fix="add a sequence dimension")
    if not (query.dtype is key.dtype is value.dtype) or not query.dtype.is_floating_point:
        raise DTypeError(f"Expected query, key, and value to have the same dtype, but got query.dtype: "
                         f"{query.dtype.name} key.dtype: {key.dtype.name} and value.dtype: {value.dtype.name} instead.",
                         fix="cast all three to one floating-point dtype")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ShapeError(f"scaled_dot_product_attention: query {P.shape_str(query.shape)}, key {P.shape_str(key.shape)} "
                         f"and value {P.shape_str(value.shape)} do not fit",
                         fix="query and key need the same last dim E; key and value the same sequence length S")
    if is_causal and attn_mask is not None:
        raise ShapeError("_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True",
                         fix="pass either attn_mask or is_causal=True, not both")
    if attn_mask is not None and not (attn_mask.dtype.is_bool or attn_mask.dtype is query.dtype):
        raise DTypeError(f"Expected attn_mask dtype to be bool or float or to match query dtype, but got "
                         f"attn_mask.dtype: {attn_mask.dtype.name} and  query.dtype: {query.dtype.name} instead.",
                         fix="pass a bool mask (True = take part) or a float mask of the query's dtype")
    if enable_gqa:
        if query.ndim < 3 or key.ndim < 3 or value.ndim < 3:
            raise ShapeError("scaled_dot_product_attention(enable_gqa=True) needs (..., heads, L, E) inputs",
                             fix="add a heads dimension")
        hq, hk, hv = query.shape[-3], key.shape[-3], value.shape[-3]
        if hq % hk or hq % hv:
            raise ShapeError(f"number of heads in key and value must divide the number of heads in query, got "
                             f"{hq}, {hk} and {hv}", fix="use a number of query heads that is a multiple of the key heads")


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p: float = 0.0, is_causal: bool = False,
                                 scale: float | None = None, enable_gqa: bool = False):
    """``softmax(query @ key.T * scale + mask) @ value`` over any leading batch dims, as PyTorch's.

    ``attn_mask``: bool (True = take part) or float (added), broadcast to (..., L, S);
    ``is_causal``: a lower-triangular bool mask (top-left aligned). A query row whose keys are
    all masked out gives zeros (PyTorch's safe softmax). ``dropout_p`` applies whenever it is > 0,
    as in PyTorch (pass ``dropout_p if self.training else 0.0``).

        >>> import graphc
        >>> from graphc.nn.functional import scaled_dot_product_attention
        >>> scaled_dot_product_attention(graphc.ones(3, 4), graphc.ones(6, 4), graphc.ones(6, 2)).shape
        graphc.Size([3, 2])
    """
    _check_sdpa_inputs(query, key, value, attn_mask, is_causal, enable_gqa)
    if enable_gqa:
        key = _repeat_heads(key, query.shape[-3] // key.shape[-3])
        value = _repeat_heads(value, query.shape[-3] // value.shape[-3])
    dt = query.dtype
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    scores = P.mul(matmul(query, _swap_last(key)), P.const(scale, dt))
    length, source = query.shape[-2], key.shape[-2]
    masked = is_causal or attn_mask is not None
    if is_causal:
        allowed = P.array(np.tril(np.ones((length, source), dtype=bool)), D.bool_)
        scores = P.where(allowed, scores, P.const(_NEG_INF, dt))
    if attn_mask is not None:
        _check_broadcast(attn_mask, tuple(scores.shape))
        if attn_mask.dtype.is_bool:
            scores = P.where(attn_mask, scores, P.const(_NEG_INF, dt))
        else:
            scores = P.add(scores, attn_mask)
    if masked:  # rows with every key masked out give 0, not NaN (and no NaN gradient)
        dead = P.binary("eq", P.amax(scores, (scores.ndim - 1,), keepdim=True), P.const(_NEG_INF, dt))
        scores = P.where(dead, P.const(0.0, dt), scores)
        weights = P.where(dead, P.const(0.0, dt), softmax(scores, dim=-1))
    else:
        weights = softmax(scores, dim=-1)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, training=True)
    return matmul(weights, value)


# ---------------------------------------------------------------------- multi-head attention
def _canonical_mask(mask, name: str, dtype: D.DType, other=None, other_name: str = ""):
    """PyTorch's ``_canonical_mask``: a bool mask (True = masked out) becomes 0 / -inf floats."""
    if mask is None:
        return None
    if not (mask.dtype.is_bool or mask.dtype.is_floating_point):
        raise DTypeError(f"only bool and floating types of {name} are supported",
                         fix=f"pass a bool {name} (True = masked out) or a float one (added to the scores)")
    if other is not None and mask.dtype is not other.dtype:
        warnings.warn(f"Support for mismatched {name} and {other_name} is deprecated. Use same type for both "
                      "instead.", stacklevel=4)
    if mask.dtype.is_bool:
        return P.where(mask, P.const(_NEG_INF, dtype), P.const(0.0, dtype))
    return mask


def _mha_is_batched(query, key, value, key_padding_mask, attn_mask, num_heads: int) -> bool:
    """PyTorch's ``_mha_shape_check``: (L, N, E) batched or (L, E) unbatched inputs."""
    if query.ndim not in (2, 3):
        raise ShapeError(f"query should be unbatched 2D or batched 3D tensor but received {query.ndim}-D query tensor",
                         fix="pass query as (L, N, E) (or (N, L, E) with batch_first=True) or (L, E)")
    kind, n = ("batched (3-D)", 3) if query.ndim == 3 else ("unbatched (2-D)", 2)
    if key.ndim != n or value.ndim != n:
        raise ShapeError(f"For {kind} `query`, expected `key` and `value` to be {n}-D but found {key.ndim}-D and "
                         f"{value.ndim}-D tensors respectively", fix="give query, key and value the same layout")
    if key_padding_mask is not None and key_padding_mask.ndim != n - 1:
        raise ShapeError(f"For {kind} `query`, expected `key_padding_mask` to be `None` or {n - 1}-D but found "
                         f"{key_padding_mask.ndim}-D tensor instead",
                         fix="key_padding_mask is (N, S) for batched input, (S,) for unbatched")
    if attn_mask is not None and attn_mask.ndim not in (2, 3):
        raise ShapeError(f"For {kind} `query`, expected `attn_mask` to be `None`, 2-D or 3-D but found "
                         f"{attn_mask.ndim}-D tensor instead", fix="attn_mask is (L, S) or (N * num_heads, L, S)")
    if n == 2 and attn_mask is not None and attn_mask.ndim == 3 and attn_mask.shape[0] != num_heads:
        raise ShapeError(f"Expected `attn_mask` shape to be {(num_heads, query.shape[0], key.shape[0])} but got "
                         f"{tuple(attn_mask.shape)}", fix="a 3-D mask for unbatched input is (num_heads, L, S)")
    return n == 3


def _project(query, key, value, embed_dim: int, in_proj_weight, in_proj_bias, separate):
    """The q, k, v input projections (one linear for self-attention with packed weights)."""
    def part(t, i):
        return None if t is None else P.slice_(t, 0, i * embed_dim, (i + 1) * embed_dim)

    if separate is None:
        if query is key and key is value:
            qkv = linear(query, in_proj_weight, in_proj_bias)
            return tuple(P.slice_(qkv, -1, i * embed_dim, (i + 1) * embed_dim) for i in range(3))
        weights = [part(in_proj_weight, i) for i in range(3)]
    else:
        weights = list(separate)
    return tuple(linear(x, w, part(in_proj_bias, i)) for i, (x, w) in enumerate(zip((query, key, value), weights)))


def _pad_last(mask):
    return None if mask is None else P.apply("pad", mask, pads=((0, 0),) * (mask.ndim - 1) + ((0, 1),), value=0.0)


def _check_mha_shapes(query, key, value, embed_dim_to_check, num_heads, separate: bool) -> None:
    embed_dim = query.shape[2]
    if embed_dim != embed_dim_to_check:
        raise ShapeError(f"was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}",
                         fix="the last dim of query must be the layer's embed_dim")
    if embed_dim % num_heads:
        raise GraphcValueError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}",
                               fix="choose num_heads dividing embed_dim")
    if separate:
        if tuple(key.shape[:2]) != tuple(value.shape[:2]):
            raise ShapeError(f"key's sequence and batch dims {P.shape_str(key.shape[:2])} do not match value's "
                             f"{P.shape_str(value.shape[:2])}", fix="key and value need the same (S, N)")
    elif tuple(key.shape) != tuple(value.shape):
        raise ShapeError(f"key shape {P.shape_str(key.shape)} does not match value shape {P.shape_str(value.shape)}",
                         fix="key and value need one shape (pass kdim/vdim to the layer for other widths)")
    if key.shape[1] != query.shape[1]:
        raise ShapeError(f"query batch size {query.shape[1]} does not match key batch size {key.shape[1]}",
                         fix="query, key and value are (L, N, E) (batch_first=False) or (N, L, E)")


def _check_attn_mask(attn_mask, bsz: int, num_heads: int, tgt_len: int, src_len: int):
    if attn_mask.ndim == 2:
        if tuple(attn_mask.shape) != (tgt_len, src_len):
            raise ShapeError(f"The shape of the 2D attn_mask is {P.shape_str(attn_mask.shape)}, but should be "
                             f"{(tgt_len, src_len)}.", fix="a 2-D attn_mask is (L, S): target length by source length")
        return P.unsqueeze(attn_mask, 0)
    want = (bsz * num_heads, tgt_len, src_len)
    if tuple(attn_mask.shape) != want:
        raise ShapeError(f"The shape of the 3D attn_mask is {P.shape_str(attn_mask.shape)}, but should be {want}.",
                         fix="a 3-D attn_mask is (N * num_heads, L, S)")
    return attn_mask


def multi_head_attention_forward(query, key, value, embed_dim_to_check: int, num_heads: int, in_proj_weight,
                                 in_proj_bias, bias_k, bias_v, add_zero_attn: bool, dropout_p: float, out_proj_weight,
                                 out_proj_bias, training: bool = True, key_padding_mask=None, need_weights: bool = True,
                                 attn_mask=None, use_separate_proj_weight: bool = False, q_proj_weight=None,
                                 k_proj_weight=None, v_proj_weight=None, static_k=None, static_v=None,
                                 average_attn_weights: bool = True, is_causal: bool = False):
    """PyTorch's ``F.multi_head_attention_forward`` on (L, N, E) or unbatched (L, E) inputs.

    Returns ``(output, weights)``; weights are (N, L, S) averaged over heads, (N, num_heads, L, S)
    with ``average_attn_weights=False``, or None with ``need_weights=False`` (which computes the
    attention with :func:`scaled_dot_product_attention`, as PyTorch does).
    """
    if static_k is not None or static_v is not None:
        raise GraphcValueError("multi_head_attention_forward: static_k / static_v are not supported by graphc",
                               fix="leave them None and pass the keys and values as key / value")
    is_batched = _mha_is_batched(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not is_batched:
        query, key, value = (P.unsqueeze(t, 1) for t in (query, key, value))
        if key_padding_mask is not None:
            key_padding_mask = P.unsqueeze(key_padding_mask, 0)
    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]
    _check_mha_shapes(query, key, value, embed_dim_to_check, num_heads, use_separate_proj_weight)
    dt = query.dtype
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", dt, attn_mask, "attn_mask")
    if is_causal and attn_mask is None:
        raise GraphcValueError("Need attn_mask if specifying the is_causal hint. You may use the Transformer module "
                               "method `generate_square_subsequent_mask` to create this mask.",
                               fix="pass the causal mask too, e.g. attn_mask=graphc.tensor(np.triu(np.ones((L, L), bool), 1)) "
                                   "(True = masked out)")
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None  # the hint alone: scaled_dot_product_attention builds the causal mask
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", dt)
        if key_padding_mask is not None:
            is_causal = False  # merged with the padding mask it is no longer causal
    if attn_mask is not None:
        attn_mask = _check_attn_mask(attn_mask, bsz, num_heads, tgt_len, src_len)
    if key_padding_mask is not None and tuple(key_padding_mask.shape) != (bsz, src_len):
        raise ShapeError(f"expecting key_padding_mask shape of {(bsz, src_len)}, but got "
                         f"{P.shape_str(key_padding_mask.shape)}", fix="key_padding_mask is (N, S), True = padding")
    head_dim = embed_dim // num_heads
    separate = (q_proj_weight, k_proj_weight, v_proj_weight) if use_separate_proj_weight else None
    q, k, v = _project(query, key, value, embed_dim, in_proj_weight, in_proj_bias, separate)
    if bias_k is not None and bias_v is not None:
        k = P.concat([k, P.expand(bias_k, (1, bsz, embed_dim))], 0)
        v = P.concat([v, P.expand(bias_v, (1, bsz, embed_dim))], 0)
        attn_mask, key_padding_mask = _pad_last(attn_mask), _pad_last(key_padding_mask)
    elif bias_k is not None or bias_v is not None:
        raise GraphcValueError("bias_k and bias_v must both be given or both be None")

    def heads(t):  # (len, N, E) -> (N * num_heads, len, head_dim)
        return P.permute(P.reshape(t, (t.shape[0], bsz * num_heads, head_dim)), (1, 0, 2))

    q, k, v = heads(q), heads(k), heads(v)
    if add_zero_attn:
        zeros = P.expand(P.reshape(P.const(0.0, dt), (1, 1, 1)), (bsz * num_heads, 1, head_dim))
        k, v = P.concat([k, zeros], 1), P.concat([v, zeros], 1)
        attn_mask, key_padding_mask = _pad_last(attn_mask), _pad_last(key_padding_mask)
    src_len = k.shape[1]
    if key_padding_mask is not None:
        kpm = P.expand(P.reshape(key_padding_mask, (bsz, 1, 1, src_len)), (bsz, num_heads, 1, src_len))
        kpm = P.reshape(kpm, (bsz * num_heads, 1, src_len))
        attn_mask = kpm if attn_mask is None else P.add(attn_mask, kpm)
    if not training:
        dropout_p = 0.0
    if need_weights:
        scores = matmul(P.mul(q, P.const(math.sqrt(1.0 / head_dim), dt)), _swap_last(k))
        if attn_mask is not None:
            scores = P.add(attn_mask, scores)
        weights = softmax(scores, dim=-1)
        if dropout_p > 0.0:
            weights = dropout(weights, dropout_p)
        out = P.reshape(P.permute(matmul(weights, v), (1, 0, 2)), (tgt_len * bsz, embed_dim))
        weights = P.reshape(weights, (bsz, num_heads, tgt_len, src_len))
        if average_attn_weights:
            weights = P.mean(weights, (1,))
    else:
        weights = None
        if attn_mask is not None:
            rows = attn_mask.shape[1]  # tgt_len, or 1 for a padding mask alone
            shape = (1, 1, rows, src_len) if attn_mask.shape[0] == 1 else (bsz, num_heads, rows, src_len)
            attn_mask = P.reshape(attn_mask, shape)

        def split(t):  # (N * num_heads, len, head_dim) -> (N, num_heads, len, head_dim)
            return P.reshape(t, (bsz, num_heads, t.shape[1], head_dim))

        out = scaled_dot_product_attention(split(q), split(k), split(v), attn_mask, dropout_p, is_causal)
        out = P.reshape(P.permute(out, (2, 0, 1, 3)), (bsz * tgt_len, embed_dim))
    out = P.reshape(linear(out, out_proj_weight, out_proj_bias), (tgt_len, bsz, embed_dim))
    if not is_batched:
        out = P.squeeze(out, 1)
        if weights is not None:
            weights = P.squeeze(weights, 0)
    return out, weights
