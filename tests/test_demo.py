"""graphc demo: accuracy, time, determinism, the command line, and the C program it builds."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import types

import pytest

import graphc
from graphc.c_program import build_c_program, c_compiler, run_program
from graphc.cli import cuda_status, main
from graphc.datasets import digits
from graphc.demo import run_demo
from graphc.demo_export import C_IMAGES, c_source

HAS_CC = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")


def test_demo_reaches_95_percent_in_under_a_minute_and_is_deterministic(tmp_path):
    report, bars = io.StringIO(), io.StringIO()
    result = run_demo(epochs=10, out=tmp_path / "out", export=False, stream=report, progress=bars)
    assert result.accuracy >= 0.95
    assert result.seconds < 60
    assert result.losses[-1] < result.losses[0] / 5
    assert result.compiled_steps_per_s > result.eager_steps_per_s
    text = report.getvalue()
    assert "test accuracy" in text and "compiled" in text and "eager" in text and "export skipped (--no-export)" in text
    assert "label" in text and "python" in text
    # not a terminal: one finished line per epoch, no carriage returns
    lines = bars.getvalue().splitlines()
    assert "\r" not in bars.getvalue() and len(lines) == 10
    assert all("steps/s" in line for line in lines) and lines[-1].startswith("epoch 10/10")
    again = run_demo(epochs=2, out=tmp_path / "out", export=False, stream=io.StringIO(), progress=io.StringIO())
    assert again.losses == result.losses[:2]


def test_demo_command_and_its_help(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["demo", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--epochs" in out and "--out" in out and "--no-export" in out
    assert main(["demo", "--epochs", "0"]) == 2
    assert "--epochs must be at least 1" in capsys.readouterr().err
    assert main(["demo", "--epochs", "1", "--no-export", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "test accuracy" in captured.out and "epoch 1/1" in captured.err


def test_graphc_command_lists_demo():
    out = subprocess.run([sys.executable, "-m", "graphc.cli", "--help"], capture_output=True, text=True, check=True)
    assert "demo" in out.stdout


def test_info_reports_cuda_from_the_cuda_module(monkeypatch):
    monkeypatch.delattr(graphc, "cuda", raising=False)
    assert cuda_status().startswith("not available (this graphc has no CUDA backend)")
    monkeypatch.setattr(graphc, "cuda", types.SimpleNamespace(is_available=lambda: True), raising=False)
    assert cuda_status() == "available"
    monkeypatch.setattr(graphc, "cuda", types.SimpleNamespace(is_available=lambda: False), raising=False)
    assert cuda_status().startswith("not available (no CUDA driver")


@pytest.mark.skipif(not HAS_CC, reason="no C compiler")
def test_demo_exports_and_the_c_program_agrees_with_python(tmp_path):
    report = io.StringIO()
    result = run_demo(epochs=3, out=tmp_path, stream=report, progress=io.StringIO())
    assert len(result.predictions) == C_IMAGES
    assert all(py == c for _, py, c in result.predictions)
    for role in ("header", "weights", "C program", "executable"):
        assert result.files[role].is_file(), role
    assert "library" in result.files or "static library" in result.files
    assert str(tmp_path) in report.getvalue() and "files written" in report.getvalue()
    assert "C " in report.getvalue().split("test digits")[1]


def test_digits_render_as_text_with_labels_and_predictions():
    from graphc.demo import render_digits

    x, y = digits(train=False).tensors()
    text = render_digits(x[:3], y[:3].tolist(), [1, 2, 3], [4, 5, 6]).splitlines()
    assert len(text) == 8 + 3
    assert text[8].split() == ["label", str(int(y[0])), "label", str(int(y[1])), "label", str(int(y[2]))]
    assert text[9].split()[1::2] == ["1", "2", "3"] and text[10].split()[1::2] == ["4", "5", "6"]
    blank = x[0].numpy()[0, 0, 0] == 0
    assert (text[0][2] == " ") == blank and "@" in "".join(text[:8])


# ---------------------------------------------------------------- building C programs
TOY_H = "int toy_add(const float *a, const float *b, float *out, int n);\n"
TOY_C = '#include "toy.h"\nint toy_add(const float *a, const float *b, float *out, int n) {\n' \
        "    for (int i = 0; i < n; i++) out[i] = a[i] + b[i];\n    return 0;\n}\n"
TOY_MAIN = '#include <stdio.h>\n#include "toy.h"\nint main(void) {\n    float a[2] = {1, 2}, b[2] = {10, 20}, c[2];\n' \
           '    toy_add(a, b, c, 2);\n    printf("%g %g\\n", c[0], c[1]);\n    return 0;\n}\n'


@pytest.mark.skipif(not HAS_CC, reason="no C compiler")
@pytest.mark.parametrize("kind", ["shared", "static"])
def test_build_and_run_a_program_against_a_library(tmp_path, kind):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "toy.h").write_text(TOY_H)
    (lib / "toy.c").write_text(TOY_C)
    cc = c_compiler().split()
    if kind == "shared":
        subprocess.run([*cc, "-shared", "-fPIC", "-o", str(lib / "libtoy.so"), str(lib / "toy.c")], check=True)
    else:
        subprocess.run([*cc, "-c", "-o", str(lib / "toy.o"), str(lib / "toy.c")], check=True)
        subprocess.run(["ar", "rcs", str(lib / "libtoy.a"), str(lib / "toy.o")], check=True)
    (tmp_path / "main.c").write_text(TOY_MAIN)
    exe = build_c_program(tmp_path / "main.c", lib, "toy", tmp_path / "main")
    assert run_program(exe).split() == ["11", "22"]


@pytest.mark.skipif(not HAS_CC, reason="no C compiler")
def test_build_errors_name_the_problem_and_the_fix(tmp_path, monkeypatch):
    with pytest.raises(graphc.ExportError, match="neither libtoy.so nor libtoy.a"):
        build_c_program(tmp_path / "main.c", tmp_path, "toy", tmp_path / "main")
    (tmp_path / "libtoy.a").write_bytes(b"")
    (tmp_path / "main.c").write_text("int main(void) { return undefined_name; }\n")
    with pytest.raises(graphc.ExportError, match="building main.c failed") as e:
        build_c_program(tmp_path / "main.c", tmp_path, "toy", tmp_path / "main")
    assert "undefined_name" in str(e.value)
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(graphc.ExportError, match="no C compiler found") as e:
        c_compiler()
    assert "set CC" in str(e.value)


@pytest.mark.skipif(not HAS_CC, reason="no C compiler")
def test_demo_c_program_is_valid_c_against_the_export_abi(tmp_path):
    """The generated program compiles against a header with the ABI graphc.export documents."""
    (tmp_path / "digits.h").write_text(
        "typedef struct digits_model digits_model;\n"
        "digits_model *digits_create(void);\nvoid digits_destroy(digits_model *m);\n"
        "int digits_load(digits_model *m, const char *path);\nconst char *digits_last_error(digits_model *m);\n"
        "int digits_forward(digits_model *m, const float *x, float *logits);\n")
    x, y = digits(train=False).tensors()
    source = c_source(x[:C_IMAGES], y[:C_IMAGES])
    assert f"#define N {C_IMAGES}" in source and source.count("f,") >= C_IMAGES * 63
    (tmp_path / "p.c").write_text(source)
    done = subprocess.run([*c_compiler().split(), "-std=c99", "-Wall", "-Werror", "-fsyntax-only", f"-I{tmp_path}",
                           str(tmp_path / "p.c")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
