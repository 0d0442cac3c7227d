"""The CUDA export's host code: C that keeps the CPU export's table ABI, embeds the PTX, builds
with the system C compiler, links against nothing but libc/libdl, and, where there is no driver,
fails cleanly with the reason instead of crashing."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from ir_examples import train_step_graph

import graphc
from graphc.passes import run_pipeline
from graphc.runtime.cuda.export_host import compile_graphs_cuda, host_source
from graphc.runtime.cuda.lowering import lower

CC = next((c for c in ("cc", "gcc", "clang") if shutil.which(c)), None)
needs_cc = pytest.mark.skipif(CC is None, reason="no C compiler")


def _graph():
    return run_pipeline(train_step_graph(), ["decompose", "fuse"])


def test_host_source_embeds_the_ptx_and_the_table_layout():
    graph = _graph()
    source, (compiled,) = host_source("demo", [graph], "sm_90")
    assert "void demo__g0(void **table)" in source and "const char *demo__cuda_error(void)" in source
    assert ".target sm_90" in source and "dlopen(\"libcuda.so.1\"" in source
    program = lower(_graph())
    assert [b.name for b in compiled.buffers] == [b.name for b in program.buffers]
    assert set(compiled.temp_offsets) == {b.name for b in program.buffers if b.kind == "temp"}
    assert compiled.errors == program.meta["errors"]


@needs_cc
def test_without_a_driver_the_entry_reports_why_and_touches_nothing(tmp_path):
    if graphc.cuda.is_available():
        pytest.skip("a GPU is usable here")
    graph = _graph()
    obj, (compiled,) = compile_graphs_cuda("demo", [graph])
    (tmp_path / "host.o").write_bytes(obj)
    nslots = len(compiled.buffers)
    (tmp_path / "main.c").write_text(f"""
#include <stdio.h>
#include <string.h>
void demo__g0(void **table);
const char *demo__cuda_error(void);
static double cells[{nslots}][64];
int main(void) {{
    void *table[{nslots}];
    for (int i = 0; i < {nslots}; i++) {{ table[i] = cells[i]; cells[i][0] = 42.0; }}
    demo__g0(table);
    const char *err = demo__cuda_error();
    for (int i = 0; i < {nslots}; i++) if (cells[i][0] != 42.0) {{ puts("touched"); return 2; }}
    puts(err ? err : "(none)");
    return err ? 0 : 1;
}}
""")
    build = subprocess.run([CC, "-o", "main", "main.c", "host.o", "-ldl", "-lpthread"], cwd=tmp_path, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    env = {"PATH": "/usr/bin:/bin", "LD_LIBRARY_PATH": str(tmp_path)}
    run = subprocess.run([str(tmp_path / "main")], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no usable CUDA GPU" in run.stdout


@needs_cc
def test_the_object_needs_no_cuda_library_at_link_time(tmp_path):
    obj, _ = compile_graphs_cuda("demo", [_graph()])
    (tmp_path / "host.o").write_bytes(obj)
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("no nm")
    out = subprocess.run([nm, "-u", "host.o"], cwd=tmp_path, capture_output=True, text=True).stdout
    undefined = {line.split()[-1] for line in out.splitlines() if line.strip()}
    assert not any(name.startswith("cu") for name in undefined), undefined
    assert "dlopen" in undefined and np.all([not u.startswith("cuda") for u in undefined])
