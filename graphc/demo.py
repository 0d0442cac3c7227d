"""``graphc demo``: train a small CNN on the bundled digits with a compiled step, then export it.

What it does, in order:

1. trains ``DigitsCNN`` (two conv + pool blocks and a linear layer) on the 1,442 training
   digits with SGD + momentum and an exponential lr decay, the whole step compiled by
   ``graphc.compile`` into one native call, with a progress bar (loss, steps/s) on stderr;
2. reports accuracy on the 355 test digits and the compiled step's speed against the same
   step run eagerly (graphc's reference, op by op);
3. exports the trained forward as a C library (``graphc.export``), writes a small C program
   that includes its header, builds it with the system compiler, runs it on a few test digits
   and prints its predictions beside the labels and Python's.

Everything is seeded, so two runs print the same losses and accuracy.

    >>> from graphc.demo import run_demo
    >>> result = run_demo(epochs=10, out="graphc-demo")       # doctest: +SKIP
    >>> result.accuracy >= 0.95                                # doctest: +SKIP
    True
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import graphc
import graphc.nn.functional as F
from graphc import nn
from graphc.datasets import digits
from graphc.ir.errors import GraphcValueError
from graphc.progress import ProgressBar
from graphc.utils.data import DataLoader, TensorDataset

__all__ = ["DigitsCNN", "DemoResult", "run_demo", "add_parser"]

BATCH = 32
LR = 0.05
MOMENTUM = 0.9
GAMMA = 0.8
EAGER_STEPS = 20


class DigitsCNN(nn.Module):
    """8x8 digit -> 10 logits: conv(16) + pool, conv(32) + pool, linear. 6,090 parameters."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc = nn.Linear(32 * 2 * 2, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))


@dataclass
class DemoResult:
    """What ``run_demo`` measured and wrote."""

    losses: list[float]                       # mean training loss of each epoch
    accuracy: float                           # on the test digits
    compiled_steps_per_s: float               # steady state (compilation excluded)
    eager_steps_per_s: float
    compile_seconds: float
    files: dict[str, Path] = field(default_factory=dict)   # what was written, by role
    predictions: list[tuple[int, int, int]] = field(default_factory=list)  # (label, python, C)
    seconds: float = 0.0


def _make_step(model, opt, loss_fn):
    def train_step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return train_step


def _eager_steps_per_s(initial_state, loader) -> float:
    """Speed of the same step run eagerly, from the same weights, on ``EAGER_STEPS`` batches."""
    model = DigitsCNN()
    model.load_state_dict(initial_state)
    step = _make_step(model, graphc.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM), nn.CrossEntropyLoss())
    batches = iter(loader)
    step(*next(batches))                      # the first step creates the momentum buffers
    seconds, done = 0.0, 0
    for x, y in batches:                      # timed like the compiled step: the call alone
        start = time.perf_counter()
        step(x, y)
        seconds += time.perf_counter() - start
        done += 1
        if done == EAGER_STEPS:
            break
    return done / seconds


def train(model, epochs: int, seed: int, stream):
    """Train with a compiled step; returns (epoch losses, steady steps/s, compile seconds, loader)."""
    x, y = digits(train=True).tensors()
    loader = DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True, drop_last=True,
                        generator=graphc.Generator().manual_seed(seed))
    opt = graphc.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    sched = graphc.optim.lr_scheduler.ExponentialLR(opt, gamma=GAMMA)
    step = graphc.compile(_make_step(model, opt, nn.CrossEntropyLoss()), name="train_step")
    losses, compile_s, steady_s, steady_n = [], 0.0, 0.0, 0
    for epoch in range(epochs):
        bar = ProgressBar(len(loader), f"epoch {epoch + 1}/{epochs}", stream=stream)
        total = 0.0
        for xb, yb in loader:
            compiled_before = step.compile_count
            start = time.perf_counter()
            loss = step(xb, yb)
            elapsed = time.perf_counter() - start
            if step.compile_count > compiled_before:
                compile_s += elapsed
            else:
                steady_s, steady_n = steady_s + elapsed, steady_n + 1
            value = loss.item()
            total += value
            bar.update(loss=value)
        bar.close()
        sched.step()
        losses.append(total / len(loader))
    return losses, steady_n / max(steady_s, 1e-9), compile_s, loader


def accuracy(model, x, y) -> float:
    with graphc.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


SHADES = " .:-=+*#%@"


def render_digits(images, labels, python_pred, c_pred=None) -> str:
    """The images side by side as text (one shade per pixel), with label and prediction rows."""
    pixels = images.numpy()[:, 0]
    cell = pixels.shape[-1] + 3

    def shade(v: float) -> str:
        return SHADES[min(int(v * len(SHADES)), len(SHADES) - 1)]

    rows = ["  " + "".join("".join(shade(v) for v in img[r]).ljust(cell) for img in pixels).rstrip()
            for r in range(pixels.shape[1])]
    table = [("label", labels), ("python", python_pred)] + ([("C", c_pred)] if c_pred is not None else [])
    for title, values in table:
        rows.append("  " + "".join(f"{title} {v}".ljust(cell) for v in values).rstrip())
    return "\n".join(rows)


def run_demo(epochs: int = 10, out: str | Path = "graphc-demo", export: bool = True, seed: int = 0,
             stream=None, progress=None) -> DemoResult:
    """Train, evaluate, compare with eager, and (``export=True``) export and run in C.

    ``stream`` receives the report (stdout by default), ``progress`` the progress bars (stderr).
    """
    from graphc.demo_export import C_IMAGES, export_and_run_c

    stream = stream if stream is not None else sys.stdout
    progress = progress if progress is not None else sys.stderr
    began = time.perf_counter()
    graphc.manual_seed(seed)
    model = DigitsCNN()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    n_params = sum(p.numel() for p in model.parameters())
    x, y = digits(train=False).tensors()
    print(f"graphc demo: a {n_params:,}-parameter CNN on the bundled handwritten digits "
          f"({len(digits()):,} training, {len(y)} test images)", file=stream)
    print(f"training {epochs} epoch{'s' if epochs != 1 else ''} with a compiled step (the first steps trace, optimise and JIT it)", file=stream)
    stream.flush()
    losses, compiled_sps, compile_s, loader = train(model, epochs, seed, progress)
    model.eval()
    acc = accuracy(model, x, y)
    eager_sps = _eager_steps_per_s(initial, loader)
    print(f"test accuracy  {acc:.1%} ({round(acc * len(y))} of {len(y)})", file=stream)
    print(f"speed          compiled {compiled_sps:,.0f} steps/s, eager {eager_sps:,.0f} steps/s "
          f"({compiled_sps / eager_sps:.1f}x), compilation {compile_s:.1f} s", file=stream)
    result = DemoResult(losses, acc, compiled_sps, eager_sps, compile_s)
    images, labels = x[:C_IMAGES], y[:C_IMAGES]
    with graphc.no_grad():
        python_pred = model(images).argmax(1).tolist()
    c_pred = None
    if export:
        c_pred, result.files = export_and_run_c(model, Path(out), images, labels, stream)
    else:
        print("export skipped (--no-export)", file=stream)
    if c_pred is not None:
        result.predictions = list(zip(labels.tolist(), python_pred, c_pred))
    print(f"the first {C_IMAGES} test digits, predicted by the trained model"
          + (" in Python and by the C program:" if c_pred is not None else ":"), file=stream)
    print(render_digits(images, labels.tolist(), python_pred, c_pred), file=stream)
    if result.files:
        print("files written:", file=stream)
        for role, path in result.files.items():
            print(f"  {role:<17} {path}", file=stream)
    result.seconds = time.perf_counter() - began
    print(f"done in {result.seconds:.1f} s", file=stream)
    return result


def add_parser(sub) -> None:
    """Register ``graphc demo`` on the ``graphc`` command's subparsers."""
    p = sub.add_parser("demo", help="train a CNN on the bundled digits, compiled; export it and run it from C",
                       description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=10, help="training epochs (default 10)")
    p.add_argument("--out", default="graphc-demo", help="folder for the exported library and C program (default graphc-demo)")
    p.add_argument("--no-export", action="store_true", help="train and evaluate only; no C library")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and the batch order (default 0)")
    p.set_defaults(run=_cmd_demo)


def _cmd_demo(args) -> int:
    if args.epochs < 1:
        raise GraphcValueError(f"--epochs must be at least 1, got {args.epochs}", fix="for example: --epochs 10",
                               loc="graphc demo")
    run_demo(args.epochs, args.out, export=not args.no_export, seed=args.seed)
    return 0
