"""Write an exported library: object code, C runtime, header, weights, example program, executable."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from graphc.ir.errors import ExportError

from .header import example_program, header, wrappers
from .native import compile_graphs
from .spec import ExportSpec
from .tables import model_tables

RUNTIME_C = Path(__file__).with_name("model_runtime.c")
TYPES_C = """\
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct { const char *name, *jname; int dtype, ndim; int64_t shape[8], nbytes; int saved; const void *init; } nm_buf;
typedef struct { int count; const int *members; } nm_layout;
typedef struct { const char *key; double value; } nm_hyper;
typedef struct { const char *key; int count; const int *members; } nm_alias;
enum { NM_SLOT_IN, NM_SLOT_OUT, NM_SLOT_PERSIST, NM_SLOT_CONST, NM_SLOT_TEMP, NM_SLOT_HYPER, NM_SLOT_ERR };
typedef struct { int kind; int64_t index; int dtype; } nm_slot;
typedef struct {
    void (*entry)(void **table);
    int nslots;
    const nm_slot *slots;
    int nerrors;
    const char *const *errors;
    int next_phase;
} nm_graph;
typedef struct { const char *name; int nin, nout; const char *const *in_names, *const *out_names; int graphs[2]; } nm_fn;
"""
C_FLAGS = ["-O2", "-fPIC", "-std=gnu11", "-Wall", "-Wno-unused-function"]
POOL_API = {"graphc_set_num_threads", "graphc_pool_shutdown"}  # a thread pool the kernels call


def find_compiler() -> str | None:
    """The system C compiler: $CC, else cc, gcc or clang on the PATH."""
    import os

    for cc in [os.environ.get("CC"), "cc", "gcc", "clang"]:
        if cc and shutil.which(cc):
            return cc
    return None


def library_source(spec: ExportSpec, tables: str) -> str:
    runtime = RUNTIME_C.read_text().replace("@NAME@_ERR_", f"{spec.name.upper()}_ERR_").replace("@NAME@", spec.name)
    return (f'#include "{spec.name}.h"\n' + TYPES_C + tables + runtime + "\n" + wrappers(spec))


def write_library(spec: ExportSpec, out_dir, cpu: str = "host") -> dict:
    """Build everything for ``spec`` into ``out_dir``; returns the paths written by kind."""
    cc = find_compiler()
    if cc is None:
        raise ExportError("export needs a C compiler and none was found (tried $CC, cc, gcc, clang)",
                          fix="install gcc (apt-get install gcc) or set CC to a C compiler")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = spec.name
    paths = {"header": out / f"{name}.h", "shared": out / f"lib{name}.so", "static": out / f"lib{name}.a",
             "weights": out / f"{name}.safetensors", "example": out / f"{name}_main.c", "executable": out / name}
    graphs = [g.graph for g in spec.graphs]
    if spec.target == "cuda":
        from graphc.runtime.cuda.export_host import compile_graphs_cuda

        obj, compiled = compile_graphs_cuda(name, graphs, spec.arch, cc)
        support_api: set[str] = set()
        for i, text in enumerate(c.ptx for c in compiled):  # embedded in the library too; written for reading and ptxas
            paths[f"ptx{i}"] = out / f"{name}_g{i}.ptx"
            paths[f"ptx{i}"].write_text(text)
    else:
        obj, compiled, support_api = compile_graphs(name, graphs, cpu)
    paths["header"].write_text(header(spec))
    paths["weights"].write_bytes(spec.weights_image)
    paths["example"].write_text(example_program(spec))
    with tempfile.TemporaryDirectory(prefix=f"graphc-export-{name}-") as tmp:
        build = Path(tmp)
        (build / "kernels.o").write_bytes(obj)
        tables = model_tables(spec, compiled, build / "blob.bin")
        if POOL_API <= support_api:
            tables = "#define NM_POOL 1\n" + tables
        if spec.target == "cuda":
            tables = "#define NM_CUDA 1\n" + tables
        (build / "runtime.c").write_text(library_source(spec, tables))
        _run([cc, *C_FLAGS, f"-I{out.resolve()}", "-c", "runtime.c", "-o", "runtime.o"], build)
        _run([cc, "-shared", "-o", str(paths["shared"].resolve()), "runtime.o", "kernels.o", *spec.libs], build)
        paths["static"].unlink(missing_ok=True)
        _run(["ar", "rcs", str(paths["static"].resolve()), "runtime.o", "kernels.o"], build)
    _run([cc, "-O2", "-o", name, f"{name}_main.c", f"lib{name}.a", *spec.libs], out)
    return paths


def _run(cmd: list[str], cwd: Path) -> None:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise ExportError(f"building the exported library failed: {' '.join(cmd)}\n{result.stderr[-4000:]}",
                          fix="this is a graphc bug if your C compiler works; please report it with this output")
