"""The disk cache of compiled code: hits skip LLVM, damage recompiles, it can move or be off."""

from __future__ import annotations

import numpy as np

from graphc.ir import Graph, TensorType, float32
from graphc.runtime import cache
from graphc.runtime.llvm import LLVMBackend


def _graph(scale=2.0):
    g = Graph("cached")
    x = g.placeholder("x", TensorType(float32, (5,)))
    g.set_outputs([g.add("mul", g.add("exp", x), g.add("constant", value=scale))])
    return g


def _run(exe):
    x = np.linspace(-1, 1, 5).astype(np.float32)
    return exe.run([x])[0], x


def test_second_compile_comes_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    first = LLVMBackend().compile(_graph())
    second = LLVMBackend().compile(_graph())
    assert not first.jit.from_cache and second.jit.from_cache
    out, x = _run(second)
    np.testing.assert_allclose(out, 2 * np.exp(x), rtol=1e-6)
    assert len(list(tmp_path.glob("*.o"))) == 1
    other = LLVMBackend().compile(_graph(scale=3.0))  # a different graph is a different entry
    assert not other.jit.from_cache


def test_a_damaged_entry_is_compiled_again(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    LLVMBackend().compile(_graph())
    (obj,) = tmp_path.glob("*.o")
    obj.write_bytes(obj.read_bytes()[:100])  # truncated: the checksum no longer matches
    again = LLVMBackend().compile(_graph())
    assert not again.jit.from_cache
    out, x = _run(again)
    np.testing.assert_allclose(out, 2 * np.exp(x), rtol=1e-6)
    assert LLVMBackend().compile(_graph()).jit.from_cache  # and the entry was rewritten


def test_cache_can_be_turned_off_and_cleared(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("GRAPHC_CACHE", "0")
    LLVMBackend().compile(_graph())
    assert not list(tmp_path.iterdir())
    monkeypatch.setenv("GRAPHC_CACHE", "1")
    LLVMBackend().compile(_graph())
    assert cache.size_bytes() > 0
    assert cache.clear() == 2 and cache.size_bytes() == 0


def test_a_hit_builds_no_llvm_module(tmp_path, monkeypatch):
    import graphc.runtime.llvm as backend

    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    LLVMBackend().compile(_graph())

    def no_module(*args, **kwargs):
        raise AssertionError("a cache hit built the LLVM module")

    monkeypatch.setattr(backend, "build_module", no_module)
    exe = LLVMBackend().compile(_graph())
    assert exe.jit.from_cache
    out, x = _run(exe)
    np.testing.assert_allclose(out, 2 * np.exp(x), rtol=1e-6)


def test_an_edited_code_generator_misses_the_cache(tmp_path, monkeypatch):
    import graphc.runtime.llvm as backend

    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    LLVMBackend().compile(_graph())
    monkeypatch.setattr(backend, "codegen_fingerprint", lambda: "another code generator")
    assert not LLVMBackend().compile(_graph()).jit.from_cache
    assert "define" in LLVMBackend().compile(_graph()).jit.llvm_ir  # the IR is still there on a hit
