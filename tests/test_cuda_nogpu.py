"""Without a GPU or driver: graphc imports, reports no CUDA, produces PTX, and every placement on
"cuda" raises one clear DeviceError saying why there is no usable GPU."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import graphc
from graphc import nn
from graphc.ir.errors import DeviceError, GraphcError
from graphc.runtime.cuda import driver

NO_GPU = graphc.cuda.device_count() == 0
pytestmark = pytest.mark.skipif(not NO_GPU, reason="a CUDA GPU is usable here")


def test_import_and_queries_never_raise():
    code = ("import graphc; print(graphc.cuda.is_available(), graphc.cuda.device_count()); "
            "import graphc.runtime.cuda.backend, graphc.runtime.cuda.driver")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "0"]


def test_driver_status_gives_a_reason():
    count, reason = driver.status()
    assert count == 0 and reason


@pytest.mark.parametrize("place", [
    lambda: graphc.ones(3).cuda(),
    lambda: graphc.ones(3).to("cuda"),
    lambda: graphc.ones(3).to("cuda:0", graphc.float64),
    lambda: graphc.ones(3).to(device="cuda"),
    lambda: graphc.zeros(2, 3, device="cuda"),
    lambda: graphc.tensor([1.0], device=graphc.device("cuda")),
    lambda: graphc.randn(4, device="cuda"),
    lambda: nn.Linear(2, 3).cuda(),
    lambda: nn.Linear(2, 3).to("cuda"),
    lambda: graphc.cuda.get_device_name(),
])
def test_every_cuda_placement_says_there_is_no_usable_gpu(place):
    with pytest.raises(DeviceError, match="no usable CUDA GPU: ") as info:
        place()
    assert isinstance(info.value, GraphcError) and isinstance(info.value, RuntimeError)
    assert "fix:" in str(info.value)
    assert "test_cuda_nogpu.py" in str(info.value)  # the user's line


def test_a_failed_move_leaves_the_model_on_the_cpu():
    model = nn.Linear(2, 3)
    with pytest.raises(DeviceError):
        model.cuda()
    assert all(p.device == graphc.device("cpu") for p in model.parameters())


def test_compiling_for_cuda_says_there_is_no_usable_gpu():
    model = nn.Linear(3, 2)
    fn = graphc.compile(model, backend="cuda")
    with pytest.raises(DeviceError, match="no usable CUDA GPU"):
        fn(graphc.ones(4, 3))


def test_cpu_is_still_the_default_and_cpu_moves_are_free():
    x = graphc.ones(2)
    assert x.device == graphc.device("cpu") and not x.is_cuda and x.get_device() == -1
    assert x.cpu() is x and x.to("cpu") is x
    model = nn.Linear(2, 2)
    assert model.cpu() is model and model.to("cpu") is model


def test_bad_device_strings_are_clear_errors():
    with pytest.raises(DeviceError, match="unknown device type 'tpu'"):
        graphc.ones(2).to("tpu")
    with pytest.raises(DeviceError, match="invalid device string"):
        graphc.device("cuda:x")


def test_driver_error_messages_carry_the_driver_text(monkeypatch):
    """A failing driver call becomes a DeviceError naming the call and the driver's own words."""

    class FakeLib:
        def cuGetErrorName(self, rc, out):
            out._obj.value = b"CUDA_ERROR_OUT_OF_MEMORY"
            return 0

        def cuGetErrorString(self, rc, out):
            out._obj.value = b"out of memory"
            return 0

    monkeypatch.setattr(driver, "_lib", FakeLib())
    monkeypatch.setattr(driver, "_initialised", True)
    with pytest.raises(DeviceError, match="cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY: out of memory"):
        driver.check("cuMemAlloc_v2", 2)


def test_ptx_needs_no_gpu():
    from graphc.ir import Graph, TensorType, float32
    from graphc.runtime.cuda.ptx import graph_ptx

    g = Graph("e")
    x = g.placeholder("x", TensorType(float32, (64,)), "input")
    g.set_outputs([g.add("tanh", x)])
    module = graph_ptx(g, "sm_80")
    assert module.text.startswith("//") and ".entry" in module.text
    assert np.prod(module.launches[0].block) == 64
