"""A large program compiles in parts, at the same time in worker processes: the same numbers as
one module, one cache entry holding every part, and a worker that fails costs only time."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import graphc
import graphc.nn as nn
from graphc.runtime.llvm import jit, parts


def _train(monkeypatch, tmp_path, jobs: str, steps: int = 3):
    monkeypatch.setenv("GRAPHC_COMPILE_JOBS", jobs)
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    graphc.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 16), nn.Tanh(), nn.Linear(16, 5))
    opt = graphc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    x = graphc.randn(8, 12)
    y = graphc.tensor([0, 1, 2, 3, 4, 0, 1, 2])
    losses = [step(x, y).item() for _ in range(steps)]
    weights = [p.detach().numpy().copy() for p in model.parameters()]
    return step, losses, weights


def _objects(path) -> list:
    try:
        return parts.unpack_objects(path.read_bytes())
    except ValueError:  # another kind of entry (the thread pool's object code)
        return []


def test_parts_compile_to_the_numbers_of_one_module(monkeypatch, tmp_path):
    one, losses1, weights1 = _train(monkeypatch, tmp_path / "one", "1")
    two, losses2, weights2 = _train(monkeypatch, tmp_path / "two", "2")
    assert len(one._last.executable.program.kernels) >= 12  # large enough to be split in two
    np.testing.assert_array_equal(losses1, losses2)
    for a, b in zip(weights1, weights2):
        np.testing.assert_array_equal(a, b)


def test_the_parts_share_one_cache_entry(monkeypatch, tmp_path):
    _, losses, _ = _train(monkeypatch, tmp_path, "2")
    step, again, _ = _train(monkeypatch, tmp_path, "2")
    assert step._last.executable.jit.from_cache
    assert [len(_objects(p)) for p in tmp_path.glob("*.o")].count(2) == 1
    np.testing.assert_array_equal(losses, again)


def test_a_failing_worker_leaves_its_part_to_this_process(monkeypatch, tmp_path):
    _, expected, _ = _train(monkeypatch, tmp_path / "ref", "1")
    failing = tmp_path / "python3"  # an interpreter whose every worker exits at once, with no output
    failing.write_text("#!/bin/sh\ncat > /dev/null\nexit 1\n")
    failing.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(failing))
    step, losses, _ = _train(monkeypatch, tmp_path / "failing", "2")
    np.testing.assert_array_equal(losses, expected)
    assert [len(_objects(p)) for p in (tmp_path / "failing").glob("*.o")].count(2) == 1  # both parts, made here


def test_no_worker_is_started_by_a_program_that_is_not_python(monkeypatch, tmp_path):
    _, expected, _ = _train(monkeypatch, tmp_path / "ref", "1")
    monkeypatch.setattr(sys, "executable", "/usr/bin/uwsgi")  # embedded: sys.executable is the host program
    _, losses, _ = _train(monkeypatch, tmp_path / "embedded", "2")
    np.testing.assert_array_equal(losses, expected)


def test_the_partition_balances_cost_and_keeps_every_kernel_once():
    from graphc.runtime.kernel_ir import Const, Kernel, Store

    kernels = [Kernel(f"k{i}", ["out"], [Store("out", Const(0, "i64"), Const(1.0, "f32"))] * (i + 1)) for i in range(9)]
    modules = jit.build_parts(kernels, {"out": 0}, "t", None, False, 3, "salt")
    texts = [str(m) for m in modules]
    assert len(texts) == 3 and "graphc_step" in texts[0]
    for i in range(9):
        defined = [t for t in texts if f'define void @"k{i}.salt"' in t or f'define internal void @"k{i}"' in t]
        assert len(defined) == 1, i


def test_packed_objects_round_trip_and_damage_is_detected():
    objs = [b"first", b"", b"third object"]
    assert parts.unpack_objects(parts.pack_objects(objs)) == objs
    with pytest.raises(ValueError):
        parts.unpack_objects(parts.pack_objects(objs)[:-1])
    with pytest.raises(ValueError):
        parts.unpack_objects(b"\x7fELF" + bytes(60))  # not an entry of this format


@pytest.mark.parametrize("value", ["two", "0", "-3", "1.5"])
def test_a_bad_job_count_is_refused_with_its_name(monkeypatch, value):
    monkeypatch.setenv("GRAPHC_COMPILE_JOBS", value)
    with pytest.raises(graphc.GraphcError, match=f"GRAPHC_COMPILE_JOBS={value!r} is not a positive whole number") as e:
        parts.compile_jobs()
    assert "unset it" in e.value.fix
    monkeypatch.setenv("GRAPHC_COMPILE_JOBS", " 3 ")
    assert parts.compile_jobs() == 3
