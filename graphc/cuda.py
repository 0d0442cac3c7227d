"""``graphc.cuda``: whether a CUDA GPU is usable, as ``torch.cuda``.

    >>> import graphc
    >>> graphc.cuda.is_available()     # False without an NVIDIA GPU and driver; never raises
    False

Availability comes from the driver (``graphc.runtime.cuda.driver``, ctypes on libcuda, loaded on
first use). Without one, everything still imports and PTX can still be produced; placing a
tensor or model on "cuda" raises :class:`graphc.DeviceError` "no usable CUDA GPU: <reason>".
"""

from __future__ import annotations

from graphc.ir.errors import DeviceError


def _status() -> tuple[int, str | None]:
    """(usable devices, reason when none). Tests replace this to exercise device semantics."""
    from graphc.runtime.cuda import driver

    return driver.status()


def is_available() -> bool:
    """True when the CUDA driver loads and reports at least one device."""
    return _status()[0] > 0


def device_count() -> int:
    """The number of CUDA devices (0 without a driver or GPU)."""
    return _status()[0]


def current_device() -> int:
    require(0)
    return 0


def require(index: int = 0) -> None:
    """Raise DeviceError unless CUDA device ``index`` is usable."""
    count, reason = _status()
    if count == 0:
        raise DeviceError(f"no usable CUDA GPU: {reason}",
                          fix="run on a machine with an NVIDIA GPU and driver, or keep the model and tensors on 'cpu'")
    if not 0 <= index < count:
        raise DeviceError(f"CUDA error: invalid device ordinal {index} ({count} device(s) present)",
                          fix=f"use an index below graphc.cuda.device_count() ({count})")


def get_device_name(device=None) -> str:
    from graphc.runtime.cuda import driver

    index = _index(device)
    require(index)
    return driver.Context.get(index).name()


def synchronize(device=None) -> None:
    """Wait for the device's work; compiled steps already return only after it finished."""
    from graphc.runtime.cuda import driver

    index = _index(device)
    require(index)
    driver.Context.get(index).synchronize()


class amp:  # noqa: N801  (torch.cuda.amp, deprecated in PyTorch for torch.amp; see graphc.amp)
    from .amp import GradScaler, autocast


def empty_cache() -> None:
    """PyTorch's cache of freed device memory: graphc keeps none (a compiled version owns its
    buffers until it is dropped), so there is nothing to release."""


def manual_seed(seed: int) -> None:
    """graphc draws random numbers on the host for every device: the same as ``graphc.manual_seed``."""
    from .random import manual_seed as seed_all

    seed_all(seed)


manual_seed_all = manual_seed


def _index(device) -> int:
    if device is None:
        return 0
    if isinstance(device, int):
        return device
    from .device import device as device_type

    return device_type(device).index or 0
