"""The benchmark's workloads and their contenders, all started from the same weights and data.

A workload is a list of contenders doing the same thing: a train step, a forward call, a
matmul. Each contender has ``check()`` (a few calls from the common start, returning the losses
or outputs that must agree with the reference's before anything is timed) and ``run()`` (one
timed call). A contender that cannot run here (PyTorch or JAX not installed, torch.compile
without a working C compiler) is kept with the reason and reported as skipped.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import jax_models, models
from .errors import Disagreement

CHECK_STEPS = 3  # calls each contender makes before timing; their results must agree
CONTENDERS = {"graphc": "graphc", "eager": "PyTorch eager", "compile": "torch.compile", "jax": "JAX jit"}
EAGER, NUMPY = CONTENDERS["eager"], "numpy"
WORKLOADS = {
    "mlp": "MLP 784-256-128-10 train step, batch 64",
    "lenet": "LeNet-5 train step, batch 64",
    "mlp_b1": "MLP forward, batch 1 (latency)",
    "sgemm256": "sgemm 256x256x256",
    "sgemm512": "sgemm 512x512x512",
    "sgemm1024": "sgemm 1024x1024x1024",
    "lenet256": "LeNet-5 train step, batch 256",
}


@dataclass
class Contender:
    name: str
    run: Callable[[], object] | None = None
    check: Callable[[], np.ndarray] | None = None
    skipped: str | None = None  # why it cannot run here
    compiled: object = None  # graphc's CompiledFunction, for profiles


@dataclass
class Workload:
    name: str
    title: str
    reference: str  # whose results the others must agree with
    flops: float
    contenders: list[Contender] = field(default_factory=list)
    rtol: float = 2e-4
    atol: float = 1e-5
    notes: list[str] = field(default_factory=list)


def torch_or_none():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _cycle(step, data):
    it = itertools.cycle(data)
    return lambda: step(*next(it))


def _losses(step, data):
    return lambda: np.array([step(*data[i % len(data)]).item() for i in range(CHECK_STEPS)])


def _guarded(name: str, build: Callable[[], Contender]) -> Contender:
    """``build()``, or a skipped contender naming what went wrong (an optional library's fault)."""
    try:
        return build()
    except Exception as e:  # noqa: BLE001 - a broken optional install is reported, not fatal
        return Contender(name, skipped=f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0][:120]}")


def _torch_contenders(w: Workload, wanted: set[str], build_eager, build_compiled) -> None:
    torch = torch_or_none()
    for key, build in (("eager", build_eager), ("compile", build_compiled)):
        if key not in wanted:
            continue
        if torch is None:
            w.contenders.append(Contender(CONTENDERS[key], skipped="PyTorch is not installed"))
        else:
            w.contenders.append(_guarded(CONTENDERS[key], lambda b=build: b(torch)))


def _jax_contender(w: Workload, wanted: set[str], build) -> None:
    if "jax" not in wanted:
        return
    why = jax_models.why_unavailable()
    w.contenders.append(Contender(CONTENDERS["jax"], skipped=why) if why else _guarded(CONTENDERS["jax"], build))


def train_workload(name: str, kind: str, batch: int, wanted: set[str]) -> Workload:
    """One training step (cross-entropy, SGD momentum 0.9) of ``kind`` ("mlp" or "lenet")."""
    import graphc

    w = Workload(name, WORKLOADS[name], EAGER, models.train_flops(kind, batch))
    batches = models.make_batches(kind, batch, 8)
    if "graphc" in wanted:
        step = graphc.compile(models.train_step(graphc, models.build_model(graphc, kind)))
        gdata = [(graphc.tensor(x), graphc.tensor(y)) for x, y in batches]
        w.contenders.append(Contender("graphc", _cycle(step, gdata), _losses(step, gdata), compiled=step))

    def torch_step(torch, compiled: bool):
        step = models.train_step(torch, models.build_model(torch, kind))
        step = torch.compile(step) if compiled else step
        tdata = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in batches]
        return Contender(CONTENDERS["compile" if compiled else "eager"], _cycle(step, tdata), _losses(step, tdata))

    _torch_contenders(w, wanted, lambda t: torch_step(t, False), lambda t: torch_step(t, True))

    def jax_step():
        import jax.numpy as jnp

        step = jax_models.train_step_fn(kind)
        params = jax_models.params(kind)
        state = [params, [jnp.zeros_like(p) for p in params]]
        jdata = [(jnp.asarray(x), jnp.asarray(y)) for x, y in batches]

        def one(x, y):
            state[0], state[1], loss = step(state[0], state[1], x, y)
            return loss.block_until_ready()

        return Contender(CONTENDERS["jax"], _cycle(one, jdata), _losses(one, jdata))

    _jax_contender(w, wanted, jax_step)
    return w


def forward_workload(wanted: set[str]) -> Workload:
    """The MLP's forward at batch 1, called from Python: latency per call."""
    import graphc

    w = Workload("mlp_b1", WORKLOADS["mlp_b1"], EAGER, models.forward_flops(1), atol=1e-4)
    x = models.make_batches("mlp", 1, 1, seed=1)[0][0]
    if "graphc" in wanted:
        fwd = graphc.compile(models.build_model(graphc, "mlp"))
        gx = graphc.tensor(x)
        w.contenders.append(Contender("graphc", lambda: fwd(gx), lambda: fwd(gx).numpy(), compiled=fwd))
    w.notes.append("MLP forward at batch 1: PyTorch runs under torch.no_grad(), so eager records no autograd graph")

    def torch_forward(torch, compiled: bool):
        model = models.build_model(torch, "mlp")
        model = torch.compile(model) if compiled else model
        tx = torch.from_numpy(x)

        def call():
            with torch.no_grad():
                return model(tx)

        return Contender(CONTENDERS["compile" if compiled else "eager"], call, lambda: call().numpy())

    _torch_contenders(w, wanted, lambda t: torch_forward(t, False), lambda t: torch_forward(t, True))

    def jax_forward():
        import jax

        f = jax.jit(jax_models.apply_fn("mlp"))
        params, jx = jax_models.params("mlp"), jax.numpy.asarray(x)
        return Contender(CONTENDERS["jax"], lambda: f(params, jx).block_until_ready(), lambda: np.asarray(f(params, jx)))

    _jax_contender(w, wanted, jax_forward)
    return w


def gemm_workload(n: int, wanted: set[str]) -> Workload:
    """sgemm n x n x n: graphc's generated GEMM kernel (``graphc.compile(lambda a, b: a @ b)``)
    against numpy's BLAS, PyTorch and JAX."""
    import graphc

    w = Workload(f"sgemm{n}", WORKLOADS[f"sgemm{n}"], NUMPY, 2.0 * n ** 3, rtol=1e-3, atol=1e-3 * np.sqrt(n))
    rng = np.random.default_rng(n)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    if "graphc" in wanted:
        mm = graphc.compile(lambda a, b: a @ b, name=f"sgemm{n}")
        ga, gb = graphc.tensor(a), graphc.tensor(b)
        w.contenders.append(Contender("graphc", lambda: mm(ga, gb), lambda: mm(ga, gb).numpy(), compiled=mm))
    w.contenders.append(Contender(NUMPY, lambda: a @ b, lambda: a @ b))

    def torch_mm(torch, compiled: bool):
        f = torch.compile(torch.matmul) if compiled else torch.matmul
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        return Contender(CONTENDERS["compile" if compiled else "eager"], lambda: f(ta, tb), lambda: f(ta, tb).numpy())

    _torch_contenders(w, wanted, lambda t: torch_mm(t, False), lambda t: torch_mm(t, True))

    def jax_mm():
        import jax

        f = jax.jit(lambda a, b: a @ b)
        ja, jb = jax.numpy.asarray(a), jax.numpy.asarray(b)
        return Contender(CONTENDERS["jax"], lambda: f(ja, jb).block_until_ready(), lambda: np.asarray(f(ja, jb)))

    _jax_contender(w, wanted, jax_mm)
    return w


def build(name: str, wanted: set[str]) -> Workload:
    """The workload called ``name`` (a key of ``WORKLOADS``) with the contenders ``wanted``."""
    if name in ("mlp", "lenet"):
        return train_workload(name, name, 64, wanted)
    if name == "lenet256":
        return train_workload(name, "lenet", 256, wanted)
    if name == "mlp_b1":
        return forward_workload(wanted)
    return gemm_workload(int(name[len("sgemm"):]), wanted)


def check_agreement(w: Workload) -> list[str]:
    """Run every contender's check and compare with the reference's (PyTorch eager; numpy for
    sgemm; graphc when the reference is absent). A contender whose check raises is skipped with
    the reason, except graphc, whose failure is the benchmark's. Raises ``Disagreement`` when a
    result differs. Returns lines for the log."""
    results = {}
    for c in w.contenders:
        if c.skipped:
            continue
        try:
            results[c.name] = np.asarray(c.check(), np.float64)
        except Exception as e:
            if c.name == "graphc":
                raise
            c.skipped = f"failed its first calls: {type(e).__name__}: {(str(e).strip().splitlines() or [''])[0][:120]}"
    ref_name = w.reference if w.reference in results else next(iter(results), None)
    if ref_name is None:
        return []
    ref = results[ref_name]
    lines, bad = [], []
    for name, got in results.items():
        same_shape = got.shape == ref.shape
        ok = same_shape and bool(np.allclose(got, ref, rtol=w.rtol, atol=w.atol))
        err = float(np.max(np.abs(got - ref) / (w.atol + w.rtol * np.abs(ref)))) if same_shape else float("inf")
        shown = f" losses {np.array2string(got, precision=6)}" if got.size <= CHECK_STEPS else ""
        lines.append(f"  {w.name:<10} {name:<14} {'agrees' if ok else 'DISAGREES'} with {ref_name}"
                     f" (worst error / tolerance {err:.2g}){shown}")
        if not ok:
            bad.append(name)
    if bad:
        raise Disagreement(f"{w.name}: {', '.join(bad)} disagree with {ref_name} (rtol {w.rtol}, atol {w.atol:.2g}); "
                           "nothing was timed:\n" + "\n".join(lines),
                           fix="a contender computes something else: fix it before comparing speeds", loc="")
    return lines
