"""``graphc.nn.functional`` (import as ``F``): PyTorch's functional API for the covered layers.

Written at the IR level: every function decomposes into graphc's core ops, so the same code
runs eagerly, is differentiated by the autodiff pass, and compiles.

    >>> import graphc
    >>> import graphc.nn.functional as F
    >>> F.softmax(graphc.tensor([[0.0, 0.0]]), dim=1)
    tensor([[0.5000, 0.5000]])
"""

from __future__ import annotations

from .functional_act import (
    dropout,
    elu,
    embedding,
    gelu,
    leaky_relu,
    log_softmax,
    one_hot,
    pad,
    relu,
    sigmoid,
    silu,
    softmax,
    tanh,
)
from .functional_activations import (
    celu,
    glu,
    hardsigmoid,
    hardswish,
    hardtanh,
    logsigmoid,
    mish,
    prelu,
    relu6,
    selu,
    softplus,
    softsign,
)
from .functional_attention import multi_head_attention_forward, scaled_dot_product_attention
from .functional_conv import (
    adaptive_avg_pool2d,
    avg_pool2d,
    conv1d,
    conv2d,
    conv_transpose2d,
    linear,
    max_pool2d,
)
from .functional_distance import cosine_similarity, normalize, pairwise_distance
from .functional_dropout import (
    alpha_dropout,
    dropout1d,
    dropout2d,
    dropout3d,
    feature_alpha_dropout,
)
from .functional_loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from .functional_loss_likelihood import gaussian_nll_loss, kl_div, poisson_nll_loss
from .functional_loss_margin import (
    cosine_embedding_loss,
    margin_ranking_loss,
    soft_margin_loss,
    triplet_margin_loss,
)
from .functional_norm import (
    batch_norm,
    group_norm,
    instance_norm,
    layer_norm,
    local_response_norm,
    rms_norm,
)
from .functional_pool import (
    adaptive_avg_pool1d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    avg_pool1d,
    max_pool1d,
)
from .functional_resample import interpolate, pixel_shuffle, pixel_unshuffle

__all__ = [
    "adaptive_avg_pool2d", "avg_pool2d", "batch_norm", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "conv1d", "conv2d", "conv_transpose2d", "cross_entropy", "dropout", "elu", "embedding", "gelu", "group_norm",
    "l1_loss", "layer_norm", "leaky_relu", "linear", "log_softmax", "max_pool2d", "mse_loss", "nll_loss", "one_hot",
    "pad", "relu", "sigmoid", "silu", "smooth_l1_loss", "softmax", "tanh",
    "celu", "glu", "hardsigmoid", "hardswish", "hardtanh", "logsigmoid", "mish", "prelu", "relu6", "selu", "softplus",
    "softsign",
    "multi_head_attention_forward", "scaled_dot_product_attention",
    "cosine_similarity", "normalize", "pairwise_distance", "huber_loss", "kl_div", "poisson_nll_loss",
    "gaussian_nll_loss", "margin_ranking_loss", "triplet_margin_loss", "cosine_embedding_loss", "soft_margin_loss",
    "rms_norm", "instance_norm", "local_response_norm", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
    "feature_alpha_dropout", "interpolate", "pixel_shuffle", "pixel_unshuffle", "max_pool1d", "avg_pool1d",
    "adaptive_avg_pool1d", "adaptive_max_pool1d", "adaptive_max_pool2d",
]
