"""docs/troubleshooting.md: every example program raises exactly the error text shown under it
(where the page writes ``...``, any text)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from unittest import mock

import pytest

import graphc

DOC = Path(__file__).resolve().parent.parent / "docs" / "troubleshooting.md"
PAIR = re.compile(r"```python\n(.*?)```\n\n```text\n(.*?)```", re.S)
EXAMPLES = PAIR.findall(DOC.read_text())


def test_the_page_has_an_example_of_every_error_kind():
    kinds = {text.split(":", 1)[0] for _, text in EXAMPLES}
    assert {"ShapeError", "DTypeError", "TraceError", "AutogradError", "GraphcValueError", "GraphcTypeError",
            "GraphcIndexError", "StateDictError", "CompileError", "IRError", "DeviceError",
            "DatasetNotFoundError", "ExportError"} <= kinds


@pytest.mark.parametrize("code, expected", EXAMPLES, ids=[t.split(":", 1)[0] + f"-{i}" for i, (_, t) in enumerate(EXAMPLES)])
def test_example_raises_the_documented_error(code, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with mock.patch.dict(os.environ), pytest.raises(graphc.GraphcError) as e:
        exec(compile(code, "example.py", "exec"), {"__name__": "example"})
    pattern = ".*".join(re.escape(part) for part in expected.rstrip("\n").split("..."))  # `...` varies
    got = f"{type(e.value).__name__}: {e.value}"
    assert re.fullmatch(pattern, got, re.S), f"the page says:\n{expected}\nthe code says:\n{got}"
