"""Devices: ``graphc.device("cpu")``, ``graphc.device("cuda:0")``, as ``torch.device``.

A tensor placed on "cuda" keeps its value in host memory (so eager ops and ``state_dict()``
are exact) and records its device; ``graphc.compile`` runs steps on the device the tensors
live on. Placing anything on "cuda" needs a usable GPU (``graphc.cuda.is_available()``).
"""

from __future__ import annotations

from graphc.ir.errors import DeviceError


class device:
    """``graphc.device("cpu")``, as ``torch.device``."""

    def __init__(self, spec="cpu", index: int | None = None):
        if isinstance(spec, device):
            spec, index = spec.type, spec.index
        spec = str(spec)
        if ":" in spec:
            spec, idx = spec.split(":", 1)
            try:
                index = int(idx)
            except ValueError:
                raise DeviceError(f"invalid device string {spec}:{idx!r}", fix="write e.g. 'cuda:0'") from None
        if spec not in ("cpu", "cuda"):
            raise DeviceError(f"unknown device type {spec!r}", fix="use 'cpu' (or 'cuda' where a GPU is usable)")
        self.type = spec
        self.index = index

    def __eq__(self, other) -> bool:
        try:
            other = device(other)
        except Exception:
            return False
        return self.type == other.type and (self.index or 0) == (other.index or 0)

    def __hash__(self) -> int:
        return hash((self.type, self.index or 0))

    def __repr__(self) -> str:
        return f"device(type='{self.type}'" + (f", index={self.index})" if self.index is not None else ")")

    def __str__(self) -> str:
        return self.type + (f":{self.index}" if self.index is not None else "")


cpu = device("cpu")


def check_device(spec) -> device:
    """The device for ``spec`` with its index filled in ("cuda" is "cuda:0"), raising
    :class:`DeviceError` "no usable CUDA GPU: <reason>" for a CUDA device that cannot be used."""
    if isinstance(spec, int) and not isinstance(spec, bool):
        spec = f"cuda:{spec}"  # torch accepts a bare index for a CUDA device
    d = device(spec)
    if d.type == "cuda":
        from . import cuda

        cuda.require(d.index or 0)
        return device("cuda", d.index or 0)
    return cpu


def placed(d: device | None) -> device | None:
    """What a tensor stores as its device: None for the CPU, else the (checked) device."""
    return None if d is None or d.type == "cpu" else d
