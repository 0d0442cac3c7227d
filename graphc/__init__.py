"""graphc: an ahead-of-time compiler for PyTorch-style training code.

Write a model as in PyTorch (only the import changes); run it eagerly with PyTorch's
semantics, or compile the whole training step to native code with ``graphc.compile``.
"""

from __future__ import annotations

__version__ = "0.1.0"

from . import (  # noqa: E402
    _tensor_methods,  # noqa: F401  (attaches the Tensor methods)
    amp,  # torch.amp (autocast, GradScaler: float32 pass-through)
    autograd,
    backends,  # torch.backends flags (cudnn.benchmark, mps.is_available, ...)
    cuda,
    datasets,  # graphc.datasets.digits(); it builds on utils.data
    indexing,  # noqa: F401  (attaches __getitem__ / __setitem__)
    nn,
    optim,
    testing,  # torch.testing.assert_close
    transforms,
    utils,
)
from ._einsum import einsum  # noqa: E402,F401  (graphc.einsum)
from ._finfo import finfo, iinfo  # noqa: E402
from ._settings import (  # noqa: E402
    are_deterministic_algorithms_enabled,
    bfloat16,
    float16,
    get_default_dtype,
    get_float32_matmul_precision,
    is_deterministic_algorithms_warn_only_enabled,
    set_default_dtype,
    set_float32_matmul_precision,
    set_printoptions,
    use_deterministic_algorithms,
)
from ._tensor_dynamic import *  # noqa: F401,F403  (graphc.nonzero, masked_select, unique, bincount: eager only)
from ._tensor_rearrange import *  # noqa: F401,F403  (graphc.roll, repeat_interleave, tile)
from ._tensor_scan import *  # noqa: F401,F403  (graphc.cumsum, cumprod, logcumsumexp)
from ._tensor_select import *  # noqa: F401,F403  (graphc.gather, index_select, take, tril, diagonal, ...)
from ._tensor_sort import *  # noqa: F401,F403  (graphc.sort, argsort, topk, median, searchsorted, ...)
from .autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .bisect import bisect  # noqa: E402
from .compile import compile  # noqa: A004  (graphc.compile, as torch.compile)
from .compile_ir import compile_ir, save_ir  # noqa: E402
from .device import device
from .export import export  # noqa: E402  (graphc.export: a C library of compiled functions)
from .factories import *  # noqa: F401,F403
from .functions import *  # noqa: F401,F403  (graphc.exp, graphc.cat, ... as torch.*)
from .ir.dtypes import DType, float32, float64, int32, int64
from .ir.dtypes import bool_ as bool  # noqa: A001  (torch.bool)
from .ir.errors import (
    AutogradError,
    CompileError,
    DeviceError,
    DTypeError,
    ExportError,
    GraphcError,
    IRError,
    ShapeError,
    TraceError,
)
from .random import *  # noqa: F401,F403
from .serialization import load, save  # noqa: E402
from .tensor import Size, Tensor
from .threads import get_num_threads, set_num_threads  # noqa: E402

float = float32  # noqa: A001  (torch.float)
half = float16  # (a name only: graphc has no float16; see graphc._settings)
autocast = amp.autocast
double = float64
long = int64
int = int32  # noqa: A001  (torch.int)
dtype = DType

__all__ = [
    "Tensor", "Size", "DType", "dtype", "float32", "float64", "int32", "int64", "bool", "float", "double",
    "long", "int", "device", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "autograd",
    "GraphcError", "ShapeError", "DTypeError", "TraceError", "CompileError", "ExportError", "IRError",
    "AutogradError", "DeviceError", "compile", "cuda", "nn", "optim", "utils", "datasets", "transforms", "save", "load",
    "set_num_threads", "get_num_threads", "export", "bisect", "compile_ir", "save_ir",
    "amp", "autocast", "backends", "testing", "finfo", "iinfo", "inference_mode", "float16", "half", "bfloat16",
    "set_float32_matmul_precision", "get_float32_matmul_precision", "use_deterministic_algorithms",
    "are_deterministic_algorithms_enabled", "is_deterministic_algorithms_warn_only_enabled", "get_default_dtype",
    "set_default_dtype", "set_printoptions",
]
