"""graphc's benchmark: graphc against PyTorch eager, torch.compile, JAX jit and numpy.

Run it with ``graphc bench`` (or ``python benchmarks/bench.py`` in a checkout); ``--quick`` is
the smoke run. See docs/performance.md for the workloads, the columns and how to read them.

Layout: ``models`` (the models, data and common starting weights; ``jax_models`` their JAX
twins), ``workloads`` (contenders and the agreement check), ``timing`` (interleaved rounds),
``child`` (one thread setting, in its own process), ``compile_time`` (cold and cached, in fresh
processes), ``runner`` (the driver), ``report`` (the Markdown tables and targets).
"""

from .errors import BenchError, Disagreement
from .runner import add_arguments, main, run

__all__ = ["BenchError", "Disagreement", "add_arguments", "main", "run"]
