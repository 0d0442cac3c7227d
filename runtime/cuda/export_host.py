"""Host code for ``graphc.export(..., target="cuda")``: each graph's entry as C that runs its PTX.

``compile_graphs_cuda(prefix, graphs, arch)`` is the CUDA counterpart of the CPU export's
``compile_graphs``: it returns object code defining ``void <prefix>__g<i>(void **table)`` per
graph, with the same pointer table (one host pointer per buffer of ``lower(graph)``, in order),
plus each graph's layout. So the exported library keeps the CPU export's C ABI: callers pass
host memory, and the entry moves the data. An entry

1. initialises CUDA once (libcuda is opened with ``dlopen`` at run time: the library links
   against nothing new, and loads where there is no GPU), loads the graph's embedded PTX and
   allocates a device buffer per table slot (temporaries share one arena);
2. copies every placeholder's bytes from the host table to the device;
3. launches the launch plan's kernels in order on one stream; when the graph has index checks,
   it copies the error code back first and stops before the parameter updates if one failed;
4. copies the outputs and the parameters and state the step assigned back to the host table.

A CUDA failure leaves the step undone and is reported by ``<prefix>__cuda_error()`` (the
driver's message, or NULL after a successful step), which the C runtime turns into its error
code and ``last_error`` text.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from graphc.ir import Graph
from graphc.ir.errors import ExportError

from ..lower import Buffer
from .lowering import lower
from .ptx import DEFAULT_ARCH, build_ptx

_ALIGN = 256


@dataclass
class CudaCompiledGraph:
    """One graph's table layout, as the CPU export's ``CompiledGraph``."""

    symbol: str
    buffers: list[Buffer]
    temp_offsets: dict[str, int]
    arena_bytes: int
    errors: list[str]
    ptx: str = ""  # the PTX module the host code embeds


def _c_string(text: str) -> str:
    out = []
    for line in text.splitlines(keepends=True):
        out.append('"' + line.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"')
    return "\n".join(out) or '""'


_DRIVER = r"""
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef int CUresult;
typedef uint64_t CUdeviceptr;
typedef struct {
    CUresult (*Init)(unsigned);
    CUresult (*DeviceGet)(int *, int);
    CUresult (*PrimaryCtxRetain)(void **, int);
    CUresult (*CtxSetCurrent)(void *);
    CUresult (*ModuleLoadData)(void **, const void *);
    CUresult (*ModuleGetFunction)(void **, void *, const char *);
    CUresult (*LaunchKernel)(void *, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, void *,
                             void **, void **);
    CUresult (*MemAlloc)(CUdeviceptr *, size_t);
    CUresult (*MemcpyHtoD)(CUdeviceptr, const void *, size_t);
    CUresult (*MemcpyDtoH)(void *, CUdeviceptr, size_t);
    CUresult (*MemsetD8)(CUdeviceptr, unsigned char, size_t);
    CUresult (*CtxSynchronize)(void);
    CUresult (*GetErrorString)(CUresult, const char **);
} @P@_cuda_api;

static @P@_cuda_api @P@_cu;
static void *@P@_ctx;
static int @P@_ready;
/* Steps run one at a time (they share the device buffers); each thread sees its own last error. */
static pthread_mutex_t @P@_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread char @P@_error[512];
static __thread int @P@_failed;

const char *@P@__cuda_error(void) { return @P@_failed ? @P@_error : NULL; }

static int @P@_fail(const char *call, CUresult rc) {
    const char *text = NULL;
    if (@P@_cu.GetErrorString) @P@_cu.GetErrorString(rc, &text);
    snprintf(@P@_error, sizeof @P@_error, "CUDA driver call %s failed: %s (%d)", call, text ? text : "unknown error", rc);
    @P@_failed = 1;
    return -1;
}

#define @P@_CHECK(call, expr) do { CUresult rc_ = (expr); if (rc_ != 0) return @P@_fail(call, rc_); } while (0)

static int @P@_init(void) {
    if (@P@_ready) return @P@_cu.CtxSetCurrent(@P@_ctx) == 0 ? 0 : @P@_fail("cuCtxSetCurrent", 1);
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) lib = dlopen("libcuda.so", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(@P@_error, sizeof @P@_error, "no usable CUDA GPU: libcuda was not found (no NVIDIA driver installed)");
        @P@_failed = 1;
        return -1;
    }
    struct { void **slot; const char *name; } syms[] = {
        {(void **)&@P@_cu.Init, "cuInit"}, {(void **)&@P@_cu.DeviceGet, "cuDeviceGet"},
        {(void **)&@P@_cu.PrimaryCtxRetain, "cuDevicePrimaryCtxRetain"},
        {(void **)&@P@_cu.CtxSetCurrent, "cuCtxSetCurrent"}, {(void **)&@P@_cu.ModuleLoadData, "cuModuleLoadData"},
        {(void **)&@P@_cu.ModuleGetFunction, "cuModuleGetFunction"}, {(void **)&@P@_cu.LaunchKernel, "cuLaunchKernel"},
        {(void **)&@P@_cu.MemAlloc, "cuMemAlloc_v2"}, {(void **)&@P@_cu.MemcpyHtoD, "cuMemcpyHtoD_v2"},
        {(void **)&@P@_cu.MemcpyDtoH, "cuMemcpyDtoH_v2"}, {(void **)&@P@_cu.MemsetD8, "cuMemsetD8_v2"},
        {(void **)&@P@_cu.CtxSynchronize, "cuCtxSynchronize"}, {(void **)&@P@_cu.GetErrorString, "cuGetErrorString"},
    };
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        *syms[i].slot = dlsym(lib, syms[i].name);
        if (!*syms[i].slot) {
            snprintf(@P@_error, sizeof @P@_error, "the CUDA driver has no %s (too old a driver)", syms[i].name);
            @P@_failed = 1;
            return -1;
        }
    }
    int dev;
    @P@_CHECK("cuInit", @P@_cu.Init(0));
    @P@_CHECK("cuDeviceGet", @P@_cu.DeviceGet(&dev, 0));
    @P@_CHECK("cuDevicePrimaryCtxRetain", @P@_cu.PrimaryCtxRetain(&@P@_ctx, dev));
    @P@_CHECK("cuCtxSetCurrent", @P@_cu.CtxSetCurrent(@P@_ctx));
    @P@_ready = 1;
    return 0;
}

typedef struct { const char *name; unsigned grid[3], block[3], shared; int nargs; const int *args; } @P@_launch;
typedef struct {
    const char *ptx;
    int nslots;
    const int64_t *nbytes;      /* per slot */
    const int *upload;          /* per slot: copied host -> device before the step */
    const int *download;        /* per slot: copied device -> host after the step */
    const int64_t *temp_offset; /* per slot: offset in the arena, or -1 */
    int64_t arena_bytes;
    int err_slot;               /* -1 without index checks */
    int nlaunches, first_assign_launch;
    const @P@_launch *launches;
} @P@_graph;

typedef struct { int loaded; void *module; void **functions; CUdeviceptr *device; CUdeviceptr arena; } @P@_state;

static int @P@_load(const @P@_graph *g, @P@_state *s) {
    static void *fn_store[4096];
    static int fn_used;
    static CUdeviceptr ptr_store[8192];
    static int ptr_used;
    if (fn_used + g->nlaunches > 4096 || ptr_used + g->nslots > 8192) {
        snprintf(@P@_error, sizeof @P@_error, "too many kernels or buffers for the CUDA host code");
        @P@_failed = 1;
        return -1;
    }
    @P@_CHECK("cuModuleLoadData", @P@_cu.ModuleLoadData(&s->module, g->ptx));
    s->functions = fn_store + fn_used;
    fn_used += g->nlaunches;
    for (int i = 0; i < g->nlaunches; i++)
        @P@_CHECK("cuModuleGetFunction", @P@_cu.ModuleGetFunction(&s->functions[i], s->module, g->launches[i].name));
    @P@_CHECK("cuMemAlloc", @P@_cu.MemAlloc(&s->arena, (size_t)g->arena_bytes + @ALIGN@));
    CUdeviceptr base = (s->arena + @ALIGN@ - 1) / @ALIGN@ * @ALIGN@;
    s->device = ptr_store + ptr_used;
    ptr_used += g->nslots;
    for (int i = 0; i < g->nslots; i++) {
        if (g->temp_offset[i] >= 0) s->device[i] = base + (CUdeviceptr)g->temp_offset[i];
        else @P@_CHECK("cuMemAlloc", @P@_cu.MemAlloc(&s->device[i], g->nbytes[i] ? (size_t)g->nbytes[i] : 1));
    }
    s->loaded = 1;
    return 0;
}

static int @P@_launch_range(const @P@_graph *g, @P@_state *s, int from, int to) {
    void *params[256];
    for (int i = from; i < to; i++) {
        const @P@_launch *l = &g->launches[i];
        CUdeviceptr values[256];
        for (int a = 0; a < l->nargs; a++) { values[a] = s->device[l->args[a]]; params[a] = &values[a]; }
        @P@_CHECK(l->name, @P@_cu.LaunchKernel(s->functions[i], l->grid[0], l->grid[1], l->grid[2], l->block[0],
                                              l->block[1], l->block[2], l->shared, NULL, params, NULL));
    }
    return 0;
}

static int @P@_run(const @P@_graph *g, @P@_state *s, void **table) {
    if (@P@_init() != 0) return -1;
    if (!s->loaded && @P@_load(g, s) != 0) return -1;
    for (int i = 0; i < g->nslots; i++)
        if (g->upload[i] && g->nbytes[i]) @P@_CHECK("cuMemcpyHtoD", @P@_cu.MemcpyHtoD(s->device[i], table[i], (size_t)g->nbytes[i]));
    if (g->err_slot >= 0) @P@_CHECK("cuMemsetD8", @P@_cu.MemsetD8(s->device[g->err_slot], 0, 8));
    if (@P@_launch_range(g, s, 0, g->first_assign_launch) != 0) return -1;
    if (g->err_slot >= 0) {
        @P@_CHECK("cuMemcpyDtoH", @P@_cu.MemcpyDtoH(table[g->err_slot], s->device[g->err_slot], 8));
        if (*(int64_t *)table[g->err_slot] != 0) return 0;  /* an index check failed: no updates */
    }
    if (@P@_launch_range(g, s, g->first_assign_launch, g->nlaunches) != 0) return -1;
    for (int i = 0; i < g->nslots; i++)
        if (g->download[i] && g->nbytes[i]) @P@_CHECK("cuMemcpyDtoH", @P@_cu.MemcpyDtoH(table[i], s->device[i], (size_t)g->nbytes[i]));
    @P@_CHECK("cuCtxSynchronize", @P@_cu.CtxSynchronize());
    return 0;
}
"""


def _graph_source(prefix: str, index: int, graph: Graph, arch: str) -> tuple[str, CudaCompiledGraph]:
    program = lower(graph)
    module = build_ptx(program, arch, f"{prefix}_g{index}")
    symbol = f"{prefix}__g{index}"
    slots = {b.name: n for n, b in enumerate(program.buffers)}
    plan = graph.meta.get("memory_plan")
    planned = plan.offsets if plan is not None else {}
    total = plan.arena_bytes if plan is not None else 0
    offsets: dict[str, int] = {}
    for b in program.buffers:
        if b.kind == "temp":
            if b.node in planned:
                offsets[b.name] = planned[b.node]
            else:
                offsets[b.name] = total
                total += -(-max(b.nbytes, 1) // _ALIGN) * _ALIGN
    assigned = {a.inputs[0] for a in graph.assigns}
    upload = [int(b.kind == "placeholder") for b in program.buffers]
    download = [int(b.kind == "output" or (b.kind == "placeholder" and b.node in assigned)) for b in program.buffers]
    kernel_order = {k.name: i for i, k in enumerate(program.kernels)}
    first_assign = program.meta.get("first_assign", len(program.kernels))
    split = next((i for i, launch in enumerate(module.launches) if kernel_order[launch.kernel] >= first_assign),
                 len(module.launches))
    if any(len(la.buffers) > 256 for la in module.launches):
        raise ExportError("a kernel of this graph takes more than 256 buffers, more than the CUDA host code passes",
                          fix="report this graph; splitting its fused kernels avoids the limit")
    g = f"{symbol}_"
    lines = [f"static const char {g}ptx[] =\n{_c_string(module.text)};"]
    for i, launch in enumerate(module.launches):
        args = ", ".join(str(slots[n]) for n in launch.buffers) or "0"
        lines.append(f"static const int {g}args{i}[] = {{{args}}};")
    launches = ",\n    ".join(
        f'{{"{la.name}", {{{la.grid[0]}, {la.grid[1]}, {la.grid[2]}}}, {{{la.block[0]}, {la.block[1]}, {la.block[2]}}}, '
        f"{la.shared}, {len(la.buffers)}, {g}args{i}}}" for i, la in enumerate(module.launches))
    lines.append(f"static const {prefix}_launch {g}launches[] = {{\n    {launches or '{0}'}\n}};")

    def array(ctype, name, values):
        lines.append(f"static const {ctype} {g}{name}[] = {{{', '.join(str(v) for v in values) or '0'}}};")

    array("int64_t", "nbytes", [b.nbytes for b in program.buffers])
    array("int", "upload", upload)
    array("int", "download", download)
    array("int64_t", "temp_offset", [offsets.get(b.name, -1) for b in program.buffers])
    err = slots.get("err", -1)
    lines.append(f"static const {prefix}_graph {g}graph = {{{g}ptx, {len(program.buffers)}, {g}nbytes, {g}upload, "
                 f"{g}download, {g}temp_offset, {total}, {err}, {len(module.launches)}, {split}, {g}launches}};")
    lines.append(f"static {prefix}_state {g}state;")
    lines.append(f"void {symbol}(void **table) {{\n    {prefix}_failed = 0;\n    pthread_mutex_lock(&{prefix}_lock);\n"
                 f"    {prefix}_run(&{g}graph, &{g}state, table);\n    pthread_mutex_unlock(&{prefix}_lock);\n}}")
    compiled = CudaCompiledGraph(symbol, list(program.buffers), offsets, total, list(program.meta.get("errors", [])),
                                 module.text)
    return "\n".join(lines) + "\n", compiled


def host_source(prefix: str, graphs: list[Graph], arch: str = DEFAULT_ARCH) -> tuple[str, list[CudaCompiledGraph]]:
    """C source defining ``<prefix>__g<i>(void **table)`` per graph and ``<prefix>__cuda_error()``."""
    parts = [_DRIVER.replace("@P@", prefix).replace("@ALIGN@", str(_ALIGN))]
    compiled = []
    for i, graph in enumerate(graphs):
        src, c = _graph_source(prefix, i, graph, arch)
        parts.append(src)
        compiled.append(c)
    return "\n".join(parts), compiled


def compile_graphs_cuda(prefix: str, graphs: list[Graph], arch: str = DEFAULT_ARCH,
                        cc: str | None = None) -> tuple[bytes, list[CudaCompiledGraph]]:
    """Object code (the host C above, compiled with the system C compiler) and the layouts.

    The object needs ``-ldl`` (for dlopen) and ``-lpthread`` where libc does not include them.
    """
    cc = cc or next((c for c in ("cc", "gcc", "clang") if shutil.which(c)), None)
    if cc is None:
        raise ExportError("exporting for CUDA needs a C compiler and none was found (tried cc, gcc, clang)",
                          fix="install gcc (apt-get install gcc) or set CC to a C compiler")
    source, compiled = host_source(prefix, graphs, arch)
    with tempfile.TemporaryDirectory(prefix=f"graphc-cuda-{prefix}-") as tmp:
        c_file = Path(tmp) / "cuda_host.c"
        c_file.write_text(source)
        obj = Path(tmp) / "cuda_host.o"
        r = subprocess.run([cc, "-O2", "-fPIC", "-std=gnu11", "-Wall", "-c", str(c_file), "-o", str(obj)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise ExportError(f"compiling the CUDA host code failed:\n{r.stderr[-4000:]}",
                              fix="this is a graphc bug if your C compiler works; please report it with this output")
        return obj.read_bytes(), compiled
