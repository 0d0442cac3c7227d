"""``graphc.backends``: the switches training scripts set on ``torch.backends``.

Scripts written for PyTorch set ``torch.backends.cudnn.benchmark = True``, check
``torch.backends.mps.is_available()`` when they pick a device, or allow TF32 matmuls. graphc
accepts these so such scripts run unchanged, and says what they mean here: graphc has no cuDNN
(its CUDA backend generates its own kernels), no MPS backend, and computes float32 as float32
(TF32 is never used), so the flags are recorded and have no effect.

    >>> import graphc
    >>> graphc.backends.cudnn.benchmark = True
    >>> graphc.backends.mps.is_available()
    False
"""

from __future__ import annotations

__all__ = ["cudnn", "mps", "cuda", "mkldnn", "openmp"]


class _Flags:
    """A namespace of flags, as the ``torch.backends.*`` modules (attributes can be set)."""

    def __init__(self, name: str, available: bool, **flags):
        self.__name__ = f"graphc.backends.{name}"
        self._available = available
        self.__dict__.update(flags)

    def is_available(self) -> bool:
        return self._available

    def is_built(self) -> bool:
        return self._available

    def __repr__(self) -> str:
        flags = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"<{self.__name__}: {flags}>"


# graphc's CUDA backend emits its own PTX: there is no cuDNN to tune or make deterministic
cudnn = _Flags("cudnn", False, enabled=True, benchmark=False, deterministic=False, allow_tf32=True,
               benchmark_limit=10)
cudnn.version = lambda: None
mps = _Flags("mps", False)
mkldnn = _Flags("mkldnn", False, enabled=True)
openmp = _Flags("openmp", False)


class _Matmul:
    allow_tf32 = False  # graphc's float32 matmuls are float32 on every device
    allow_fp16_reduced_precision_reduction = True
    allow_bf16_reduced_precision_reduction = True


cuda = _Flags("cuda", False, matmul=_Matmul())
cuda.is_built = lambda: True  # the CUDA backend is part of graphc (a GPU is another matter: graphc.cuda)
