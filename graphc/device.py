"""Devices. graphc runs on the CPU; ``"cuda"`` becomes meaningful with the CUDA backend."""

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
            index = int(idx)
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
    """Return the device for ``spec``, raising a clear error for one graphc cannot use here."""
    d = device(spec)
    if d.type == "cuda":
        raise DeviceError("CUDA is not available: graphc's CUDA backend is not usable in this build or on this machine",
                          fix="keep the model and tensors on 'cpu'")
    return d
