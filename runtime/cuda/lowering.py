"""The kernel IR the CUDA backend compiles: the shared lowering, with convolutions as direct
loop nests (one GPU thread per output element) instead of the CPU's im2col and GEMM."""

from __future__ import annotations

from graphc.ir import Graph

from ..lower import Program
from ..lower import lower as lower_for_cpu
from ..lowering_conv_direct import DIRECT_CONV_RULES


def lower(graph: Graph) -> Program:
    return lower_for_cpu(graph, rules=DIRECT_CONV_RULES)
