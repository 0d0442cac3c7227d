"""Export: compiled graphs -> a C library (object code, C runtime, header, weights, example program).

``graphc.export`` (the front end) traces the functions and describes what to build as an
:class:`ExportSpec`; :func:`write_library` lowers and compiles every graph into one
position-independent object file, generates the C tables and header, and links it all with the
system C compiler.
"""

from .spec import BufferSpec, ExportSpec, FunctionSpec, GraphSpec, HyperSpec, TensorSig
from .writer import write_library

__all__ = ["BufferSpec", "ExportSpec", "FunctionSpec", "GraphSpec", "HyperSpec", "TensorSig", "write_library"]
