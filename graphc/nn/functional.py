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
from .functional_conv import (
    adaptive_avg_pool2d,
    avg_pool2d,
    conv1d,
    conv2d,
    conv_transpose2d,
    linear,
    max_pool2d,
)
from .functional_loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from .functional_norm import batch_norm, group_norm, layer_norm

__all__ = [
    "adaptive_avg_pool2d", "avg_pool2d", "batch_norm", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "conv1d", "conv2d", "conv_transpose2d", "cross_entropy", "dropout", "elu", "embedding", "gelu", "group_norm",
    "l1_loss", "layer_norm", "leaky_relu", "linear", "log_softmax", "max_pool2d", "mse_loss", "nll_loss", "one_hot",
    "pad", "relu", "sigmoid", "silu", "smooth_l1_loss", "softmax", "tanh",
]
