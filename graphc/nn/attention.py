"""MultiheadAttention, with torch.nn.MultiheadAttention's parameters, masks and layouts.

    >>> import graphc
    >>> from graphc import nn
    >>> mha = nn.MultiheadAttention(16, 4, batch_first=True)
    >>> x = graphc.randn(2, 5, 16)                    # (N, L, E)
    >>> out, weights = mha(x, x, x)
    >>> out.shape, weights.shape
    (graphc.Size([2, 5, 16]), graphc.Size([2, 5, 5]))
"""

from __future__ import annotations

from graphc.ir.errors import GraphcValueError

from . import _prims as P
from . import init
from ._factory import factory_dtype, new_param
from .functional_attention import multi_head_attention_forward
from .linear import Linear
from .module import Module


def _to_seq_first(query, key, value):
    """(N, L, E) -> (L, N, E), transposing each distinct tensor once so that self-attention stays
    recognisable (``query is key is value``) and takes the single packed projection."""
    done = {}
    for t in (query, key, value):
        if id(t) not in done:
            done[id(t)] = P.permute(t, (1, 0, 2)) if t.ndim == 3 else t  # others: the shape check explains
    return done[id(query)], done[id(key)], done[id(value)]


class NonDynamicallyQuantizableLinear(Linear):
    """A plain Linear under the name PyTorch gives MultiheadAttention's output projection (for its repr)."""


class MultiheadAttention(Module):
    """Attention over ``num_heads`` heads of ``embed_dim // num_heads`` features each, as PyTorch's.

    Parameters carry PyTorch's names, so a torch ``state_dict`` loads as it is: ``in_proj_weight``
    (3E, E) and ``in_proj_bias`` (3E), or ``q_proj_weight`` / ``k_proj_weight`` / ``v_proj_weight``
    when ``kdim`` / ``vdim`` differ from ``embed_dim``; ``out_proj.weight`` / ``out_proj.bias``;
    ``bias_k`` / ``bias_v`` with ``add_bias_kv``. Initialised as PyTorch: xavier_uniform_ for the
    input projections, zero biases, xavier_normal_ for bias_k / bias_v.

    ``forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False)`` takes (L, N, E) inputs, (N, L, E) with
    ``batch_first=True``, or unbatched (L, E). Bool masks mark positions that are *not* attended
    (True = masked out); float masks are added to the scores.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device=None, dtype=None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise GraphcValueError(f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} and "
                                   f"num_heads={num_heads} instead", fix="use positive sizes")
        if embed_dim % num_heads:
            raise GraphcValueError("embed_dim must be divisible by num_heads",
                                   fix=f"choose num_heads dividing embed_dim={embed_dim} (each head gets "
                                       "embed_dim // num_heads features)")
        dt = factory_dtype(device, dtype)
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self._qkv_same_embed_dim:
            self.in_proj_weight = new_param((3 * embed_dim, embed_dim), dt)
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = new_param((embed_dim, embed_dim), dt)
            self.k_proj_weight = new_param((embed_dim, self.kdim), dt)
            self.v_proj_weight = new_param((embed_dim, self.vdim), dt)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = new_param((3 * embed_dim,), dt)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, dtype=dt)
        if add_bias_kv:
            self.bias_k = new_param((1, 1, embed_dim), dt)
            self.bias_v = new_param((1, 1, embed_dim), dt)
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
        if self.bias_v is not None:
            init.xavier_normal_(self.bias_v)

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True, attn_mask=None,
                average_attn_weights: bool = True, is_causal: bool = False):
        """Returns ``(output, weights)``: output like ``query``; weights (N, L, S) averaged over heads,
        (N, num_heads, L, S) with ``average_attn_weights=False``, None with ``need_weights=False``."""
        is_batched = query.ndim == 3
        if self.batch_first and is_batched:
            # transpose once per distinct tensor, so self-attention stays recognisable (query is key is value)
            query, key, value = _to_seq_first(query, key, value)
        separate = {}
        if not self._qkv_same_embed_dim:
            separate = {"use_separate_proj_weight": True, "q_proj_weight": self.q_proj_weight,
                        "k_proj_weight": self.k_proj_weight, "v_proj_weight": self.v_proj_weight}
        out, weights = multi_head_attention_forward(
            query, key, value, self.embed_dim, self.num_heads, self.in_proj_weight, self.in_proj_bias,
            self.bias_k, self.bias_v, self.add_zero_attn, self.dropout, self.out_proj.weight, self.out_proj.bias,
            training=self.training, key_padding_mask=key_padding_mask, need_weights=need_weights,
            attn_mask=attn_mask, average_attn_weights=average_attn_weights, is_causal=is_causal, **separate)
        if self.batch_first and is_batched:
            out = P.permute(out, (1, 0, 2))
        return out, weights
