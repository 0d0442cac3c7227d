"""How many threads compiled code uses: ``graphc.set_num_threads(n)`` / ``graphc.get_num_threads()``.

The LLVM backend splits large kernels across a thread pool inside the native code (one pool per
process; see ``runtime/llvm/threads.py``). Its size defaults to ``GRAPHC_NUM_THREADS`` when set,
else to the number of CPUs this process may run on (its affinity mask). A new size applies from
the next parallel region of any compiled function; results do not depend on it.
"""

from __future__ import annotations

from graphc.ir.errors import GraphcTypeError, GraphcValueError


def _runtime():
    from graphc.runtime.llvm.threads import ensure_runtime

    return ensure_runtime()


def set_num_threads(n: int) -> None:
    """Use ``n`` threads (the calling thread included) in compiled code; 1 runs serially."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise GraphcTypeError(f"set_num_threads expects an int, got {type(n).__name__}",
                              fix="pass the number of threads, e.g. graphc.set_num_threads(4)")
    if n < 1:
        raise GraphcValueError(f"set_num_threads expects at least 1 thread, got {n}",
                               fix="pass 1 to run compiled code on the calling thread only")
    _runtime().set_num_threads(n)


def get_num_threads() -> int:
    """The number of threads compiled code uses."""
    return int(_runtime().get_num_threads())
