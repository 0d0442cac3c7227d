"""Build and run a C program against a library ``graphc.export`` wrote, with the system compiler.

Used by ``graphc demo`` and ``examples/export_c``; the compiler is ``$CC``, else ``cc``, ``gcc``
or ``clang`` on the PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from graphc.ir.errors import ExportError

__all__ = ["c_compiler", "build_c_program", "run_program"]


def c_compiler() -> str:
    """The C compiler to use; an ``ExportError`` saying how to get one when there is none."""
    for candidate in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if candidate and shutil.which(candidate.split()[0]):
            return candidate
    raise ExportError("no C compiler found (tried $CC, cc, gcc, clang)",
                      fix="install one (e.g. `apt-get install gcc`) or set CC to its path")


def build_c_program(source: Path, lib_dir: Path, name: str, exe: Path) -> Path:
    """Compile ``source`` against ``lib<name>.so`` (or ``lib<name>.a``) and ``<name>.h`` in ``lib_dir``."""
    given, lib_dir = Path(lib_dir), Path(lib_dir).resolve()
    if (lib_dir / f"lib{name}.so").is_file():
        link = [f"-L{lib_dir}", f"-l{name}", "-Wl,-rpath,$ORIGIN", f"-Wl,-rpath,{lib_dir}"]
    elif (lib_dir / f"lib{name}.a").is_file():
        link = [str(lib_dir / f"lib{name}.a"), "-lpthread"]
    else:
        raise ExportError(f"neither lib{name}.so nor lib{name}.a is in {given}",
                          fix="export the model into that folder first (graphc.export)")
    cmd = [*c_compiler().split(), "-O2", "-std=c99", f"-I{lib_dir}", "-o", str(exe), str(source), *link, "-lm"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise ExportError(f"building {Path(source).name} failed:\n{' '.join(cmd)}\n{done.stderr.strip()}",
                          fix="check the compiler's message above; the header is "
                              f"{lib_dir / (name + '.h')}")
    return Path(exe)


def run_program(exe: Path, *args: str, cwd: Path | None = None) -> str:
    """Run a built program; its stdout, or an ``ExportError`` with its stderr when it fails."""
    done = subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=cwd, timeout=120)
    if done.returncode != 0:
        raise ExportError(f"{Path(exe).name} exited with status {done.returncode}: {done.stderr.strip()}",
                          fix="the message comes from the exported library's <name>_last_error()")
    return done.stdout
