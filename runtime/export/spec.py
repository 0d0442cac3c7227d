"""What an exported library holds, as the front end describes it to the writer."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from graphc.ir import Graph


@dataclass
class TensorSig:
    """An argument or result of an exported function: its C name, dtype ("f32", ...) and shape."""

    name: str
    dtype: str
    shape: tuple


@dataclass
class BufferSpec:
    """A persistent tensor of the model: a parameter, module buffer, optimizer state or gradient.

    ``saved`` ones are written by ``<name>_save`` and read by ``<name>_load``; ``initial`` is its
    value when the library starts (and after a load that does not hold it).
    """

    name: str
    dtype: str
    shape: tuple
    initial: np.ndarray
    saved: bool = True


@dataclass
class HyperSpec:
    """A ``hyper`` placeholder's value, set at run time through any of its ``keys``."""

    key: str  # the full name: "param_groups.0.lr" (or "adam0.param_groups.0.lr")
    value: float
    aliases: list[str] = field(default_factory=list)  # other keys that set it too ("lr")


@dataclass
class GraphSpec:
    """One optimised graph and what each of its placeholders reads:
    ``("input", i)``, ``("buffer", b)``, ``("hyper", h)`` or ``("const", None)``."""

    graph: Graph
    bindings: list
    next_phase: int


@dataclass
class FunctionSpec:
    name: str
    inputs: list[TensorSig]
    outputs: list[TensorSig]
    graphs: list[int]  # per phase, the graph that runs
    doc: str = ""


@dataclass
class ExportSpec:
    """Everything the writer needs. Phases: 0 before the first training step (no optimizer state
    yet), 1 after it; ``layouts[phase]`` lists the saved buffers that exist in that phase."""

    name: str
    buffers: list[BufferSpec]
    graphs: list[GraphSpec]
    functions: list[FunctionSpec]
    hypers: list[HyperSpec]
    fixed: list[str]  # hyperparameter keys whose export-time value decided the graph's structure
    layouts: list[list[int]]
    weights_image: bytes = b""  # the saved buffers of the initial phase, as a safetensors file
    initial_phase: int = 0
    target: str = "cpu"  # "cpu": native kernels in the library; "cuda": PTX and host code (export_host)
    arch: str = ""  # the CUDA architecture of the PTX (target "cuda")

    @property
    def libs(self) -> list[str]:
        """What a program linking the static library adds: libm, libpthread, and libdl for CUDA's dlopen."""
        return ["-lm", "-lpthread"] + (["-ldl"] if self.target == "cuda" else [])
