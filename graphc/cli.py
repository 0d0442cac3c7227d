"""The ``graphc`` command.

    graphc demo [--epochs 10] [--out DIR] [--no-export]   train a CNN on digits, export it, run it in C
    graphc info                                   versions, CPU features, cache
    graphc cache clear                            empty the compile cache
    graphc ir FILE.py:NAME --input-shape 64,784 [--train] [--until PASS] [--dot out.dot] [--svg out.svg] [--png out.png]
    graphc export FILE.py:NAME --input-shape 64,784 --out DIR [--name NAME]   a C library
    graphc report FILE.py:NAME --input-shape 64,784 [--train] [--profile] -o report.html
    graphc bench [--quick] [--only mlp,lenet] [--threads 1,all] [--markdown out.md]   speed vs PyTorch

A model is named ``FILE.py:NAME``: ``NAME`` is an ``nn.Module`` subclass (built with no
arguments), a module instance, or a function returning one. ``--input-shape`` gives the shape of
each input (repeat it for several inputs; ``--dtype`` their dtype).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from graphc.ir.errors import GraphcError, GraphcValueError


def load_model(spec: str):
    """The module named by ``FILE.py:NAME`` (see the module docstring)."""
    import graphc

    if ":" not in spec:
        raise GraphcValueError(f"expected FILE.py:NAME, got {spec!r}", fix="for example: model.py:LeNet")
    file, name = spec.rsplit(":", 1)
    path = Path(file)
    if not path.is_file():
        raise GraphcValueError(f"no such file: {file}", fix="give the path of the Python file that defines the model")
    module_spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.path.insert(0, str(path.parent.resolve()))
    try:
        module_spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    if not hasattr(module, name):
        raise GraphcValueError(f"{file} defines no {name!r}", fix=f"names there: {sorted(n for n in vars(module) if not n.startswith('_'))}")
    obj = getattr(module, name)
    if isinstance(obj, type) or (callable(obj) and not isinstance(obj, graphc.nn.Module)):
        obj = obj()
    if not isinstance(obj, graphc.nn.Module):
        raise GraphcValueError(f"{spec} is not an nn.Module (got {type(obj).__name__})",
                               fix="name a Module class, instance, or a function returning one")
    return obj


def parse_shape(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise GraphcValueError(f"bad shape {text!r}", fix="write sizes separated by commas: 64,784") from None


def example_inputs(shapes, dtype: str):
    import graphc

    return [graphc.randn(*s).to(getattr(graphc, dtype)) if dtype.startswith("float") else graphc.zeros(*s, dtype=getattr(graphc, dtype))
            for s in shapes]


def train_step_for(model, lr: float = 0.01):
    """The standard train step ``graphc ir --train`` shows: cross-entropy, SGD with momentum 0.9."""
    import graphc

    opt = graphc.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    loss_fn = graphc.nn.CrossEntropyLoss()

    def train_step(*args):
        *inputs, labels = args
        opt.zero_grad()
        loss = loss_fn(model(*inputs), labels)
        loss.backward()
        opt.step()
        return loss

    return train_step


def compiled_for(args):
    """The compiled forward pass or train step, and example inputs, that ``args`` describe."""
    import graphc

    model = load_model(args.model)
    inputs = example_inputs([parse_shape(s) for s in args.input_shape], args.dtype)
    if args.train:
        with graphc.no_grad():
            classes = model(*inputs).shape[-1]
        labels = graphc.zeros(inputs[0].shape[0], dtype=graphc.int64) % classes
        return graphc.compile(train_step_for(model), name="train_step"), inputs + [labels]
    return graphc.compile(model), inputs


def cmd_ir(args) -> int:
    import graphc
    from graphc.passes import PassContext, default_pipeline, run_pipeline

    fn, inputs = compiled_for(args)
    if args.train:
        # the first call runs as in a training loop (interpreted: it runs once): it creates the
        # momentum buffers and the .grad tensors, so the graph shown is the steady-state step
        fn(*inputs)
    _, graph, *_ = fn.trace(*inputs)
    pipeline = default_pipeline()
    if args.until and args.until not in pipeline.names and args.until != "trace":
        raise GraphcValueError(f"no pass {args.until!r} in the pipeline", fix=f"choose one of: trace, {', '.join(pipeline)}")
    graph = run_pipeline(graph, pipeline, PassContext(stop_after=args.until))
    print(graph)
    for fmt, path in (("dot", args.dot), ("svg", args.svg), ("png", args.png)):
        if path:
            if Path(path).suffix.lower() not in (f".{fmt}", ".gv" if fmt == "dot" else f".{fmt}"):
                raise GraphcValueError(f"--{fmt} {path}: the file name must end in .{fmt}", fix=f"for example: --{fmt} graph.{fmt}")
            graphc.ir.render(graph, path)
            print(f"wrote {path}", file=sys.stderr)
    return 0


def cmd_info(args) -> int:
    import llvmlite
    import llvmlite.binding as llvm
    import numpy as np

    import graphc
    from graphc.runtime import cache

    llvm.initialize_all_targets()
    llvm.initialize_native_target()
    features = [f[1:] for f in llvm.get_host_cpu_features().flatten().split(",") if f.startswith("+")]
    vector = [f for f in ("avx512f", "avx512bw", "avx512vl", "avx2", "fma", "sse4.2") if f in features]
    print(f"graphc      {graphc.__version__}")
    print(f"python      {sys.version.split()[0]}")
    print(f"numpy       {np.__version__}")
    print(f"llvmlite    {llvmlite.__version__} (LLVM {'.'.join(map(str, llvm.llvm_version_info))})")
    print(f"cpu         {llvm.get_host_cpu_name()} ({', '.join(vector) or 'no vector extensions'})")
    print(f"cuda        {cuda_status()}")
    print(f"cache       {cache.cache_dir()} ({cache.size_bytes() / 1e6:.1f} MB, {'on' if cache.enabled() else 'off: GRAPHC_CACHE=0'})")
    return 0


def cuda_status() -> str:
    """One line on CUDA: whether graphc's CUDA backend exists here and finds a GPU."""
    import graphc

    cuda = getattr(graphc, "cuda", None)
    if cuda is None or not hasattr(cuda, "is_available"):
        return "not available (this graphc has no CUDA backend)"
    return "available" if cuda.is_available() else "not available (no CUDA driver or GPU found)"


def cmd_cache(args) -> int:
    from graphc.runtime import cache

    if args.action == "clear":
        n = cache.clear()
        print(f"removed {n} files from {cache.cache_dir()}")
    else:
        print(f"{cache.cache_dir()}: {cache.size_bytes() / 1e6:.1f} MB")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="graphc", description="Ahead-of-time compiler for PyTorch-style training code.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="versions, CPU features used by codegen, CUDA availability, cache location and size")
    p.set_defaults(run=cmd_info)
    p = sub.add_parser("cache", help="show or clear the compile cache")
    p.add_argument("action", choices=["clear", "info"], nargs="?", default="info")
    p.set_defaults(run=cmd_cache)
    p = sub.add_parser("ir", help="print a model's IR (forward, or a whole train step) after any pass")
    p.add_argument("model", help="FILE.py:NAME, NAME a Module class, instance or factory function")
    p.add_argument("--input-shape", action="append", required=True, help="an input's shape, e.g. 64,784 (repeatable)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64", "int64", "int32"])
    p.add_argument("--train", action="store_true", help="trace a train step (cross-entropy, SGD momentum), as compiled from the second call on")
    p.add_argument("--until", help="stop after this pass (or 'trace' for the unoptimised graph)")
    p.add_argument("--dot", help="also write the graph as Graphviz DOT to this file")
    p.add_argument("--svg", help="also draw the graph as SVG (needs Graphviz: apt-get install graphviz)")
    p.add_argument("--png", help="also draw the graph as PNG (needs Graphviz: apt-get install graphviz)")
    p.set_defaults(run=cmd_ir)
    from .demo import add_parser as add_demo_parser

    add_demo_parser(sub)
    from .cli_export import add_parser

    add_parser(sub)
    from .cli_report import add_report_command

    add_report_command(sub)
    from .cli_bench import register as register_bench

    register_bench(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except GraphcError as e:
        print(f"graphc: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
