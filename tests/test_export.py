"""graphc.export on an MLP: a C program trains and predicts as the compiled Python step does."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from export_helpers import CC, build_program, needs_cc, needs_valgrind, run

import graphc
import graphc.nn as nn
from graphc.safetensors_io import read_arrays, write_arrays

pytestmark = needs_cc  # every test here builds the library

B, D, H, C = 6, 8, 16, 4
STEPS = 4
NEW_LR = 0.05  # set before step 3

PROGRAM = r"""
#include <stdio.h>
#include <stdlib.h>
#include "mlp.h"

static int read_file(const char *path, void *data, size_t n) {
    FILE *f = fopen(path, "rb");
    if (!f) return 1;
    size_t got = fread(data, 1, n, f);
    fclose(f);
    return got != n;
}

int main(int argc, char **argv) {
    float x[B * D], logits[B * C], loss;
    int64_t y[B];
    if (argc != 5 || read_file(argv[1], x, sizeof x) || read_file(argv[2], y, sizeof y)) return 2;
    mlp_model *m = mlp_create();
    if (!m) {
        fprintf(stderr, "create: %s\n", mlp_last_error(NULL));
        return 1;
    }
    for (int s = 0; s < STEPS; s++) {
        if (s == 2 && mlp_set_hyperparameter(m, "lr", NEW_LR) != 0) return 3;
        if (mlp_train_step(m, x, y, &loss) != 0) {
            fprintf(stderr, "train_step: %s\n", mlp_last_error(m));
            return 1;
        }
        printf("%.9g\n", loss);
    }
    if (mlp_forward(m, x, logits) != 0 || mlp_save(m, argv[4]) != 0) {
        fprintf(stderr, "%s\n", mlp_last_error(m));
        return 1;
    }
    FILE *f = fopen(argv[3], "wb");
    fwrite(logits, sizeof logits, 1, f);
    fclose(f);
    mlp_destroy(m);
    return 0;
}
"""


def make_mlp():
    graphc.manual_seed(0)
    model = nn.Sequential(nn.Linear(D, H), nn.ReLU(), nn.Linear(H, C))
    opt = graphc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def train_step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return model, opt, graphc.compile(train_step), graphc.compile(model)


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    """The exported MLP and what the compiled Python functions compute from the same start."""
    out = tmp_path_factory.mktemp("mlp")
    model, opt, step, forward = make_mlp()
    x = graphc.randn(B, D)
    y = graphc.tensor([0, 1, 2, 3, 1, 0])
    before = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    paths = graphc.export({"train_step": step, "forward": forward}, out, "mlp",
                          example_inputs={"train_step": (x, y), "forward": (x,)})
    unchanged = (len(opt.state) == 0 and all(p.grad is None for p in model.parameters())
                 and all(np.array_equal(before[k], v.detach().numpy()) for k, v in model.state_dict().items()))
    x.numpy().tofile(out / "x.bin")
    y.numpy().tofile(out / "y.bin")
    losses = []
    for s in range(STEPS):
        if s == 2:
            opt.param_groups[0]["lr"] = NEW_LR
        losses.append(step(x, y).item())
    with graphc.no_grad():
        logits = forward(x).numpy()
    state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    momentum = {n: opt.state[p]["momentum_buffer"].numpy() for n, p in model.named_parameters()}
    return {"out": out, "paths": paths, "unchanged": unchanged, "losses": losses, "logits": logits, "state": state,
            "momentum": momentum, "before": before}


def test_export_leaves_model_and_optimizer_unchanged(mlp):
    assert mlp["unchanged"]


@needs_cc
def test_export_writes_library_header_weights_program_and_executable(mlp):
    for kind in ("header", "shared", "static", "weights", "example", "executable"):
        assert mlp["paths"][kind].is_file(), kind
    header = mlp["paths"]["header"].read_text()
    assert "int mlp_train_step(mlp_model *m, const float *x, const int64_t *y, float *loss);" in header
    assert "int mlp_forward(mlp_model *m, const float *input, float *output);" in header
    assert "in  x: float[6, 8]" in header and '"param_groups.0.lr" = 0.1' in header
    arrays, meta = read_arrays(mlp["paths"]["weights"])
    assert meta["format"] == "graphc-export" and set(arrays) == set(mlp["before"])
    for k, v in arrays.items():
        np.testing.assert_array_equal(v, mlp["before"][k])


@needs_cc
def test_c_program_matches_compiled_python_steps(mlp):
    out = mlp["out"]
    prog = build_program(out, "mlp", PROGRAM, "train_prog",
                         {"B": B, "D": D, "C": C, "STEPS": STEPS, "NEW_LR": NEW_LR})
    result = run([prog, out / "x.bin", out / "y.bin", out / "logits.bin", out / "saved.safetensors"])
    losses = [float(v) for v in result.stdout.split()]
    np.testing.assert_allclose(losses, mlp["losses"], rtol=1e-5, atol=1e-6)
    logits = np.fromfile(out / "logits.bin", np.float32).reshape(B, C)
    np.testing.assert_allclose(logits, mlp["logits"], rtol=1e-5, atol=1e-5)
    arrays, meta = read_arrays(out / "saved.safetensors")
    assert meta["phase"] == "1" and float(meta["hyper.param_groups.0.lr"]) == NEW_LR
    for k, v in mlp["state"].items():
        np.testing.assert_allclose(arrays[k], v, rtol=1e-5, atol=1e-6)
    for k, v in mlp["momentum"].items():
        np.testing.assert_allclose(arrays[f"optimizer.{k}.momentum_buffer"], v, rtol=1e-5, atol=1e-6)
    safetensors = pytest.importorskip("safetensors.numpy")
    loaded = safetensors.load_file(str(out / "saved.safetensors"))
    assert set(loaded) == set(arrays)
    np.testing.assert_array_equal(loaded["0.weight"], arrays["0.weight"])


@needs_cc
def test_example_executable_trains_from_files_and_resumes(mlp):
    out = mlp["out"]
    first = run([out / "mlp", "train_step", "-n", "2", "-s", out / "two.safetensors", out / "x.bin", out / "y.bin",
                 out / "loss.bin"])
    losses = [float(line.split("=")[1]) for line in first.stdout.splitlines()]
    np.testing.assert_allclose(losses, mlp["losses"][:2], rtol=1e-5)
    # resume from the saved weights and momentum, with the lr the Python run switched to
    second = run([out / "mlp", "train_step", "-n", "2", "-w", out / "two.safetensors", "-p", f"lr={NEW_LR}",
                  out / "x.bin", out / "y.bin", out / "loss.bin"])
    losses = [float(line.split("=")[1]) for line in second.stdout.splitlines()]
    np.testing.assert_allclose(losses, mlp["losses"][2:], rtol=1e-5)
    assert np.fromfile(out / "loss.bin", np.float32)[0] == pytest.approx(mlp["losses"][-1], rel=1e-5)
    bad = run([out / "mlp", "forward", out / "y.bin", out / "o.bin"], check=False)
    assert bad.returncode != 0 and "bytes" in bad.stderr
    bad = run([out / "mlp", "train_step", "-n", "0", out / "x.bin", out / "y.bin", out / "o.bin"], check=False)
    assert bad.returncode == 2 and "positive" in bad.stderr
    bad = run([out / "mlp", "train_step", "-p", "lr=0.1", out / "x.bin", out / "o.bin"], check=False)
    assert bad.returncode == 2 and "takes 2 input and 1 output files" in bad.stderr


@needs_cc
def test_program_does_not_link_python(mlp):
    import shutil

    if shutil.which("ldd") is None:
        pytest.skip("ldd is not available")
    out = mlp["out"]
    for binary in (out / "mlp", out / "libmlp.so"):
        libs = run(["ldd", binary]).stdout
        assert "python" not in libs.lower() and "llvm" not in libs.lower()
    needed = run(["objdump", "-p", out / "libmlp.so"], check=False).stdout
    assert "libpython" not in needed


@needs_cc
@needs_valgrind
def test_c_program_runs_clean_under_valgrind(mlp, tmp_path):
    # valgrind knows no AVX-512: export the same model for a generic x86-64 CPU (the cpu option)
    model, opt, step, forward = make_mlp()
    x = graphc.randn(B, D)
    graphc.export({"train_step": step, "forward": forward}, tmp_path, "mlp", cpu="x86-64-v2",
                  example_inputs={"train_step": (x, graphc.zeros(B, dtype=graphc.int64)), "forward": (x,)})
    prog = build_program(tmp_path, "mlp", PROGRAM, "train_prog", {"B": B, "D": D, "C": C, "STEPS": STEPS, "NEW_LR": NEW_LR})
    out = mlp["out"]
    result = run(["valgrind", "--error-exitcode=99", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
                  prog, out / "x.bin", out / "y.bin", tmp_path / "logits.bin", tmp_path / "vg.safetensors"], check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ERROR SUMMARY: 0 errors" in result.stderr
    losses = [float(v) for v in result.stdout.split()]
    np.testing.assert_allclose(losses, mlp["losses"], rtol=1e-5, atol=1e-6)


def _asan_works(tmp_path) -> bool:
    src = tmp_path / "probe.c"
    src.write_text("int main(void) { return 0; }\n")
    return CC is not None and subprocess.run(
        [CC, "-fsanitize=address,undefined", str(src), "-o", str(tmp_path / "probe")], capture_output=True).returncode == 0


@needs_cc
def test_c_program_runs_clean_under_address_sanitizer(mlp, tmp_path):
    """The program and the library's C runtime checked by ASan/UBSan and LeakSanitizer (where the
    compiler has them; valgrind, above, also covers the generated kernels)."""
    if not _asan_works(tmp_path):
        pytest.skip("the C compiler has no AddressSanitizer runtime")
    out = mlp["out"]
    prog = build_program(out, "mlp", PROGRAM, "asan_prog", {"B": B, "D": D, "C": C, "STEPS": STEPS, "NEW_LR": NEW_LR},
                         extra_flags=("-fsanitize=address,undefined", "-fno-omit-frame-pointer"))
    result = run([prog, out / "x.bin", out / "y.bin", tmp_path / "logits.bin", tmp_path / "asan.safetensors"], check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ERROR: AddressSanitizer" not in result.stderr and "runtime error" not in result.stderr
    losses = [float(v) for v in result.stdout.split()]
    np.testing.assert_allclose(losses, mlp["losses"], rtol=1e-5, atol=1e-6)


ERRORS = r"""
#include <stdio.h>
#include <string.h>
#include "mlp.h"

#define SHOW(what, call) do { int code_ = (call); printf("%s %d %s\n", what, code_, mlp_last_error(m)); } while (0)

int main(int argc, char **argv) {
    float x[B * D] = {0}, loss = 0;
    int64_t y[B] = {0}, bad_y[B] = {0, 1, 99, 0, 0, 0};
    mlp_model *m = NULL;
    SHOW("null_model", mlp_train_step(NULL, x, y, &loss));
    m = mlp_create();
    SHOW("null_input", mlp_train_step(m, NULL, y, &loss));
    SHOW("null_output", mlp_forward(m, x, NULL));
    SHOW("null_key", mlp_set_hyperparameter(m, NULL, 1.0));
    SHOW("unknown_key", mlp_set_hyperparameter(m, "learning_rate", 1.0));
    SHOW("fixed_key", mlp_set_hyperparameter(m, "weight_decay", 1.0));
    SHOW("group_key", mlp_set_hyperparameter(m, "param_groups.0.momentum", 0.8));
    SHOW("missing_file", mlp_load(m, "/nonexistent/w.safetensors"));
    for (int i = 1; i < argc; i++) SHOW(argv[i], mlp_load(m, argv[i]));
    SHOW("good_step", mlp_train_step(m, x, y, &loss));
    SHOW("save_before", mlp_save(m, "before.safetensors"));
    SHOW("bad_label", mlp_train_step(m, x, bad_y, &loss));
    SHOW("save_after", mlp_save(m, "after.safetensors"));
    SHOW("unwritable", mlp_save(m, "/nonexistent/dir/w.safetensors"));
    mlp_destroy(m);
    return 0;
}
"""


@needs_cc
def test_error_paths_return_codes_and_messages(mlp):
    out = mlp["out"]
    good = mlp["before"]
    (out / "garbage.safetensors").write_bytes(b"\x10\0\0\0\0\0\0\0{not json at all" + b"\0" * 8)
    write_arrays(out / "shape.safetensors", {**good, "0.weight": np.zeros((3, 3), np.float32)})
    write_arrays(out / "dtype.safetensors", {**good, "0.bias": good["0.bias"].astype(np.float64)})
    write_arrays(out / "extra.safetensors", {**good, "other": np.zeros(2, np.float32)})
    write_arrays(out / "missing.safetensors", {k: v for k, v in good.items() if k != "2.bias"})
    files = ["garbage", "shape", "dtype", "extra", "missing"]
    prog = build_program(out, "mlp", ERRORS, "errors_prog", {"B": B, "D": D})
    result = run([prog, *(f"{f}.safetensors" for f in files)], cwd=out)
    rows = {line.split(" ", 2)[0]: (int(line.split(" ", 2)[1]), line.split(" ", 2)[2]) for line in result.stdout.splitlines()}
    assert rows["null_model"][0] == 1 and "NULL" in rows["null_model"][1]
    assert rows["null_input"][0] == 1 and "'x'" in rows["null_input"][1]
    assert rows["null_output"][0] == 1 and "'output'" in rows["null_output"][1]
    assert rows["null_key"][0] == 1
    assert rows["unknown_key"][0] == 5 and "learning_rate" in rows["unknown_key"][1]
    assert rows["fixed_key"][0] == 5 and "fixed" in rows["fixed_key"][1]
    assert rows["group_key"][0] == 0
    assert rows["missing_file"][0] == 2 and "No such file" in rows["missing_file"][1]
    assert rows["garbage.safetensors"][0] == 3
    assert rows["shape.safetensors"][0] == 4 and "shape [3, 3]" in rows["shape.safetensors"][1]
    assert rows["dtype.safetensors"][0] == 4 and "dtype F64" in rows["dtype.safetensors"][1]
    assert rows["extra.safetensors"][0] == 4 and "'other'" in rows["extra.safetensors"][1]
    assert rows["missing.safetensors"][0] == 4 and "'2.bias'" in rows["missing.safetensors"][1]
    assert rows["good_step"][0] == 0 and rows["save_before"][0] == 0
    assert rows["bad_label"][0] == 6 and "before updating anything" in rows["bad_label"][1]
    assert rows["save_after"][0] == 0 and rows["unwritable"][0] == 2
    before, _ = read_arrays(out / "before.safetensors")
    after, _ = read_arrays(out / "after.safetensors")
    assert set(before) == set(after)
    for k in before:  # the failed step changed nothing
        np.testing.assert_array_equal(before[k], after[k])


LOADER = r"""
#include <stdio.h>
#include "mlp.h"

int main(int argc, char **argv) {
    mlp_model *m = mlp_create();
    for (int i = 1; i < argc; i++) printf("%d\n", mlp_load(m, argv[i]));
    mlp_destroy(m);
    return 0;
}
"""


@needs_cc
def test_damaged_weights_files_are_refused_without_a_crash(mlp, tmp_path):
    good = mlp["paths"]["weights"].read_bytes()
    rng = np.random.default_rng(0)
    header_end = 8 + int.from_bytes(good[:8], "little")
    paths = []
    for i in range(40):
        data = bytearray(good)
        if i % 4 == 0:
            data = data[: rng.integers(0, len(good))]  # truncated
        else:
            for _ in range(1 + i % 3):  # bytes of the length or the JSON header changed
                data[rng.integers(0, header_end)] = int(rng.integers(0, 256))
        path = tmp_path / f"bad{i}.safetensors"
        path.write_bytes(bytes(data))
        paths.append(path)
    prog = build_program(mlp["out"], "mlp", LOADER, "loader")
    codes = [int(c) for c in run([prog, *paths]).stdout.split()]
    assert len(codes) == len(paths)
    assert all(c in (0, 3, 4) for c in codes)
    assert sum(c != 0 for c in codes) >= len(paths) // 2
    import shutil

    if shutil.which("valgrind"):  # and no read out of bounds while refusing them
        result = run(["valgrind", "--error-exitcode=99", "-q", prog, *paths], check=False)
        assert result.returncode == 0, result.stderr[-3000:]
