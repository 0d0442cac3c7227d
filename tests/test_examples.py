"""The examples run as documented."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_mlp_example_trains_and_compiled_matches_eager():
    eager, compiled, accuracy = _load("train_mlp").main(epochs=3)
    np.testing.assert_allclose(eager, compiled, rtol=1e-4)
    assert eager[-1] < eager[0] and accuracy > 0.7
