"""Shared by the export tests: build C programs against an exported library and run them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from graphc.runtime.export.writer import find_compiler

CC = find_compiler()
needs_cc = pytest.mark.skipif(CC is None, reason="no C compiler (cc, gcc or clang) on this machine")
needs_valgrind = pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")


def build_program(lib_dir: Path, name: str, source: str, prog: str, defines: dict | None = None,
                  extra_flags: tuple = (), libs: tuple = ("-lm", "-lpthread")) -> Path:
    """Compile ``source`` against ``<name>.h`` and link it with ``lib<name>.a``."""
    src = lib_dir / f"{prog}.c"
    src.write_text(source)
    flags = [f"-D{k}={v}" for k, v in (defines or {}).items()]
    cmd = [CC, "-O1", "-g", "-Wall", "-Werror", *extra_flags, *flags, "-I", str(lib_dir), "-o", str(lib_dir / prog), str(src),
           str(lib_dir / f"lib{name}.a"), *libs]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return lib_dir / prog


def run(cmd, cwd=None, check=True) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd, timeout=600)
    if check:
        assert result.returncode == 0, f"{cmd} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result
