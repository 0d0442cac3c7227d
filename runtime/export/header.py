"""The public face of an exported library: ``<name>.h`` and the example program ``<name>_main.c``."""

from __future__ import annotations

from .spec import ExportSpec, FunctionSpec
from .tables import C_TYPE, ERROR_CODES

FILE_FORMATS = """\
 * Files the example program reads and writes: an input or output tensor is its elements in
 * row-major order, little-endian, with nothing before or after (numpy's arr.tofile(path) and
 * np.fromfile(path, dtype).reshape(shape)). Weights files are safetensors: parameters and module
 * buffers under their state_dict names ("fc1.weight", "bn1.running_mean"), optimizer state under
 * "optimizer.<parameter>.<state>" ("optimizer.fc1.weight.momentum_buffer"); the metadata holds
 * the hyperparameters' values ("hyper.param_groups.0.lr")."""


def signature(name: str, fn: FunctionSpec) -> str:
    args = [f"{name}_model *m"]
    args += [f"const {C_TYPE[t.dtype]} *{t.name}" for t in fn.inputs]
    args += [f"{C_TYPE[t.dtype]} *{t.name}" for t in fn.outputs]
    return f"int {name}_{fn.name}({', '.join(args)})"


def _shape(t) -> str:
    return f"{C_TYPE[t.dtype]}[{', '.join(map(str, t.shape))}]" if t.shape else f"{C_TYPE[t.dtype]} (one value)"


def header(spec: ExportSpec) -> str:
    name = spec.name
    guard = f"{name.upper()}_H"
    libs = " ".join(spec.libs)
    lines = [f"/* {name}.h: the C interface of the model exported by graphc as lib{name}.so / lib{name}.a.",
             " *",
             " * Build a program against it:",
             f" *     cc -O2 -o prog prog.c lib{name}.a {libs}",
             f" * or with the shared library: cc -O2 -o prog prog.c -L. -l{name} {libs}",
             " *",
             f" * A {name}_model holds the weights, module buffers and optimizer state; {name}_create starts",
             " * it from the values they had at export time (embedded in the library). Every function",
             f" * returns 0 on success and one of the {name.upper()}_ERR_* codes otherwise, and then",
             f" * {name}_last_error(m) says why. A failed call changes nothing. Calls on one model must not",
             " * overlap; separate models are independent.",
             " *",
             *([f" * Target: CUDA ({spec.arch}). The functions run on the first CUDA GPU through the driver API",
                " * (libcuda.so.1, opened at run time; the library links only libc, libdl, libpthread and libm).",
                " * Pointers are host memory: each call copies its inputs and the model's tensors to the GPU and",
                " * the results back. Calls run one at a time across models. Without a usable GPU or driver a",
                f" * function returns {name.upper()}_ERR_DEVICE and {name}_last_error says why.",
                " *"] if spec.target == "cuda" else []),
             " * Functions (inputs, then outputs, each a pointer to contiguous row-major data):"]
    for fn in spec.functions:
        lines.append(f" *   {name}_{fn.name}:")
        if fn.doc:
            lines.append(f" *     {fn.doc}")
        for t in fn.inputs:
            lines.append(f" *     in  {t.name}: {_shape(t)}")
        for t in fn.outputs:
            lines.append(f" *     out {t.name}: {_shape(t)}")
    lines.append(" *")
    lines.append(f" * Hyperparameters ({name}_set_hyperparameter), with their export-time values:")
    for h in spec.hypers:
        also = f" (also set by {', '.join(repr(a) for a in h.aliases)})" if h.aliases else ""
        lines.append(f' *   "{h.key}" = {h.value!r}{also}')
    if not spec.hypers:
        lines.append(" *   none")
    lines.append(" * A key without \"param_groups.N.\" sets that option in every parameter group.")
    if spec.fixed:
        lines.append(" * Fixed at export (their value shaped the compiled code; export again to change them):")
        lines.append(" *   " + ", ".join(f'"{k}"' for k in spec.fixed))
    lines.append(" *")
    lines += FILE_FORMATS.splitlines()
    lines.append(" */")
    lines += [f"#ifndef {guard}", f"#define {guard}", "", "#include <stdbool.h>", "#include <stdint.h>", "",
              "#ifdef __cplusplus", 'extern "C" {', "#endif", "", "enum {", f"    {name.upper()}_OK = 0,"]
    for i, (code, what) in enumerate(ERROR_CODES):
        lines.append(f"    {name.upper()}_ERR_{code} = {i + 1}, /* {what} */")
    lines += ["};", "",
              f"typedef struct {name}_model {name}_model;", "",
              f"{name}_model *{name}_create(void); /* a model holding the embedded weights; NULL on failure */",
              f"void {name}_destroy({name}_model *m);",
              f"int {name}_load({name}_model *m, const char *safetensors_path); /* 0 on success */",
              f"int {name}_save({name}_model *m, const char *safetensors_path); /* weights and optimizer state; atomic */",
              f"int {name}_set_hyperparameter({name}_model *m, const char *key, double value);",
              f"const char *{name}_last_error(const {name}_model *m); /* also after a NULL model or failed create */",
              ""]
    for fn in spec.functions:
        lines.append(signature(name, fn) + ";")
    lines += ["", "#ifdef __cplusplus", "}", "#endif", f"#endif /* {guard} */", ""]
    return "\n".join(lines)


def wrappers(spec: ExportSpec) -> str:
    """The exported functions' definitions, each binding its pointers and calling ``nm_call``."""
    out = []
    for f, fn in enumerate(spec.functions):
        ins = ", ".join(t.name for t in fn.inputs) or "NULL"
        outs = ", ".join(t.name for t in fn.outputs) or "NULL"
        out.append(f"{signature(spec.name, fn)} {{\n    const void *const in[] = {{{ins}}};\n"
                   f"    void *const out[] = {{{outs}}};\n    return nm_call(m, {f}, in, out);\n}}\n")
    return "\n".join(out)


def example_program(spec: ExportSpec) -> str:
    """``<name>_main.c``: run any exported function N times on inputs read from binary files."""
    name = spec.name
    usage = [f"usage: {name} FUNCTION [-n STEPS] [-w WEIGHTS] [-s SAVE] [-p KEY=VALUE]... INPUTS... OUTPUTS...",
             "  FUNCTION  one of: " + ", ".join(fn.name for fn in spec.functions),
             "  -n STEPS  call it STEPS times (default 1); outputs are those of the last call,",
             "            and one-value outputs are printed after every call",
             "  -w FILE   load weights and optimizer state from FILE (safetensors) first",
             "  -s FILE   save them to FILE at the end",
             "  -p K=V    set hyperparameter K ('lr', 'param_groups.1.lr', ...) to V first",
             "  INPUTS and OUTPUTS: one raw little-endian file per tensor, in the order of the header"]
    cases = []
    for fn in spec.functions:
        body = [f'    if (strcmp(fn, "{fn.name}") == 0) {{',
                f"        if (nfiles != {len(fn.inputs) + len(fn.outputs)}) return usage_error(\"{fn.name} takes "
                f"{len(fn.inputs)} input and {len(fn.outputs)} output files\");"]
        args = []
        for i, t in enumerate(fn.inputs):
            n = _numel(t.shape)
            body.append(f"        {C_TYPE[t.dtype]} *in{i} = malloc({n} * sizeof *in{i} + 1);")
            body.append(f"        if (!in{i} || read_tensor(files[{i}], in{i}, {n} * sizeof *in{i})) return 1;")
            args.append(f"in{i}")
        for i, t in enumerate(fn.outputs):
            n = _numel(t.shape)
            body.append(f"        {C_TYPE[t.dtype]} *out{i} = malloc({n} * sizeof *out{i} + 1);")
            body.append(f"        if (!out{i}) return 1;")
            args.append(f"out{i}")
        body.append("        for (long step = 0; step < steps; step++) {")
        body.append(f"            if ({name}_{fn.name}({', '.join(['m', *args])}) != 0) {{")
        body.append(f'                fprintf(stderr, "{name}: %s\\n", {name}_last_error(m));')
        body.append("                return 1;")
        body.append("            }")
        scalars = [(i, t) for i, t in enumerate(fn.outputs) if _numel(t.shape) == 1]
        if scalars:
            fmt = " ".join(f"{t.name}=%.9g" if t.dtype in ("f32", "f64") else f"{t.name}=%lld" for _, t in scalars)
            vals = ", ".join(f"(double)out{i}[0]" if t.dtype in ("f32", "f64") else f"(long long)out{i}[0]"
                             for i, t in scalars)
            body.append(f'            printf("step %ld: {fmt}\\n", step + 1, {vals});')
        body.append("        }")
        for i, t in enumerate(fn.outputs):
            body.append(f"        if (write_tensor(files[{len(fn.inputs) + i}], out{i}, {_numel(t.shape)} * sizeof *out{i})) return 1;")
        for i in range(len(fn.inputs)):
            body.append(f"        free(in{i});")
        for i in range(len(fn.outputs)):
            body.append(f"        free(out{i});")
        body.append("        return 0;")
        body.append("    }")
        cases += body
    usage_c = "\n".join(f'            "{u}\\n"' for u in usage)
    usage_comment = "\n".join(f" * {u}" for u in usage)
    return f"""/* {name}_main.c: runs the exported model {name} on tensors read from files.
 * Build: cc -O2 -o {name} {name}_main.c lib{name}.a {" ".join(spec.libs)}
 *
{usage_comment}
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "{name}.h"

static int usage_error(const char *why) {{
    fprintf(stderr, "{name}: %s\\n%s", why,
{usage_c});
    return 2;
}}

static int read_tensor(const char *path, void *data, size_t nbytes) {{
    FILE *f = fopen(path, "rb");
    if (!f) {{
        perror(path);
        return 1;
    }}
    size_t got = fread(data, 1, nbytes, f);
    int extra = fgetc(f) != EOF;
    fclose(f);
    if (got != nbytes || extra) {{
        fprintf(stderr, "{name}: %s holds %s bytes than the %zu the tensor needs\\n", path, extra ? "more" : "fewer", nbytes);
        return 1;
    }}
    return 0;
}}

static int write_tensor(const char *path, const void *data, size_t nbytes) {{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(data, 1, nbytes, f) == nbytes;
    if (f && fclose(f) != 0) ok = 0;
    if (!ok) perror(path);
    return !ok;
}}

static int run(const char *fn, {name}_model *m, long steps, char **files, int nfiles) {{
{chr(10).join(cases)}
    return usage_error("unknown function");
}}

int main(int argc, char **argv) {{
    long steps = 1;
    const char *weights = NULL, *save = NULL;
    if (argc < 2) return usage_error("no function named");
    {name}_model *m = {name}_create();
    if (!m) {{
        fprintf(stderr, "{name}: %s\\n", {name}_last_error(NULL));
        return 1;
    }}
    int i = 2, code = 0;
    for (; i + 1 < argc && argv[i][0] == '-' && argv[i][1] && !argv[i][2]; i += 2) {{
        char opt = argv[i][1];
        const char *val = argv[i + 1];
        if (opt == 'n') {{
            steps = strtol(val, NULL, 10);
            if (steps < 1) {{
                code = usage_error("-n takes a positive number of steps");
                goto done;
            }}
        }} else if (opt == 'w') {{
            weights = val;
        }} else if (opt == 's') {{
            save = val;
        }} else if (opt == 'p') {{
            const char *eq = strchr(val, '=');
            char key[256];
            if (!eq || (size_t)(eq - val) >= sizeof key) {{
                code = usage_error("-p takes KEY=VALUE");
                goto done;
            }}
            memcpy(key, val, (size_t)(eq - val));
            key[eq - val] = 0;
            if ({name}_set_hyperparameter(m, key, strtod(eq + 1, NULL)) != 0) {{
                fprintf(stderr, "{name}: %s\\n", {name}_last_error(m));
                code = 1;
                goto done;
            }}
        }} else {{
            code = usage_error("unknown option");
            goto done;
        }}
    }}
    if (weights && {name}_load(m, weights) != 0) {{
        fprintf(stderr, "{name}: %s\\n", {name}_last_error(m));
        code = 1;
        goto done;
    }}
    code = run(argv[1], m, steps, argv + i, argc - i);
    if (code == 0 && save && {name}_save(m, save) != 0) {{
        fprintf(stderr, "{name}: %s\\n", {name}_last_error(m));
        code = 1;
    }}
done:
    {name}_destroy(m);
    return code;
}}
"""


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n
