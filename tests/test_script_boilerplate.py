"""The lines PyTorch training scripts carry around the model: device checks, backend flags,
mixed precision, inference_mode, finfo, printing, assert_close. A script keeps them unchanged."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import graphc
from graphc import nn, optim


def test_backend_flags_are_settable_and_say_what_is_there():
    graphc.backends.cudnn.benchmark = True
    graphc.backends.cudnn.deterministic = True
    graphc.backends.cuda.matmul.allow_tf32 = True
    assert graphc.backends.cudnn.benchmark and graphc.backends.cudnn.deterministic
    assert not graphc.backends.mps.is_available() and not graphc.backends.cudnn.is_available()
    device = "cuda" if graphc.cuda.is_available() else "mps" if graphc.backends.mps.is_available() else "cpu"
    assert device in ("cuda", "cpu")
    graphc.backends.cudnn.benchmark = graphc.backends.cudnn.deterministic = False


def test_settings_read_back_and_refuse_what_graphc_cannot_do():
    graphc.set_float32_matmul_precision("high")
    assert graphc.get_float32_matmul_precision() == "high"
    graphc.set_float32_matmul_precision("highest")
    with pytest.raises(graphc.GraphcError):
        graphc.set_float32_matmul_precision("fast")
    graphc.use_deterministic_algorithms(True, warn_only=True)
    assert graphc.are_deterministic_algorithms_enabled() and graphc.is_deterministic_algorithms_warn_only_enabled()
    graphc.use_deterministic_algorithms(False)
    assert graphc.get_default_dtype() is graphc.float32
    graphc.set_default_dtype(graphc.float32)
    with pytest.raises(graphc.GraphcError, match="set_default_dtype\\(float64\\) is not supported") as err:
        graphc.set_default_dtype(graphc.float64)
    assert "dtype=graphc.float64" in err.value.fix
    with pytest.raises(graphc.DTypeError, match="no dtype graphc.float16"):
        graphc.zeros(2, dtype=graphc.half)


def test_inference_mode_records_no_gradients_and_decorates():
    w = graphc.ones(2, requires_grad=True)
    with graphc.inference_mode():
        assert not (w * 2).requires_grad
    with graphc.inference_mode(False):
        assert (w * 2).requires_grad

    @graphc.inference_mode()
    def predict(x):
        return x * w

    assert not predict(graphc.ones(2)).requires_grad and graphc.is_grad_enabled()


def test_a_mixed_precision_training_loop_runs_unchanged_in_float32():
    x, y = graphc.randn(16, 4), graphc.randint(0, 3, (16,))

    def run(amp: bool):
        graphc.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        scaler = graphc.amp.GradScaler("cuda", enabled=amp)

        @graphc.compile
        def step(x, y):
            opt.zero_grad()
            with graphc.autocast(device_type="cuda", dtype=graphc.float16, enabled=amp):
                loss = nn.functional.cross_entropy(model(x), y)
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(opt)
            scaler.update()
            return loss

        return [float(step(x, y)) for _ in range(4)], scaler

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        amp_losses, scaler = run(True)
    plain, _ = run(False)
    assert amp_losses == plain
    assert scaler.get_scale() == 1.0 and scaler.state_dict() == {} and not scaler.is_enabled()
    assert isinstance(graphc.cuda.amp.GradScaler(enabled=False), graphc.amp.GradScaler)
    messages = " ".join(str(w.message) for w in caught)
    assert "needs no loss scaling" in messages or "float32" in messages


def test_printoptions_change_how_tensors_print():
    x = graphc.tensor([1.23456789, 2.5])
    try:
        graphc.set_printoptions(precision=2)
        assert repr(x) == "tensor([1.23, 2.50])" or repr(x) == "tensor([1.23, 2.5 ])"
        graphc.set_printoptions(precision=3, sci_mode=True)
        assert "1.235e+00" in repr(x)
        graphc.set_printoptions(threshold=5, edgeitems=2)
        assert "..." in repr(graphc.arange(10))
    finally:
        graphc.set_printoptions(profile="default")
    assert repr(x) == "tensor([1.2346, 2.5000])" or repr(x) == "tensor([1.2346, 2.5   ])"
    with pytest.raises(graphc.GraphcError):
        graphc.set_printoptions(profile="tiny")


torch = pytest.importorskip("torch")


@pytest.mark.parametrize("name", ["float32", "float64"])
def test_finfo_matches_torch(name):
    ours, theirs = graphc.finfo(getattr(graphc, name)), torch.finfo(getattr(torch, name))
    for attr in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype"):
        assert getattr(ours, attr) == getattr(theirs, attr), attr
    assert graphc.finfo().eps == torch.finfo().eps


@pytest.mark.parametrize("name", ["int32", "int64"])
def test_iinfo_matches_torch(name):
    ours, theirs = graphc.iinfo(getattr(graphc, name)), torch.iinfo(getattr(torch, name))
    assert (ours.bits, ours.max, ours.min, ours.dtype) == (theirs.bits, theirs.max, theirs.min, theirs.dtype)
    with pytest.raises(TypeError):
        graphc.iinfo(graphc.float32)
    with pytest.raises(TypeError):
        graphc.finfo(graphc.int32)


CLOSE_CASES = [
    ([1.0, 2.0], [1.0, 2.0 + 1e-6], {}),
    ([1.0, 2.0], [1.0, 2.1], {}),
    ([1.0, 2.0], [1.0, 2.1], {"rtol": 0.1, "atol": 0.0}),
    ([1.0, float("nan")], [1.0, float("nan")], {}),
    ([1.0, float("nan")], [1.0, float("nan")], {"equal_nan": True}),
    ([1.0, 2.0], [1.0, 2.0, 3.0], {}),
    ([0.0], [1e-6], {}),
    ([0.0], [1e-4], {}),
]


@pytest.mark.parametrize("a, e, kw", CLOSE_CASES)
def test_assert_close_passes_and_fails_where_torchs_does(a, e, kw):
    def outcome(lib):
        try:
            lib.testing.assert_close(lib.tensor(a), lib.tensor(e), **kw)
            return "ok"
        except AssertionError as err:
            return str(err).splitlines()[0]

    ours, theirs = outcome(graphc), outcome(torch)
    assert (ours == "ok") == (theirs == "ok"), (ours, theirs)
    if theirs.startswith("Tensor-likes"):
        assert ours == theirs


def test_assert_close_checks_dtype_and_walks_containers():
    with pytest.raises(AssertionError, match="dtype"):
        graphc.testing.assert_close(graphc.ones(2), graphc.ones(2, dtype=graphc.float64))
    graphc.testing.assert_close(graphc.ones(2), graphc.ones(2, dtype=graphc.float64), check_dtype=False)
    graphc.testing.assert_close({"a": [graphc.ones(1), 2.0]}, {"a": [graphc.ones(1), 2.0]})
    with pytest.raises(AssertionError, match=r"\['a'\]\[1\]"):
        graphc.testing.assert_close({"a": [graphc.ones(1), 2.0]}, {"a": [graphc.ones(1), 3.0]})
    np.testing.assert_equal(graphc.testing.assert_close(1, 1), None)
