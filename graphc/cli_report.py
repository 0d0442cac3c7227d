"""``graphc report``: compile a model (or its train step), run it, and write the HTML compile report.

    graphc report model.py:Net --input-shape 64,784 [--train] [--profile] [--steps 3] [--no-graph] -o report.html
"""

from __future__ import annotations

import os
import sys


def cmd_report(args) -> int:
    from .cli import compiled_for

    fn, inputs = compiled_for(args)
    old = os.environ.get("GRAPHC_PROFILE")
    if args.profile:
        os.environ["GRAPHC_PROFILE"] = "1"
    try:
        for _ in range(max(args.steps, 1)):
            fn(*inputs)
    finally:
        if old is None:
            os.environ.pop("GRAPHC_PROFILE", None)
        else:
            os.environ["GRAPHC_PROFILE"] = old
    path = fn.report(args.output, draw=not args.no_graph)
    print(f"wrote {path}: open it in a browser", file=sys.stderr)
    return 0


def add_report_command(sub) -> None:
    p = sub.add_parser("report", help="compile a model or train step and write an HTML compile report")
    p.add_argument("model", help="FILE.py:NAME, NAME a Module class, instance or factory function")
    p.add_argument("--input-shape", action="append", required=True, help="an input's shape, e.g. 64,784 (repeatable)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64", "int64", "int32"])
    p.add_argument("--train", action="store_true", help="compile a train step (cross-entropy, SGD momentum)")
    p.add_argument("--profile", action="store_true", help="time every kernel (GRAPHC_PROFILE=1)")
    p.add_argument("--steps", type=int, default=3, help="how many times to run the step before reporting")
    p.add_argument("--no-graph", action="store_true", help="leave out the Graphviz picture (faster for large graphs)")
    p.add_argument("-o", "--output", default="report.html", help="the HTML file to write")
    p.set_defaults(run=cmd_report)
