"""graphc.passes: graph-to-graph passes (each its own module) and the pass manager.

Imports graphc.ir only. Importing the package registers the built-in passes.
"""

from . import cse, dce, decompose, fuse, fuse_optimizer, memory_plan, simplify  # noqa: E402,F401  (register the built-in passes)
from .autodiff import append_backward  # noqa: E402
from .manager import (
    PASSES,
    DumpIRInstrument,
    Instrument,
    PassContext,
    PassInfo,
    Pipeline,
    RecordIRInstrument,
    TimingInstrument,
    VerifyInstrument,
    get_pass,
    register_pass,
    run_pipeline,
)

DEFAULT_PIPELINE = ("decompose", "simplify", "cse", "dce", "fuse_optimizer", "fuse", "memory_plan")


def default_pipeline() -> Pipeline:
    """The passes ``graphc.compile`` runs after tracing (autodiff and the optimizer update happen
    during the trace): decomposition of composite ops (softmax, gelu, layer_norm, ...) into core
    ops, simplification and constant folding, CSE, DCE, optimizer fusion, kernel fusion, memory
    planning. Edit the returned Pipeline and pass it as ``graphc.compile(fn, passes=...)``."""
    return Pipeline(DEFAULT_PIPELINE)

__all__ = [
    "PASSES", "Instrument", "PassContext", "PassInfo", "Pipeline", "TimingInstrument", "VerifyInstrument",
    "DumpIRInstrument", "RecordIRInstrument",
    "get_pass", "register_pass", "run_pipeline", "append_backward", "default_pipeline", "DEFAULT_PIPELINE",
]
