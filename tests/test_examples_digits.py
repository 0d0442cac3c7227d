"""The digits examples run as documented: MLP, LeNet-5, and export to a C program."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

from graphc.c_program import c_compiler

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
HAS_CC = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")


def _load(relative: str):
    path = EXAMPLES / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mlp_on_digits_example():
    assert _load("mlp_digits.py").main(epochs=4) >= 0.93


@pytest.mark.slow
def test_lenet5_on_digits_example():
    assert _load("lenet_digits.py").main(epochs=4) >= 0.9


@pytest.mark.skipif(not HAS_CC, reason="no C compiler")
def test_export_example_c_program_matches_python(tmp_path):
    python_accuracy, c_accuracy = _load("export_c/export_digits.py").main(tmp_path, epochs=3)
    assert c_accuracy == pytest.approx(python_accuracy, abs=1 / 355 + 1e-9)
    assert python_accuracy >= 0.9
    assert (tmp_path / "digits_mlp.h").is_file() and (tmp_path / "predict").is_file()


@pytest.mark.skipif(not HAS_CC, reason="no C compiler")
def test_predict_c_is_valid_c_against_the_export_abi(tmp_path):
    """predict.c compiles against a header declaring the functions graphc.export documents."""
    (tmp_path / "digits_mlp.h").write_text(
        "typedef struct digits_mlp_model digits_mlp_model;\n"
        "digits_mlp_model *digits_mlp_create(void);\nvoid digits_mlp_destroy(digits_mlp_model *m);\n"
        "int digits_mlp_load(digits_mlp_model *m, const char *path);\n"
        "const char *digits_mlp_last_error(digits_mlp_model *m);\n"
        "int digits_mlp_forward(digits_mlp_model *m, const float *x, float *logits);\n")
    done = subprocess.run([*c_compiler().split(), "-std=c99", "-Wall", "-Werror", "-fsyntax-only", f"-I{tmp_path}",
                           str(EXAMPLES / "export_c" / "predict.c")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
