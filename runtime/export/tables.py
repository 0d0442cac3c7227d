"""The generated half of an exported library's C source: the tables ``model_runtime.c`` reads.

A ``blob`` (one binary file, embedded with ``.incbin``) holds the export-time weights as a
safetensors image, then the initial values of the other buffers and the graphs' constants,
each 64-byte aligned; the tables point into it by offset.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from graphc.ir.errors import ExportError

from .native import CompiledGraph
from .spec import ExportSpec

DTYPE_CODE = {"f32": 0, "f64": 1, "i64": 2, "i32": 3, "bool": 4}
C_TYPE = {"f32": "float", "f64": "double", "i64": "int64_t", "i32": "int32_t", "bool": "bool"}
NP_DTYPE = {"f32": np.float32, "f64": np.float64, "i64": np.int64, "i32": np.int32, "bool": np.bool_}
ERROR_CODES = [("NULL", "a NULL model, pointer or key"), ("IO", "a file that cannot be opened, read or written"),
               ("FORMAT", "a file that is not valid safetensors"),
               ("MISMATCH", "a weights file whose names, shapes or dtypes do not match the model"),
               ("KEY", "an unknown or fixed hyperparameter key"),
               ("CHECK", "a native check failed (an index out of range); nothing was updated"),
               ("MEMORY", "out of memory"),
               ("DEVICE", "the CUDA GPU is missing or failed (CUDA exports); the step did not run to completion")]
MAX_DIMS = 8


def c_string(text: str) -> str:
    """A C string literal for ``text`` (JSON's escapes are C's for what names hold)."""
    return json.dumps(text, ensure_ascii=True)


class Blob:
    def __init__(self):
        self.parts: list[bytes] = []
        self.size = 0

    def add(self, data: bytes) -> int:
        pad = -self.size % 64
        self.parts.append(b"\0" * pad)
        offset = self.size + pad
        self.parts.append(data)
        self.size = offset + len(data)
        return offset

    def write(self, path: Path) -> None:
        path.write_bytes(b"".join(self.parts) + b"\0" * 64)


def model_tables(spec: ExportSpec, compiled: list[CompiledGraph], blob_path: Path) -> str:
    """C definitions of every table, writing the blob they point into to ``blob_path``."""
    name = spec.name
    blob = Blob()
    weights = spec.weights_image
    blob.add(weights)
    out = [f"#define NM_EMBEDDED_SIZE {len(weights)}u",
           f"#define NM_NBUF {len(spec.buffers)}", f"#define NM_NLAYOUT {len(spec.layouts)}",
           f"#define NM_NHYPER {len(spec.hypers)}", f"#define NM_NGRAPH {len(spec.graphs)}",
           f"#define NM_NFN {len(spec.functions)}", f"#define NM_INITIAL_PHASE {spec.initial_phase}",
           f"#define NM_ARENA_BYTES {max([c.arena_bytes for c in compiled] + [64])}u",
           f'__asm__(".section .rodata\\n.balign 64\\n.globl {name}__blob\\n.hidden {name}__blob\\n'
           f'{name}__blob:\\n.incbin \\"{_asm_path(blob_path)}\\"\\n.previous\\n");',
           f"extern const unsigned char {name}__blob[];"]
    bufs = []
    for b in spec.buffers:
        if len(b.shape) > MAX_DIMS:
            raise ExportError(f"tensor {b.name} has {len(b.shape)} dimensions; export handles at most {MAX_DIMS}")
        data = np.ascontiguousarray(b.initial, NP_DTYPE[b.dtype])
        init = f"{name}__blob + {blob.add(data.tobytes())}" if data.any() else "NULL"
        dims = ", ".join(str(int(s)) for s in b.shape) or "0"
        bufs.append(f"    {{{c_string(b.name)}, {c_string(json.dumps(b.name)[1:-1])}, {DTYPE_CODE[b.dtype]}, "
                    f"{len(b.shape)}, {{{dims}}}, {data.nbytes}, {int(b.saved)}, {init}}},")
    out.append("static const nm_buf NM_BUF[NM_NBUF + 1] = {\n" + "\n".join(bufs) + "\n};")
    for i, members in enumerate(spec.layouts):
        out.append(f"static const int NM_LAYOUT{i}[] = {{{', '.join(map(str, members)) or '-1'}}};")
    out.append("static const nm_layout NM_LAYOUT[NM_NLAYOUT] = {"
               + ", ".join(f"{{{len(m)}, NM_LAYOUT{i}}}" for i, m in enumerate(spec.layouts)) + "};")
    out.append("static const nm_hyper NM_HYPER[NM_NHYPER + 1] = {"
               + "".join(f"{{{c_string(h.key)}, {float(h.value).hex()}}}, " for h in spec.hypers) + "{NULL, 0}};")
    aliases: dict[str, list[int]] = {}
    for i, h in enumerate(spec.hypers):
        for key in [h.key, *h.aliases]:
            aliases.setdefault(key, []).append(i)
    for a, members in enumerate(aliases.values()):
        out.append(f"static const int NM_ALIAS{a}[] = {{{', '.join(map(str, members))}}};")
    out.append(f"#define NM_NALIAS {len(aliases)}")
    out.append("static const nm_alias NM_ALIAS[NM_NALIAS + 1] = {"
               + "".join(f"{{{c_string(k)}, {len(m)}, NM_ALIAS{a}}}, " for a, (k, m) in enumerate(aliases.items()))
               + "{NULL, 0, NULL}};")
    out.append(f"#define NM_NFIXED {len(spec.fixed)}")
    out.append("static const char *const NM_FIXED[NM_NFIXED + 1] = {"
               + "".join(f"{c_string(k)}, " for k in spec.fixed) + "NULL};")
    for g, (gs, cg) in enumerate(zip(spec.graphs, compiled)):
        out.append(f"void {cg.symbol}(void **table);")
        out.append(f"static const nm_slot NM_SLOTS{g}[] = {{\n" + "\n".join(
            f"    {s}," for s in _slots(gs, cg, blob)) + "\n    {0, 0, 0}\n};")
        out.append(f"static const char *const NM_ERRORS{g}[] = {{"
                   + "".join(f"{c_string(e)}, " for e in cg.errors) + "NULL};")
    out.append("static const nm_graph NM_GRAPH[NM_NGRAPH] = {\n" + "\n".join(
        f"    {{{cg.symbol}, {len(cg.buffers)}, NM_SLOTS{g}, {len(cg.errors)}, NM_ERRORS{g}, {gs.next_phase}}},"
        for g, (gs, cg) in enumerate(zip(spec.graphs, compiled))) + "\n};")
    for f, fn in enumerate(spec.functions):
        out.append(f"static const char *const NM_SLOT_IN{f}[] = {{" + "".join(f"{c_string(t.name)}, " for t in fn.inputs)
                   + "NULL};")
        out.append(f"static const char *const NM_SLOT_OUT{f}[] = {{" + "".join(f"{c_string(t.name)}, " for t in fn.outputs)
                   + "NULL};")
    out.append("static const nm_fn NM_FN[NM_NFN] = {\n" + "\n".join(
        f"    {{{c_string(fn.name)}, {len(fn.inputs)}, {len(fn.outputs)}, NM_SLOT_IN{f}, NM_SLOT_OUT{f}, "
        f"{{{', '.join(map(str, fn.graphs))}}}}}," for f, fn in enumerate(spec.functions)) + "\n};")
    blob.write(blob_path)
    return "\n".join(out) + "\n"


def _slots(gs, cg: CompiledGraph, blob: Blob) -> list[str]:
    rows = []
    graph = gs.graph
    for b in cg.buffers:
        if b.kind == "placeholder":
            kind, index = gs.bindings[b.index]
            if kind == "input":
                rows.append(f"{{NM_SLOT_IN, {index}, 0}}")
            elif kind == "buffer":
                rows.append(f"{{NM_SLOT_PERSIST, {index}, 0}}")
            elif kind == "hyper":
                rows.append(f"{{NM_SLOT_HYPER, {index}, {DTYPE_CODE[b.dtype]}}}")
            else:
                p = graph.placeholders[b.index]
                value = np.ascontiguousarray(np.asarray(graph.const_values[p]), NP_DTYPE[b.dtype])
                rows.append(f"{{NM_SLOT_CONST, {blob.add(value.tobytes())}, 0}}")
        elif b.kind == "output":
            rows.append(f"{{NM_SLOT_OUT, {b.index}, 0}}")
        elif b.kind == "temp":
            rows.append(f"{{NM_SLOT_TEMP, {cg.temp_offsets[b.name]}, 0}}")
        else:
            rows.append("{NM_SLOT_ERR, 0, 0}")
    return rows


def _asm_path(path: Path) -> str:
    text = str(Path(path).resolve())
    if any(c in text for c in '"\\\n'):
        raise ExportError(f"the build folder {text} has a quote, backslash or newline in its name",
                          fix="export into a folder with a plainer path")
    return text
