"""The export half of ``graphc demo``: the trained CNN as a C library, used from a C program.

``graphc.export`` writes ``libdigits.so`` / ``libdigits.a``, ``digits.h`` and
``digits.safetensors`` (see docs/export.md). This module then writes ``predict_digits.c``, a
program with a few test digits in it that calls, through the header::

    digits_model *m = digits_create();
    digits_load(m, "digits.safetensors");
    digits_forward(m, images, logits);          /* int: 0 or an error code */
    digits_destroy(m);

builds it with the system compiler and compares its predictions with Python's.
"""

from __future__ import annotations

from pathlib import Path

import graphc
from graphc.c_program import build_c_program, run_program

__all__ = ["export_and_run_c", "C_IMAGES", "c_source"]

NAME = "digits"
C_IMAGES = 8          # the exported forward takes a batch of this many 8x8 images

PROGRAM = """\
/* predict_digits.c: written by `graphc demo`. Classifies {n} test digits with the exported CNN.
   Build: cc -I. -o predict_digits predict_digits.c -L. -l{name} -lm   Run: ./predict_digits {name}.safetensors */
#include <stdio.h>
#include "{name}.h"

#define N {n}
static const float images[N * 64] = {{
{images}
}};
static const int labels[N] = {{ {labels} }};

int main(int argc, char **argv) {{
    {name}_model *m = {name}_create();
    if (!m) {{ fprintf(stderr, "{name}_create failed\\n"); return 1; }}
    if (argc > 1 && {name}_load(m, argv[1]) != 0) {{
        fprintf(stderr, "{name}_load: %s\\n", {name}_last_error(m)); {name}_destroy(m); return 1;
    }}
    float logits[N * 10];
    if ({name}_forward(m, images, logits) != 0) {{
        fprintf(stderr, "{name}_forward: %s\\n", {name}_last_error(m)); {name}_destroy(m); return 1;
    }}
    for (int i = 0; i < N; i++) {{
        int best = 0;
        for (int k = 1; k < 10; k++)
            if (logits[i * 10 + k] > logits[i * 10 + best]) best = k;
        printf("%d %d\\n", labels[i], best);
    }}
    {name}_destroy(m);
    return 0;
}}
"""


def c_source(images, labels, name: str = NAME) -> str:
    """The C program for ``images`` (float32 ``[N, 1, 8, 8]`` tensor) and their ``labels``."""
    rows = [", ".join(f"{v:.4f}f" for v in image.reshape(64).tolist()) for image in images.numpy()]
    return PROGRAM.format(n=len(rows), name=name, images=",\n".join(f"    {r}" for r in rows),
                          labels=", ".join(str(int(v)) for v in labels.tolist()))


def export_and_run_c(model, out: Path, images, labels, stream) -> tuple[list[int], dict[str, Path]]:
    """Export ``model``'s forward into ``out``, build the C program for ``images``, run it.

    Returns the C program's predictions and the files written by role.
    """
    out.mkdir(parents=True, exist_ok=True)
    out = out.resolve()                       # the report names every file by its full path
    forward = graphc.compile(model)
    forward(images)                           # compiled for this batch shape before exporting
    graphc.export({"forward": forward}, out, name=NAME, example_inputs={"forward": (images,)})
    source = out / "predict_digits.c"
    source.write_text(c_source(images, labels))
    exe = build_c_program(source, out, NAME, out / "predict_digits")
    lines = run_program(exe.resolve(), f"{NAME}.safetensors", cwd=out).split()
    predictions = [int(v) for v in lines[1::2]]
    files = {"library": out / f"lib{NAME}.so", "static library": out / f"lib{NAME}.a", "header": out / f"{NAME}.h",
             "weights": out / f"{NAME}.safetensors", "export's example": out / f"{NAME}_main.c",
             "C program": source, "executable": exe}
    return predictions, {role: path for role, path in files.items() if path.exists()}
