"""Exporting other models: conv + pooling + batch norm with Adam, two SGD param groups, the
``graphc export`` command, and the front end's errors."""

from __future__ import annotations

import numpy as np
import pytest
from export_helpers import needs_cc, run

import graphc
import graphc.nn as nn
from graphc.cli import main as cli_main
from graphc.safetensors_io import read_arrays


def steps_of(stdout: str) -> list[float]:
    return [float(line.split("=")[1]) for line in stdout.splitlines()]


def make_convnet():
    graphc.manual_seed(1)
    # (no bias before batch norm, as usual: its gradient is zero up to rounding, which Adam's
    # g / sqrt(v) scales up, so two correct backends could not agree on it)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 4, 3), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(4, 3))
    opt = graphc.optim.Adam(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()

    def train_step(images, labels):
        opt.zero_grad()
        loss = loss_fn(model(images), labels)
        loss.backward()
        opt.step()
        return loss

    return model, opt, graphc.compile(train_step), graphc.compile(model)


@needs_cc
def test_convnet_with_batch_norm_and_adam_matches_python(tmp_path):
    model, opt, step, forward = make_convnet()
    x = graphc.randn(4, 2, 8, 8)
    y = graphc.tensor([0, 2, 1, 2])
    graphc.export({"train_step": step, "forward": forward}, tmp_path, "convnet",
                  example_inputs={"train_step": (x, y), "forward": (x,)})
    assert len(opt.state) == 0
    x.numpy().tofile(tmp_path / "x.bin")
    y.numpy().tofile(tmp_path / "y.bin")
    result = run([tmp_path / "convnet", "train_step", "-n", "3", "-s", tmp_path / "s.safetensors",
                  tmp_path / "x.bin", tmp_path / "y.bin", tmp_path / "loss.bin"])
    expected = [step(x, y).item() for _ in range(3)]
    np.testing.assert_allclose(steps_of(result.stdout), expected, rtol=1e-4, atol=1e-6)
    saved, _ = read_arrays(tmp_path / "s.safetensors")
    for k, v in model.state_dict().items():  # weights and the running statistics of batch norm
        np.testing.assert_allclose(saved[k], v.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(saved["optimizer.0.weight.exp_avg_sq"], opt.state[model[0].weight]["exp_avg_sq"].numpy(),
                               rtol=1e-4, atol=1e-9)
    assert float(saved["optimizer.0.weight.step"]) == 3
    # the forward from the saved state (traced in train mode: batch statistics, as in Python)
    run([tmp_path / "convnet", "forward", "-w", tmp_path / "s.safetensors", tmp_path / "x.bin", tmp_path / "o.bin"])
    with graphc.no_grad():
        expected_out = forward(x).numpy()
    np.testing.assert_allclose(np.fromfile(tmp_path / "o.bin", np.float32).reshape(4, 3), expected_out,
                               rtol=1e-4, atol=1e-5)


@needs_cc
def test_two_param_groups_have_their_own_hyperparameters(tmp_path):
    graphc.manual_seed(2)
    model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3))
    opt = graphc.optim.SGD([{"params": model[0].parameters()},
                            {"params": model[2].parameters(), "lr": 0.02, "momentum": 0.5}], lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def train_step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    step = graphc.compile(train_step)
    x = graphc.randn(4, 5)
    y = graphc.tensor([2, 0, 1, 1])
    paths = graphc.export({"train_step": step}, tmp_path, "groups", example_inputs={"train_step": (x, y)})
    header = paths["header"].read_text()
    assert '"param_groups.1.lr" = 0.02' in header and '"param_groups.0.momentum" = 0.9' in header
    x.numpy().tofile(tmp_path / "x.bin")
    y.numpy().tofile(tmp_path / "y.bin")
    files = [tmp_path / "x.bin", tmp_path / "y.bin", tmp_path / "loss.bin"]
    exe = tmp_path / "groups"
    losses = steps_of(run([exe, "train_step", "-s", tmp_path / "a.safetensors", *files]).stdout)
    # one group's lr, then every group's lr ("lr"), then one group's momentum
    losses += steps_of(run([exe, "train_step", "-w", tmp_path / "a.safetensors", "-p", "param_groups.1.lr=0.2",
                            "-s", tmp_path / "b.safetensors", *files]).stdout)
    losses += steps_of(run([exe, "train_step", "-w", tmp_path / "b.safetensors", "-p", "lr=0.05",
                            "-p", "param_groups.1.momentum=0.0", *files]).stdout)
    expected = [step(x, y).item()]
    opt.param_groups[1]["lr"] = 0.2
    expected.append(step(x, y).item())
    for g in opt.param_groups:
        g["lr"] = 0.05
    opt.param_groups[1]["momentum"] = 0.0
    expected.append(step(x, y).item())
    np.testing.assert_allclose(losses, expected, rtol=1e-5, atol=1e-6)
    assert len(set(np.round(losses, 6))) == 3


MODEL_FILE = """
import graphc.nn as nn

def Tiny():
    return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
"""


@needs_cc
def test_graphc_export_command(tmp_path, capsys):
    (tmp_path / "tiny.py").write_text(MODEL_FILE)
    code = cli_main(["export", f"{tmp_path / 'tiny.py'}:Tiny", "--input-shape", "2,6", "--out", str(tmp_path / "lib"),
                     "--name", "tiny"])
    assert code == 0
    header = (tmp_path / "lib" / "tiny.h").read_text()
    assert "int tiny_forward(tiny_model *m, const float *input, float *output);" in header
    assert "int tiny_train_step(tiny_model *m, const float *in0, const int64_t *in1, float *loss);" in header
    np.ones((2, 6), np.float32).tofile(tmp_path / "x.bin")
    np.array([0, 2], np.int64).tofile(tmp_path / "y.bin")
    out = run([tmp_path / "lib" / "tiny", "train_step", "-n", "3", tmp_path / "x.bin", tmp_path / "y.bin",
               tmp_path / "l.bin"]).stdout
    losses = steps_of(out)
    assert len(losses) == 3 and losses[2] < losses[0]


def test_export_errors_name_the_fix(tmp_path):
    model = nn.Linear(3, 2)
    fwd = graphc.compile(model)
    x = graphc.randn(1, 3)
    with pytest.raises(graphc.ExportError, match="not a C identifier"):
        graphc.export({"forward": fwd}, tmp_path, "my-model", example_inputs={"forward": (x,)})
    with pytest.raises(graphc.ExportError, match="no example inputs for 'forward', and it was never called") as e:
        graphc.export({"forward": fwd}, tmp_path, "lin")
    assert "example_inputs" in e.value.fix
    with pytest.raises(graphc.ExportError, match="target 'tpu'"):
        graphc.export({"forward": fwd}, tmp_path, "lin", example_inputs={"forward": (x,)}, target="tpu")
    with pytest.raises(graphc.ExportError, match="dict of functions"):
        graphc.export([fwd], tmp_path, "lin")

    def bump(x):
        x.add_(1)
        return x * 2

    with pytest.raises(graphc.ExportError, match="modifies its argument 0 in place") as e:
        graphc.export({"bump": graphc.compile(bump)}, tmp_path, "bump", example_inputs={"bump": (x,)})
    assert "return the new value" in e.value.fix


@needs_cc
def test_the_docs_c_example_builds_and_runs(tmp_path):
    import re
    from pathlib import Path

    from export_helpers import build_program

    page = (Path(__file__).resolve().parents[1] / "docs" / "export.md").read_text()
    source = re.search(r"```c\n(/\* train\.c.*?)```", page, re.S).group(1)
    graphc.manual_seed(3)
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = graphc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def train_step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    x, y = graphc.randn(64, 784), graphc.zeros(64, dtype=graphc.int64)
    graphc.export({"train_step": graphc.compile(train_step), "forward": graphc.compile(model)},
                  tmp_path, "mlp", example_inputs={"train_step": (x, y), "forward": (x,)})
    prog = build_program(tmp_path, "mlp", source, "train")
    result = run([prog], cwd=tmp_path)
    losses = [float(line.split()[-1]) for line in result.stdout.splitlines()]
    assert len(losses) == 10 and losses[-1] < losses[0]
    arrays, _ = read_arrays(tmp_path / "trained.safetensors")
    model.load_state_dict({k: graphc.tensor(v) for k, v in arrays.items() if not k.startswith("optimizer.")})
    np.testing.assert_array_equal(model[0].weight.detach().numpy(), arrays["0.weight"])


FAKE_POOL = r"""
@fmt = private constant [12 x i8] c"threads %d\0A\00"
@bye = private constant [14 x i8] c"pool shutdown\00"
declare i32 @printf(ptr, ...)
declare i32 @puts(ptr)
define void @graphc_set_num_threads(i32 %n) {
  %r = call i32 (ptr, ...) @printf(ptr @fmt, i32 %n)
  ret void
}
define void @graphc_pool_shutdown() {
  %r = call i32 @puts(ptr @bye)
  ret void
}
"""


@needs_cc
def test_support_modules_are_linked_in_and_the_pool_is_started_and_shut_down(tmp_path, monkeypatch):
    from graphc.runtime.llvm import jit

    monkeypatch.setattr(jit, "support_modules", lambda: [FAKE_POOL], raising=False)
    model = nn.Linear(3, 2)
    x = graphc.randn(2, 3)
    graphc.export({"forward": graphc.compile(model)}, tmp_path, "lin", example_inputs={"forward": (x,)})
    x.numpy().tofile(tmp_path / "x.bin")
    monkeypatch.setenv("GRAPHC_NUM_THREADS", "3")
    result = run([tmp_path / "lin", "forward", tmp_path / "x.bin", tmp_path / "o.bin"])
    assert result.stdout.splitlines() == ["threads 3", "pool shutdown"]
    symbols = run(["nm", tmp_path / "liblin.a"]).stdout
    assert "lin__graphc_pool_shutdown" in symbols
    exported = run(["nm", "-D", "--defined-only", tmp_path / "liblin.so"]).stdout
    assert "graphc" not in exported  # only the C API leaves the library


@needs_cc
def test_export_after_training_in_python_starts_from_the_trained_state(tmp_path):
    graphc.manual_seed(4)
    model = nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 3))
    opt = graphc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    loss_fn = nn.CrossEntropyLoss()

    def train_step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    step = graphc.compile(train_step)
    x = graphc.randn(4, 5)
    y = graphc.tensor([0, 1, 2, 0])
    for _ in range(2):
        step(x, y)
    momentum = opt.state[model[0].weight]["momentum_buffer"].numpy().copy()
    paths = graphc.export({"train_step": step}, tmp_path, "trained")  # for the shapes of the last call
    assert "in  x: float[4, 5]" in paths["header"].read_text()
    np.testing.assert_array_equal(opt.state[model[0].weight]["momentum_buffer"].numpy(), momentum)
    embedded, _ = read_arrays(paths["weights"])
    np.testing.assert_array_equal(embedded["optimizer.0.weight.momentum_buffer"], momentum)
    x.numpy().tofile(tmp_path / "x.bin")
    y.numpy().tofile(tmp_path / "y.bin")
    result = run([tmp_path / "trained", "train_step", "-n", "2", tmp_path / "x.bin", tmp_path / "y.bin",
                  tmp_path / "l.bin"])
    expected = [step(x, y).item() for _ in range(2)]
    np.testing.assert_allclose(steps_of(result.stdout), expected, rtol=1e-5, atol=1e-6)


def test_a_failed_export_leaves_the_optimizer_unchanged(tmp_path):
    graphc.manual_seed(5)
    model = nn.Linear(3, 2)
    opt = graphc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    stash = []

    def train_step(x):
        opt.zero_grad()
        loss = model(x).sum()
        loss.backward()
        opt.step()
        stash.append(loss * 2)  # escapes: the trace refuses it, after the optimizer made its state
        return loss

    x = graphc.randn(2, 3)
    with pytest.raises(graphc.TraceError):
        graphc.export({"train_step": graphc.compile(train_step)}, tmp_path, "bad", example_inputs={"train_step": (x,)})
    assert len(opt.state) == 0 and model.weight.grad is None


@needs_cc
def test_several_outputs_in_return_order_and_constant_arguments(tmp_path):
    graphc.manual_seed(6)
    model = nn.Linear(4, 3)

    def scores(x, scale):
        logits = model(x) * scale
        probs = logits.softmax(-1)
        return logits, probs

    x = graphc.randn(2, 4)
    fn = graphc.compile(scores)
    paths = graphc.export({"scores": fn}, tmp_path, "sc", example_inputs={"scores": (x, 2.0)})
    header = paths["header"].read_text()
    assert "int sc_scores(sc_model *m, const float *x, float *logits, float *probs);" in header
    x.numpy().tofile(tmp_path / "x.bin")
    run([tmp_path / "sc", "scores", tmp_path / "x.bin", tmp_path / "l.bin", tmp_path / "p.bin"])
    with graphc.no_grad():
        logits, probs = fn(x, 2.0)
    np.testing.assert_allclose(np.fromfile(tmp_path / "l.bin", np.float32).reshape(2, 3), logits.numpy(), rtol=1e-5)
    np.testing.assert_allclose(np.fromfile(tmp_path / "p.bin", np.float32).reshape(2, 3), probs.numpy(), rtol=1e-5)


def test_export_without_a_c_compiler_says_what_to_install(tmp_path, monkeypatch):
    from graphc.runtime.export import writer

    monkeypatch.setattr(writer, "find_compiler", lambda: None)
    x = graphc.randn(1, 3)
    with pytest.raises(graphc.ExportError, match="needs a C compiler") as e:
        graphc.export({"forward": graphc.compile(nn.Linear(3, 2))}, tmp_path, "lin", example_inputs={"forward": (x,)})
    assert "gcc" in e.value.fix
    assert not (tmp_path / "liblin.so").exists()


@needs_cc
def test_inference_in_eval_mode_uses_the_running_statistics(tmp_path):
    graphc.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 2))

    def predict(x):
        model.eval()
        out = model(x)
        model.train()
        return out

    x = graphc.randn(3, 4)
    graphc.export({"predict": graphc.compile(predict)}, tmp_path, "ev", example_inputs={"predict": (x,)})
    assert model.training
    x.numpy().tofile(tmp_path / "x.bin")
    run([tmp_path / "ev", "predict", "-n", "2", tmp_path / "x.bin", tmp_path / "o.bin"])
    model.eval()
    with graphc.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(np.fromfile(tmp_path / "o.bin", np.float32).reshape(3, 2), expected, rtol=1e-5, atol=1e-6)
