"""The benchmark's smoke run (what CI runs instead of the timing) and its checks and report.

No test here asserts a speed: timings on a test machine mean nothing. They check that the
harness runs end to end, refuses to time contenders that disagree, skips absent contenders
cleanly, holds each thread setting to its CPUs, and judges targets from the figures it is given.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from graphc.bench import child, report, runner, workloads
from graphc.bench.errors import Disagreement
from graphc.cli import build_parser


def test_quick_run_checks_agreement_then_prints_the_table(tmp_path, capfd):
    md, raw = tmp_path / "bench.md", tmp_path / "bench.json"
    rc = runner.main(["--quick", "--only", "mlp_b1,sgemm256", "--contenders", "graphc,eager", "--threads", "1",
                      "--rounds", "1", "--sample-ms", "1", "--no-compile-time", "--profile", "--markdown", str(md),
                      "--json", str(raw)])
    out, err = capfd.readouterr()
    assert rc == 0, err
    assert "mlp_b1     graphc         agrees with PyTorch eager" in err
    assert "sgemm256   graphc         agrees with numpy" in err
    assert "| workload | threads | contender | median | vs PyTorch eager | target | met |" in out
    assert md.read_text().strip() == out.strip()
    result = json.loads(raw.read_text())
    (run,) = result["runs"]
    assert run["thread_settings"]["cpus"] and len(run["thread_settings"]["cpus"]) == 1
    assert run["thread_settings"]["torch"] == 1
    rows = {(w["name"], c["name"]): c for w in run["workloads"] for c in w["contenders"]}
    assert set(rows) == {("mlp_b1", "graphc"), ("mlp_b1", "PyTorch eager"), ("sgemm256", "graphc"),
                         ("sgemm256", "numpy"), ("sgemm256", "PyTorch eager")}
    assert all(r["median_s"] > 0 for r in rows.values())
    # the batch-1 targets are judged on the graphc row
    assert "<= 10 us; >= 3x eager: " in out
    assert "GRAPHC_PROFILE=1, mlp_b1, 1 thread:" in out and "us/call" in out


def _fake(values_by_name: dict[str, list[float]]) -> workloads.Workload:
    w = workloads.Workload("fake", "a fake workload", workloads.EAGER, 1.0)
    for name, values in values_by_name.items():
        w.contenders.append(workloads.Contender(name, run=lambda: None, check=lambda v=values: np.array(v)))
    return w


def test_contenders_that_disagree_are_never_timed():
    w = _fake({workloads.EAGER: [2.30, 2.10, 1.90], "graphc": [2.30, 2.10, 1.95]})
    with pytest.raises(Disagreement, match="graphc disagree with PyTorch eager"):
        workloads.check_agreement(w)
    lines = workloads.check_agreement(_fake({workloads.EAGER: [2.3, 2.1], "graphc": [2.3, 2.1 + 1e-6]}))
    assert all("agrees" in line for line in lines)


def test_an_optional_contender_whose_check_fails_is_skipped_with_the_reason():
    def broken():
        raise RuntimeError("no C compiler found\nmore detail")

    w = _fake({workloads.EAGER: [1.0]})
    w.contenders.append(workloads.Contender("torch.compile", run=lambda: None, check=broken))
    workloads.check_agreement(w)
    assert w.contenders[1].skipped == "failed its first calls: RuntimeError: no C compiler found"


def test_absent_libraries_are_skipped_cleanly(monkeypatch):
    monkeypatch.setitem(sys.modules, "jax", None)  # `import jax` now raises ImportError
    monkeypatch.setitem(sys.modules, "torch", None)
    config = {"label": "in process", "threads": 1, "workloads": ["sgemm256"], "contenders": ["eager", "compile", "jax"],
              "rounds": 1, "sample_ms": 1.0, "warmup_s": 0.0}
    result = child.run_setting(config)
    rows = {c["name"]: c for c in result["workloads"][0]["contenders"]}
    assert rows["numpy"]["median_s"] > 0
    assert rows["PyTorch eager"]["skipped"] == "PyTorch is not installed"
    assert rows["torch.compile"]["skipped"] == "PyTorch is not installed"
    assert rows["JAX jit"]["skipped"] == "JAX is not installed"
    text = report.markdown({"command": "test", "machine": _machine(), "runs": [result], "compile": []})
    assert "| JAX jit | skipped: JAX is not installed |" in text


def _machine() -> dict:
    return {"cpu": "test cpu", "llvm_cpu": "generic", "cpus_allowed": 2, "cpus_total": 2, "os": "Linux",
            "versions": {"python": "3"}}


def _run(threads: int, medians: dict[tuple[str, str], float]) -> dict:
    names = sorted({w for w, _ in medians}, key=list(workloads.WORKLOADS).index)
    return {"label": f"{threads} threads", "threads": threads, "workloads": [
        {"name": n, "title": workloads.WORKLOADS[n], "reference": workloads.EAGER, "flops": 1.0, "notes": [],
         "rounds": 5, "contenders": [{"name": c, "median_s": t, "p25_s": t, "p75_s": t}
                                     for (w, c), t in medians.items() if w == n]} for n in names]}


def test_targets_are_judged_from_the_measured_ratios():
    one = _run(1, {("mlp", "graphc"): 1e-3, ("mlp", "PyTorch eager"): 2e-3, ("mlp", "JAX jit"): 0.9e-3,
                   ("mlp_b1", "graphc"): 12e-6, ("mlp_b1", "PyTorch eager"): 48e-6,
                   ("sgemm512", "graphc"): 1.0, ("sgemm512", "numpy"): 0.9, ("lenet256", "graphc"): 10e-3})
    two = _run(2, {("lenet256", "graphc"): 5.5e-3})
    compile_ = [{"model": "lenet", "cold": {"total_s": 1.5, "first_s": 1.0},
                 "cached": {"total_s": 0.2, "first_s": 0.1, "from_cache": 2, "compilations": 2, "import_s": 0.25}}]
    text = report.markdown({"command": "test", "machine": _machine(), "runs": [one, two], "compile": compile_})
    assert "| >= 1.5x eager: 2.00x; faster than JAX jit: 0.90x | yes; NO |" in text
    assert "| <= 10 us; >= 3x eager: 4.00x | NO; yes |" in text
    assert "| >= 0.8x numpy: 0.90x | yes |" in text
    assert "| >= 1.7x graphc on 1 thread: 1.82x | yes |" in text
    assert "| 2 of 2 | 250.00 ms | cold < 2 s; cached < 100 ms | yes; NO |" in text


def test_graphc_bench_is_a_subcommand_and_rejects_unknown_workloads(capsys):
    args = build_parser().parse_args(["bench", "--quick", "--only", "mlp"])
    assert args.quick and args.only == "mlp"
    assert runner.main(["--only", "resnet"]) == 2
    assert "unknown workload 'resnet'" in capsys.readouterr().err


def test_benchmarks_bench_py_is_the_same_command():
    import subprocess
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "bench.py"
    out = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("usage: python benchmarks/bench.py") and "--only" in out.stdout
