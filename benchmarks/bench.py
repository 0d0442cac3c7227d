"""graphc against PyTorch eager, torch.compile, JAX jit and numpy: the README's table.

Run from the repository root (the same as ``graphc bench``)::

    python benchmarks/bench.py --markdown bench.md     # 1 thread, 2 threads, all cores
    python benchmarks/bench.py --quick --only mlp,sgemm512 --threads 1

The code lives in the installed package ``graphc.bench`` so that ``graphc bench`` works from
any install; see docs/performance.md.
"""

import sys

from graphc.bench import main

if __name__ == "__main__":
    sys.exit(main())
