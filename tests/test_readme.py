"""The README's commands and quick start are what they claim to be."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _section(title: str) -> str:
    return README.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_first_command_sets_up_and_runs_the_demo():
    first = re.search(r"```sh\n(.*?)\n```", README, re.S).group(1)
    assert first == "python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/graphc demo"


def test_quick_start_trains_the_digits_to_high_accuracy():
    code = re.search(r"```python\n(.*?)```", _section("Quick start"), re.S).group(1)
    namespace = {"__name__": "quick_start"}
    exec(compile(code, "README.md", "exec"), namespace)
    torch, model = namespace["torch"], namespace["model"]
    from graphc.datasets import digits

    x, y = digits(train=False).tensors()
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    assert accuracy >= 0.93
    assert namespace["train_step"].compile_count <= 2


def test_benchmarks_section_links_the_performance_page():
    assert "docs/performance.md" in _section("Benchmarks")
