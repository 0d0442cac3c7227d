"""The distribution's shape: package mapping, import names, and the layering of DESIGN.md."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"graphc": "graphc", "passes": "graphc.passes", "runtime": "graphc.runtime"}


def _package_name(folder: Path) -> str:
    rel = folder.relative_to(ROOT).parts
    return ".".join([FOLDERS[rel[0]], *rel[1:]])


def test_every_package_folder_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {_package_name(p.parent) for top in FOLDERS for p in (ROOT / top).rglob("__init__.py")}
    assert found == listed, f"pyproject's packages list is stale: missing {found - listed}, extra {listed - found}"


def test_no_generic_top_level_import_names(tmp_path):
    code = "import importlib.util as u, graphc.passes, graphc.runtime; print(u.find_spec('passes'), u.find_spec('runtime'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["None", "None"]


def _graphc_imports(path: Path) -> set[str]:
    """Absolute graphc modules a file imports (relative imports resolved against its package)."""
    package = _package_name(path.parent)
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                names.add(".".join(base + ([node.module] if node.module else [])))
            else:
                names.add(node.module)
    return {n for n in names if n == "graphc" or n.startswith("graphc.")}


def _layer(module: str) -> str:
    for prefix in ("graphc.ir", "graphc.passes", "graphc.runtime"):
        if module == prefix or module.startswith(prefix + "."):
            return prefix
    return "front end"


ALLOWED = {
    "graphc.ir": {"graphc.ir"},
    "graphc.passes": {"graphc.ir", "graphc.passes"},
    "graphc.runtime": {"graphc.ir", "graphc.runtime"},
}


def test_layers_never_import_upwards():
    problems = []
    for top in FOLDERS:
        for path in (ROOT / top).rglob("*.py"):
            layer = _layer(_package_name(path.parent))
            if layer == "front end":
                continue
            for name in _graphc_imports(path):
                if _layer(name) not in ALLOWED[layer]:
                    problems.append(f"{path.relative_to(ROOT)} ({layer}) imports {name}")
    assert not problems, "layering violations (see DESIGN.md section 2):\n" + "\n".join(problems)


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = ci.strip().splitlines()[-1]
    assert command in readme, "the README's test command and .ci/run's must be the same"
    assert os.access(ROOT / ".ci" / "run", os.X_OK), ".ci/run must be executable"
