"""``graphc export FILE.py:NAME --input-shape 64,784 --out DIR [--name mlp] [--lr 0.01]``.

Exports the model's forward pass (``<name>_forward``) and a training step (``<name>_train_step``:
cross-entropy on int64 labels, SGD with momentum 0.9, as ``graphc ir --train`` shows it) as a C
library in DIR; ``--no-train`` exports the forward pass only. The model is named and its inputs
given as for ``graphc ir``.
"""

from __future__ import annotations

import sys

from .cli import example_inputs, load_model, parse_shape, train_step_for


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export a model's forward pass and train step as a C library")
    p.add_argument("model", help="FILE.py:NAME, NAME a Module class, instance or factory function")
    p.add_argument("--input-shape", action="append", required=True, help="an input's shape, e.g. 64,784 (repeatable)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64", "int64", "int32"])
    p.add_argument("--out", required=True, help="the folder to write the library, header and program into")
    p.add_argument("--name", help="the library's name (a C identifier; default: the model's, lower-cased)")
    p.add_argument("--lr", type=float, default=0.01, help="the train step's initial learning rate")
    p.add_argument("--no-train", action="store_true", help="export the forward pass only")
    p.add_argument("--cpu", default="host", help='tune for this CPU: "host" or an LLVM name such as x86-64-v3')
    p.add_argument("--target", default="cpu", choices=["cpu", "cuda"],
                   help="cpu: native code for this machine; cuda: PTX run through the CUDA driver (no GPU needed to export)")
    p.add_argument("--arch", help="the CUDA architecture for --target cuda (default sm_80)")
    p.set_defaults(run=cmd_export)


def cmd_export(args) -> int:
    import graphc

    model = load_model(args.model)
    inputs = example_inputs([parse_shape(s) for s in args.input_shape], args.dtype)
    functions = {"forward": graphc.compile(model)}
    examples = {"forward": tuple(inputs)}
    if not args.no_train:
        with graphc.no_grad():
            classes = model(*inputs).shape[-1]
        labels = graphc.zeros(inputs[0].shape[0], dtype=graphc.int64) % classes
        functions["train_step"] = graphc.compile(train_step_for(model, args.lr), name="train_step")
        examples["train_step"] = (*inputs, labels)
    name = args.name or type(model).__name__.lower()
    paths = graphc.export(functions, args.out, name, example_inputs=examples, cpu=args.cpu, target=args.target,
                          arch=args.arch)
    for kind, path in paths.items():
        print(f"{kind:<11}{path}", file=sys.stderr)
    return 0
