"""The graphc command: info, cache, ir."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from graphc.cli import main

MODEL = textwrap.dedent("""
    from graphc import nn

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.l1 = nn.Linear(8, 16)
            self.l2 = nn.Linear(16, 3)

        def forward(self, x):
            return self.l2(self.l1(x).relu())
""")


@pytest.fixture()
def model_file(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(MODEL)
    return path


def test_ir_of_the_forward_pass_names_the_users_lines(model_file, capsys):
    assert main(["ir", f"{model_file}:MLP", "--input-shape", "4,8", "--until", "trace"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("graph MLP {") and "%l1.weight:f32[16,8] = param" in out
    assert "= linear %" in out and "model.py:11" in out  # the composite op, before the decompose pass


def test_ir_of_a_train_step_after_fusion_and_dot(model_file, tmp_path, capsys):
    dot = tmp_path / "g.dot"
    assert main(["ir", f"{model_file}:MLP", "--input-shape", "4,8", "--train", "--dot", str(dot)]) == 0
    out = capsys.readouterr().out
    assert "assign %l1.weight" in out and "%sgd.0.lr:f64[] = hyper" in out
    # the steady-state step: it reads and updates the momentum buffers the first step created
    assert "l1.weight.momentum_buffer:f32[16,8] = state" in out and "assign %l1.weight.momentum_buffer" in out
    assert dot.read_text().startswith("digraph")


def test_bad_model_spec_is_a_clear_error(model_file, capsys):
    assert main(["ir", f"{model_file}:Nope", "--input-shape", "4,8"]) == 2
    err = capsys.readouterr().err
    assert "defines no 'Nope'" in err and "MLP" in err


def test_info_and_cache_commands(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "llvmlite" in out and str(tmp_path) in out
    (tmp_path / "x.o").write_bytes(b"1")
    assert main(["cache", "clear"]) == 0
    assert "removed 1 files" in capsys.readouterr().out


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "graphc.cli", "--help"], capture_output=True, text=True, check=True)
    assert "info" in out.stdout and "ir" in out.stdout
