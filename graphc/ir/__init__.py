"""graphc.ir: the graph IR, dtypes, the op registry and the errors. Imports nothing else of graphc."""

from . import (
    dtypes,
    ops,  # noqa: E402,F401  (registers the core op set)
)
from .dtypes import DType, bool_, float32, float64, int32, int64
from .errors import (
    AutogradError,
    CompileError,
    DeviceError,
    DTypeError,
    ExportError,
    GraphcError,
    GraphcIndexError,
    GraphcTypeError,
    GraphcValueError,
    IRError,
    ShapeError,
    TraceError,
)
from .graph import ROLES, Graph, Node, TensorType
from .nx import render, to_dot, to_networkx  # noqa: E402
from .optable import op_table_markdown  # noqa: E402
from .parser import load_gir, parse_graph, parse_type, parse_value, save_gir  # noqa: E402
from .printer import format_graph  # noqa: E402
from .registry import REQUIRED, OpDef, all_ops, get_op, register_op
from .verifier import verify  # noqa: E402

__all__ = [
    "dtypes", "DType", "bool_", "float32", "float64", "int32", "int64",
    "GraphcError", "ShapeError", "DTypeError", "GraphcTypeError", "GraphcValueError",
    "GraphcIndexError", "AutogradError", "TraceError", "CompileError", "ExportError", "IRError",
    "DeviceError", "Graph", "Node", "TensorType", "ROLES", "OpDef", "REQUIRED", "register_op",
    "get_op", "all_ops", "format_graph", "parse_graph", "parse_type", "parse_value", "save_gir", "load_gir",
    "verify", "to_networkx", "to_dot", "render", "op_table_markdown",
]
