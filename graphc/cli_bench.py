"""``graphc bench``: the benchmark of docs/performance.md (the code is in ``graphc.bench``)."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    """Add the ``bench`` subcommand to the ``graphc`` command's subparsers."""
    from graphc.bench import add_arguments

    p = sub.add_parser("bench", help="time graphc against PyTorch eager, torch.compile, JAX and numpy",
                       description="Time graphc against PyTorch eager, torch.compile, JAX jit and numpy; "
                                   "print a Markdown table (see docs/performance.md).")
    add_arguments(p)
    p.set_defaults(run=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    import shlex
    import sys

    from graphc.bench import BenchError, run

    try:
        _, text = run(args, shlex.join(["graphc", *sys.argv[1:]]) if sys.argv[1:2] == ["bench"] else "graphc bench")
    except BenchError as e:
        print(f"graphc: {e}", file=sys.stderr)
        return 3
    print(text)
    return 0
