"""The CUDA driver API through ctypes on libcuda: the only thing graphc needs to run on a GPU.

libcuda is loaded on first use, never at import; where it is missing, or ``cuInit`` fails, or
there is no device, :func:`status` says why and every call raises :class:`DeviceError` with
that reason. Each driver call's failure becomes a ``DeviceError`` naming the call and carrying
the driver's own message (``cuGetErrorName`` / ``cuGetErrorString``).

    from graphc.runtime.cuda import driver
    count, reason = driver.status()    # e.g. (0, "libcuda was not found (no NVIDIA driver installed)")
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading

from graphc.ir.errors import DeviceError

CUdeviceptr = ctypes.c_uint64
_ATTR_CC_MAJOR, _ATTR_CC_MINOR = 75, 76
_JIT_ERROR_LOG_BUFFER, _JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 5, 6

_lock = threading.Lock()
_lib = None
_init_error: str | None = None
_initialised = False


def _library_names() -> list[str]:
    if sys.platform == "win32":
        return ["nvcuda.dll"]
    names = ["libcuda.so.1", "libcuda.so"]
    found = ctypes.util.find_library("cuda")
    if found and found not in names:
        names.append(found)
    return names


def _load():
    """The libcuda handle, initialised with cuInit; None (with ``_init_error`` set) when unusable."""
    global _lib, _init_error, _initialised
    with _lock:
        if _initialised:
            return _lib
        _initialised = True
        if os.environ.get("GRAPHC_DISABLE_CUDA", "0") not in ("0", ""):
            _init_error = "disabled by GRAPHC_DISABLE_CUDA"
            return None
        lib = None
        for name in _library_names():
            try:
                lib = ctypes.CDLL(name)
                break
            except OSError:
                continue
        if lib is None:
            _init_error = "libcuda was not found (no NVIDIA driver installed)"
            return None
        _declare(lib)
        rc = lib.cuInit(0)
        if rc != 0:
            _init_error = f"cuInit failed: {_describe(lib, rc)}"
            return None
        _lib = lib
        return lib


def _declare(lib) -> None:
    vp, i, u, sz = ctypes.c_void_p, ctypes.c_int, ctypes.c_uint, ctypes.c_size_t
    sigs = {
        "cuInit": [u],
        "cuGetErrorName": [i, ctypes.POINTER(ctypes.c_char_p)],
        "cuGetErrorString": [i, ctypes.POINTER(ctypes.c_char_p)],
        "cuDeviceGetCount": [ctypes.POINTER(i)],
        "cuDeviceGet": [ctypes.POINTER(i), i],
        "cuDeviceGetName": [ctypes.c_char_p, i, i],
        "cuDeviceGetAttribute": [ctypes.POINTER(i), i, i],
        "cuDevicePrimaryCtxRetain": [ctypes.POINTER(vp), i],
        "cuCtxSetCurrent": [vp],
        "cuCtxSynchronize": [],
        "cuModuleLoadDataEx": [ctypes.POINTER(vp), ctypes.c_char_p, u, ctypes.POINTER(i), ctypes.POINTER(vp)],
        "cuModuleUnload": [vp],
        "cuModuleGetFunction": [ctypes.POINTER(vp), vp, ctypes.c_char_p],
        "cuLaunchKernel": [vp, u, u, u, u, u, u, u, vp, ctypes.POINTER(vp), ctypes.POINTER(vp)],
        "cuMemAlloc_v2": [ctypes.POINTER(CUdeviceptr), sz],
        "cuMemFree_v2": [CUdeviceptr],
        "cuMemcpyHtoDAsync_v2": [CUdeviceptr, vp, sz, vp],
        "cuMemcpyDtoHAsync_v2": [vp, CUdeviceptr, sz, vp],
        "cuMemcpyDtoDAsync_v2": [CUdeviceptr, CUdeviceptr, sz, vp],
        "cuMemsetD8Async": [CUdeviceptr, ctypes.c_ubyte, sz, vp],
        "cuStreamCreate": [ctypes.POINTER(vp), u],
        "cuStreamDestroy_v2": [vp],
        "cuStreamSynchronize": [vp],
    }
    for name, args in sigs.items():
        fn = getattr(lib, name, None)
        if fn is not None:
            fn.argtypes = args
            fn.restype = ctypes.c_int


def _describe(lib, rc: int) -> str:
    name, text = ctypes.c_char_p(), ctypes.c_char_p()
    try:
        lib.cuGetErrorName(rc, ctypes.byref(name))
        lib.cuGetErrorString(rc, ctypes.byref(text))
    except Exception:  # a driver too old for these: the number still identifies the error
        return f"CUDA error {rc}"
    n = name.value.decode() if name.value else f"CUDA error {rc}"
    t = text.value.decode() if text.value else ""
    return f"{n}: {t}" if t else n


def status() -> tuple[int, str | None]:
    """(number of usable devices, the reason when there are none)."""
    lib = _load()
    if lib is None:
        return 0, _init_error
    count = ctypes.c_int(0)
    rc = lib.cuDeviceGetCount(ctypes.byref(count))
    if rc != 0:
        return 0, f"cuDeviceGetCount failed: {_describe(lib, rc)}"
    if count.value == 0:
        return 0, "the driver reports no CUDA device"
    return count.value, None


def lib():
    """The initialised libcuda, or a DeviceError saying why there is no usable GPU."""
    handle = _load()
    if handle is None:
        raise DeviceError(f"no usable CUDA GPU: {_init_error}",
                          fix="run on a machine with an NVIDIA GPU and driver, or keep tensors on 'cpu'")
    return handle


def check(call: str, rc: int) -> None:
    if rc != 0:
        raise DeviceError(f"CUDA driver call {call} failed: {_describe(lib(), rc)}",
                          fix="check that the GPU is healthy and has free memory (nvidia-smi)")


def call(name: str, *args) -> None:
    check(name, getattr(lib(), name)(*args))


# ---------------------------------------------------------------------- devices and contexts
class Context:
    """The primary context of one device, made current on the calling thread when used."""

    _by_device: dict = {}

    def __init__(self, index: int):
        count, reason = status()
        if index >= count:
            raise DeviceError(f"no usable CUDA GPU: {reason}" if count == 0 else
                              f"CUDA device {index} does not exist ({count} device(s) present)",
                              fix="use device='cuda' or an index below graphc.cuda.device_count()")
        dev = ctypes.c_int()
        call("cuDeviceGet", ctypes.byref(dev), index)
        self.device = dev.value
        self.index = index
        self.handle = ctypes.c_void_p()
        call("cuDevicePrimaryCtxRetain", ctypes.byref(self.handle), self.device)
        self.activate()
        self.stream = ctypes.c_void_p()
        call("cuStreamCreate", ctypes.byref(self.stream), 0)

    @classmethod
    def get(cls, index: int = 0) -> Context:
        ctx = cls._by_device.get(index)
        if ctx is None:
            ctx = cls._by_device[index] = Context(index)
        ctx.activate()
        return ctx

    def activate(self) -> None:
        call("cuCtxSetCurrent", self.handle)

    def name(self) -> str:
        buf = ctypes.create_string_buffer(256)
        call("cuDeviceGetName", buf, 256, self.device)
        return buf.value.decode()

    def arch(self) -> str:
        """``sm_XY`` of this device (what PTX is compiled for)."""
        major, minor = ctypes.c_int(), ctypes.c_int()
        call("cuDeviceGetAttribute", ctypes.byref(major), _ATTR_CC_MAJOR, self.device)
        call("cuDeviceGetAttribute", ctypes.byref(minor), _ATTR_CC_MINOR, self.device)
        return f"sm_{major.value}{minor.value}"

    def synchronize(self) -> None:
        call("cuStreamSynchronize", self.stream)


# ---------------------------------------------------------------------- memory
class DeviceBuffer:
    """``nbytes`` of device memory, freed with the object."""

    def __init__(self, ctx: Context, nbytes: int):
        self.ctx = ctx
        self.nbytes = nbytes
        self.ptr = CUdeviceptr(0)
        call("cuMemAlloc_v2", ctypes.byref(self.ptr), max(nbytes, 1))

    def upload(self, array) -> None:
        """Copy a C-contiguous host array of exactly this size in (ordered on the context's stream)."""
        if array.nbytes:
            call("cuMemcpyHtoDAsync_v2", self.ptr, ctypes.c_void_p(array.ctypes.data), array.nbytes, self.ctx.stream)

    def download(self, array) -> None:
        """Copy into a C-contiguous host array and wait for it."""
        if array.nbytes:
            call("cuMemcpyDtoHAsync_v2", ctypes.c_void_p(array.ctypes.data), self.ptr, array.nbytes, self.ctx.stream)
        self.ctx.synchronize()

    def zero(self) -> None:
        call("cuMemsetD8Async", self.ptr, 0, max(self.nbytes, 1), self.ctx.stream)

    def __del__(self):
        if self.ptr.value and _lib is not None:
            _lib.cuMemFree_v2(self.ptr)
            self.ptr = CUdeviceptr(0)


# ---------------------------------------------------------------------- modules and launches
class Module:
    """A PTX module loaded into a context (the driver JIT-compiles it for the device)."""

    def __init__(self, ctx: Context, ptx: str):
        self.ctx = ctx
        self.handle = ctypes.c_void_p()
        log = ctypes.create_string_buffer(8192)
        opts = (ctypes.c_int * 2)(_JIT_ERROR_LOG_BUFFER, _JIT_ERROR_LOG_BUFFER_SIZE_BYTES)
        vals = (ctypes.c_void_p * 2)(ctypes.cast(log, ctypes.c_void_p), ctypes.c_void_p(8192))
        rc = lib().cuModuleLoadDataEx(ctypes.byref(self.handle), ptx.encode() + b"\0", 2, opts, vals)
        if rc != 0:
            detail = log.value.decode(errors="replace").strip()
            raise DeviceError(f"CUDA driver call cuModuleLoadDataEx failed: {_describe(lib(), rc)}"
                              + (f"\n{detail}" if detail else ""),
                              fix="the driver may be older than the PTX version; update the NVIDIA driver")
        self.functions: dict[str, ctypes.c_void_p] = {}

    def function(self, name: str) -> ctypes.c_void_p:
        fn = self.functions.get(name)
        if fn is None:
            fn = ctypes.c_void_p()
            call("cuModuleGetFunction", ctypes.byref(fn), self.handle, name.encode())
            self.functions[name] = fn
        return fn

    def launch(self, name: str, grid, block, shared: int, pointers: list[int]) -> None:
        """Start kernel ``name`` with one device pointer per parameter (asynchronous, on the stream)."""
        params = [ctypes.c_uint64(p) for p in pointers]
        argv = (ctypes.c_void_p * max(len(params), 1))(*[ctypes.addressof(p) for p in params])
        call("cuLaunchKernel", self.function(name), grid[0], grid[1], grid[2], block[0], block[1], block[2],
             shared, self.ctx.stream, argv, None)

    def __del__(self):
        if self.handle.value and _lib is not None:
            _lib.cuModuleUnload(self.handle)
            self.handle = ctypes.c_void_p()
