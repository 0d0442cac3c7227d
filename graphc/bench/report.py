"""The benchmark's Markdown report: one row per workload, thread setting and contender.

``median`` is the median time per call over the interleaved rounds (± half the interquartile
range, as a share of the median); ``vs PyTorch eager`` is eager's median over the contender's
(above 1: faster than eager at the same thread count). ``target`` states the goal a row is
judged by and its measured ratio; ``met`` says whether that goal is reached.
"""

from __future__ import annotations

from dataclasses import dataclass

from .workloads import CONTENDERS, EAGER, NUMPY

JAX = CONTENDERS["jax"]


@dataclass(frozen=True)
class Target:
    workload: str
    threads: int
    text: str
    kind: str  # "speedup" (over ``versus``), "faster" (than ``versus``), "at_most" (seconds), "scaling"
    goal: float
    versus: str = EAGER


TARGETS = [
    Target("mlp", 1, ">= 1.5x eager", "speedup", 1.5),
    Target("mlp", 1, "faster than JAX jit", "faster", 1.0, JAX),
    Target("lenet", 1, ">= 2.5x eager", "speedup", 2.5),
    Target("mlp_b1", 1, "<= 10 us", "at_most", 10e-6),
    Target("mlp_b1", 1, ">= 3x eager", "speedup", 3.0),
    Target("sgemm512", 1, ">= 0.8x numpy", "speedup", 0.8, NUMPY),
    Target("sgemm1024", 1, ">= 0.8x numpy", "speedup", 0.8, NUMPY),
    Target("lenet256", 2, ">= 1.7x graphc on 1 thread", "scaling", 1.7),
]
COMPILE_TARGETS = {"lenet": (2.0, 0.1)}  # cold, cached (seconds)


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1.0:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def median(run: dict | None, workload: str, contender: str) -> float | None:
    for w in (run or {}).get("workloads", []):
        if w["name"] == workload:
            for row in w["contenders"]:
                if row["name"] == contender:
                    return row.get("median_s")
    return None


def judge(t: Target, runs: dict[int, dict]) -> tuple[str, str]:
    """(target cell, met cell) of ``t``; met is "yes", "NO", or "n/a" when a figure is missing."""
    run = runs.get(t.threads)
    mine = median(run, t.workload, "graphc")
    if t.kind == "at_most":
        return (t.text, "n/a") if mine is None else (t.text, "yes" if mine <= t.goal else "NO")
    if t.kind == "scaling":
        other = median(runs.get(1), t.workload, "graphc")
    else:
        other = median(run, t.workload, t.versus)
    if mine is None or other is None:
        return f"{t.text} (no figure)", "n/a"
    ratio = other / mine
    return f"{t.text}: {ratio:.2f}x", "yes" if ratio >= t.goal and (t.kind != "faster" or ratio > 1.0) else "NO"


def _median_cell(row: dict) -> str:
    if "skipped" in row:
        return f"skipped: {row['skipped']}"
    spread = (row["p75_s"] - row["p25_s"]) / row["median_s"] / 2
    return f"{fmt_time(row['median_s'])} ±{spread:.0%}"


def result_rows(result: dict) -> list[list[str]]:
    """Rows of the main table: workload, threads, contender, median, vs eager, target, met."""
    runs = {r["threads"]: r for r in result["runs"]}
    order = []
    for r in result["runs"]:
        order += [w["name"] for w in r["workloads"] if w["name"] not in order]
    rows = []
    for name in order:
        for n, run in runs.items():
            w = next((w for w in run["workloads"] if w["name"] == name), None)
            if w is None:
                continue
            eager = median(run, name, EAGER)
            for row in w["contenders"]:
                ratio = f"{eager / row['median_s']:.2f}x" if eager and row.get("median_s") else ""
                targets = [judge(t, runs) for t in TARGETS
                           if row["name"] == "graphc" and t.workload == name and t.threads == n]
                rows.append([w["title"], run["label"], row["name"], _median_cell(row), ratio,
                             "; ".join(t for t, _ in targets), "; ".join(m for _, m in targets)])
    return _blank_repeats(rows)


def _blank_repeats(rows: list[list[str]]) -> list[list[str]]:
    """Leave the workload and threads cells empty where they repeat the row above."""
    out, prev = [], ["", ""]
    for r in rows:
        shown = ["" if r[0] == prev[0] else r[0], "" if r[:2] == prev else r[1]]
        out.append(shown + r[2:])
        prev = r[:2]
    return out


def compile_rows(result: dict) -> list[list[str]]:
    rows = []
    for c in result["compile"]:
        cold, cached = c["cold"], c["cached"]
        goal = COMPILE_TARGETS.get(c["model"])
        cells = [c["model"], fmt_time(cold["total_s"]), fmt_time(cold["first_s"]), fmt_time(cached["total_s"]),
                 f"{cached['from_cache']} of {cached['compilations']}", fmt_time(cached["import_s"])]
        if goal:
            cells += [f"cold < {goal[0]:g} s; cached < {goal[1] * 1e3:g} ms",
                      f"{'yes' if cold['total_s'] < goal[0] else 'NO'}; {'yes' if cached['total_s'] < goal[1] else 'NO'}"]
        else:
            cells += ["", ""]
        rows.append(cells)
    return rows


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    return out + ["| " + " | ".join(cell.replace("|", "/") for cell in r) + " |" for r in rows]


def markdown(result: dict) -> str:
    m = result["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    rounds = {w["rounds"] for r in result["runs"] for w in r["workloads"]}
    out = [f"Machine: {m['cpu']} (LLVM: {m['llvm_cpu']}), {m['cpus_allowed']} of {m['cpus_total']} CPUs usable, "
           f"{m['os']}; {versions}.", "",
           f"Command: `{result['command']}`", "",
           f"Median time per call over {'/'.join(map(str, sorted(rounds))) or 0} interleaved rounds; each thread "
           "setting runs in its own process pinned to that many CPUs.", ""]
    out += _table(["workload", "threads", "contender", "median", "vs PyTorch eager", "target", "met"],
                  result_rows(result))
    if result["compile"]:
        out += ["", "graphc compile time of the train step (batch 64), each in a fresh process: cold with an empty "
                "cache (both versions of a momentum-SGD step: the first step, which runs once and is interpreted, "
                "then the steady state, compiled), then again from the cache (where only the compiled version "
                "has code to load). Importing graphc and its LLVM backend is timed apart: a process pays it once.", ""]
        out += _table(["model", "cold", "cold: first call", "from cache", "loaded from cache", "import", "target", "met"],
                      compile_rows(result))
    notes = sorted({n for r in result["runs"] for w in r["workloads"] for n in w["notes"]})
    if notes:
        out += [""] + [f"Note: {n}." for n in notes]
    for r in result["runs"]:
        for name, text in r.get("profiles", {}).items():
            out += ["", f"GRAPHC_PROFILE=1, {name}, {r['label']}: {text.splitlines()[0]}", "", "```",
                    *text.splitlines()[1:], "```"]
    return "\n".join(out)
