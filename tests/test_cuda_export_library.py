"""graphc.export(..., target="cuda"): the same C ABI as the CPU export, PTX and host code inside.

Without a GPU (this is checked everywhere): the library builds and links nothing of CUDA's, its
PTX assembles with ptxas, and a training step returns <NAME>_ERR_DEVICE with the reason while
the model keeps its weights. With a GPU (marked ``gpu``): a C program trains and predicts on the
GPU as the CPU export does.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from export_helpers import build_program, needs_cc, run
from test_export import NEW_LR, PROGRAM, STEPS, B, C, D, make_mlp

import graphc
from graphc.ir.errors import ExportError
from graphc.safetensors_io import read_arrays

pytestmark = needs_cc
LIBS = ("-lm", "-lpthread", "-ldl")

NO_GPU_PROGRAM = r"""
#include <stdio.h>
#include <string.h>
#include "mlp.h"

int main(void) {
    float x[B * D] = {0}, loss = -1.0f;
    int64_t y[B] = {0};
    mlp_model *m = mlp_create();
    if (!m) return 10;
    int rc = mlp_train_step(m, x, y, &loss);
    printf("%d %d %.1f\n", rc, rc == MLP_ERR_DEVICE, loss);
    printf("%s\n", mlp_last_error(m));
    if (mlp_save(m, "after.safetensors") != 0) return 11;
    mlp_destroy(m);
    return 0;
}
"""


def _export(out, target="cuda", **kw):
    model, opt, step, forward = make_mlp()
    x = graphc.randn(B, D)
    y = graphc.tensor([0, 1, 2, 3, 1, 0])
    paths = graphc.export({"train_step": step, "forward": forward}, out, "mlp", target=target,
                          example_inputs={"train_step": (x, y), "forward": (x,)}, **kw)
    return paths, model, opt, step, forward, x, y


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("mlp_cuda")
    paths, model, *_ = _export(out, arch="sm_90")
    before = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    return out, paths, before


def test_writes_the_cpu_exports_files_plus_one_ptx_file_per_graph(exported):
    out, paths, _ = exported
    for kind in ("header", "shared", "static", "weights", "example", "executable"):
        assert paths[kind].is_file(), kind
    ptx = sorted(k for k in paths if k.startswith("ptx"))
    assert len(ptx) == 3  # train_step before and after the optimizer has state, forward
    for k in ptx:
        text = paths[k].read_text()
        assert ".target sm_90" in text and ".entry" in text
    header = paths["header"].read_text()
    assert "int mlp_train_step(mlp_model *m, const float *x, const int64_t *y, float *loss);" in header
    assert "MLP_ERR_DEVICE" in header and "Target: CUDA (sm_90)" in header and "-ldl" in header


def test_the_library_links_nothing_of_cuda(exported):
    _, paths, _ = exported
    readelf = shutil.which("readelf")
    if readelf is None:
        pytest.skip("no readelf")
    dynamic = subprocess.run([readelf, "-d", str(paths["shared"])], capture_output=True, text=True).stdout
    needed = [line.split("[")[1].rstrip("]") for line in dynamic.splitlines() if "(NEEDED)" in line]
    assert needed and not any("cuda" in n for n in needed), needed


def test_its_ptx_assembles_with_ptxas(exported):
    ptxas = shutil.which("ptxas")
    if ptxas is None:
        pytest.skip("ptxas is not installed")
    _, paths, _ = exported
    for k in (k for k in paths if k.startswith("ptx")):
        r = subprocess.run([ptxas, "-arch=sm_90", str(paths[k]), "-o", "/dev/null"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


def test_without_a_gpu_a_step_reports_why_and_changes_nothing(exported):
    if graphc.cuda.is_available():
        pytest.skip("a GPU is usable here")
    out, _, before = exported
    prog = build_program(out, "mlp", NO_GPU_PROGRAM, "no_gpu", {"B": B, "D": D}, libs=LIBS)
    result = run([prog], cwd=out)
    first, reason = result.stdout.splitlines()[:2]
    assert first == "8 1 -1.0"  # MLP_ERR_DEVICE, the output untouched
    assert reason.startswith("mlp_train_step: no usable CUDA GPU"), reason
    arrays, meta = read_arrays(out / "after.safetensors")
    assert meta["phase"] == "0"  # the failed first step did not advance the phase
    for k, v in before.items():
        np.testing.assert_array_equal(arrays[k], v)


def test_the_executable_exits_with_the_reason_without_a_gpu(exported):
    if graphc.cuda.is_available():
        pytest.skip("a GPU is usable here")
    out, _, _ = exported
    np.zeros((B, D), np.float32).tofile(out / "zx.bin")
    result = run([out / "mlp", "forward", "zx.bin", "zlogits.bin"], cwd=out, check=False)
    assert result.returncode != 0 and "no usable CUDA GPU" in result.stderr, result.stderr


@pytest.mark.parametrize("kw, match", [({"target": "tpu"}, "export target 'tpu'"),
                                       ({"target": "cuda", "arch": "sm_50"}, "sm_50"),
                                       ({"target": "cpu", "arch": "sm_80"}, "for CUDA exports")])
def test_bad_targets_and_architectures_are_refused_before_anything_is_written(tmp_path, kw, match):
    with pytest.raises(ExportError, match=match):
        _export(tmp_path / "out", **kw)
    assert not (tmp_path / "out").exists()


@pytest.mark.gpu
@pytest.mark.skipif(not graphc.cuda.is_available(), reason="no usable CUDA GPU")
def test_on_a_gpu_the_c_program_trains_as_the_cpu_export_does(tmp_path):
    results = {}
    for target in ("cpu", "cuda"):
        out = tmp_path / target
        _export(out, target=target)
        x = graphc.randn(B, D)
        x.numpy().tofile(out / "x.bin")
        np.array([0, 1, 2, 3, 1, 0], np.int64).tofile(out / "y.bin")
        prog = build_program(out, "mlp", PROGRAM, "train_prog", {"B": B, "D": D, "C": C, "STEPS": STEPS,
                                                                 "NEW_LR": NEW_LR}, libs=LIBS)
        r = run([prog, out / "x.bin", out / "y.bin", out / "logits.bin", out / "saved.safetensors"])
        results[target] = ([float(v) for v in r.stdout.split()], np.fromfile(out / "logits.bin", np.float32),
                           read_arrays(out / "saved.safetensors")[0])
    (cpu_losses, cpu_logits, cpu_state), (gpu_losses, gpu_logits, gpu_state) = results["cpu"], results["cuda"]
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gpu_logits, cpu_logits, rtol=1e-4, atol=1e-4)
    for k, v in cpu_state.items():
        np.testing.assert_allclose(gpu_state[k], v, rtol=1e-4, atol=1e-5)


def test_graphc_export_command_with_target_cuda(tmp_path, capsys):
    from graphc.cli import main as cli_main

    (tmp_path / "tiny.py").write_text("import graphc.nn as nn\n\ndef Tiny():\n"
                                      "    return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))\n")
    code = cli_main(["export", f"{tmp_path / 'tiny.py'}:Tiny", "--input-shape", "2,6", "--out", str(tmp_path / "lib"),
                     "--name", "tiny", "--target", "cuda", "--arch", "sm_90"])
    assert code == 0
    assert "Target: CUDA (sm_90)" in (tmp_path / "lib" / "tiny.h").read_text()
    assert ".target sm_90" in (tmp_path / "lib" / "tiny_g0.ptx").read_text()
    assert "tiny_g0.ptx" in capsys.readouterr().err
