"""graphc: an ahead-of-time compiler for PyTorch-style training code.

Write a model as in PyTorch (only the import changes); run it eagerly with PyTorch's
semantics, or compile the whole training step to native code with ``graphc.compile``.
"""

from __future__ import annotations

__version__ = "0.1.0"

from . import (  # noqa: E402
    _tensor_methods,  # noqa: F401  (attaches the Tensor methods)
    autograd,
    cuda,
    datasets,  # graphc.datasets.digits(); it builds on utils.data
    indexing,  # noqa: F401  (attaches __getitem__ / __setitem__)
    nn,
    optim,
    transforms,
    utils,
)
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
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
]
