"""The benchmark's driver: one child process per thread setting, compile times, the report.

Every thread setting runs in a fresh child process (``child.py``) that is pinned to as many
CPUs as it has threads (``os.sched_setaffinity`` before the interpreter starts) and whose
environment limits every library's threads before anything is imported. Inside a child all
contenders of a workload are timed in the one process, interleaved round by round.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

from . import report
from .errors import BenchError, GraphcValueError
from .machine import machine_info
from .workloads import CONTENDERS, WORKLOADS

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "GRAPHC_NUM_THREADS")
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The benchmark's options (shared by ``graphc bench`` and ``benchmarks/bench.py``)."""
    ap.add_argument("--quick", action="store_true", help="a smoke run: few, short rounds (timings are rough)")
    ap.add_argument("--only", default=",".join(WORKLOADS), help="workloads, comma-separated, from: " + ", ".join(WORKLOADS))
    ap.add_argument("--contenders", default=",".join(CONTENDERS),
                    help="comma-separated, from: " + ", ".join(CONTENDERS) + " (numpy always runs sgemm)")
    ap.add_argument("--threads", default="1,2,all",
                    help="thread settings, each a count or 'all' (every CPU this process may use); default 1,2,all")
    ap.add_argument("--rounds", type=int, help="timing rounds per workload (default 15; 3 with --quick)")
    ap.add_argument("--sample-ms", type=float, help="length of one timing sample (default 20; 2 with --quick)")
    ap.add_argument("--no-compile-time", action="store_true", help="skip graphc's compile-time measurement")
    ap.add_argument("--profile", action="store_true", help="add graphc's per-kernel profile (GRAPHC_PROFILE=1)")
    ap.add_argument("--markdown", metavar="PATH", help="also write the Markdown report to PATH")
    ap.add_argument("--json", metavar="PATH", help="also write the raw results as JSON to PATH")


def _split(text: str, allowed, what: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [n for n in names if n not in allowed]
    if bad or not names:
        raise GraphcValueError(f"unknown {what} {', '.join(map(repr, bad)) or '(none given)'}",
                               fix=f"choose from: {', '.join(allowed)}", loc="")
    return names


def thread_counts(text: str) -> list[int]:
    cores = len(os.sched_getaffinity(0))
    counts = []
    for s in (s.strip() for s in text.split(",") if s.strip()):
        if s == "all":
            counts.append(cores)
        elif s.isdigit() and int(s) >= 1:
            counts.append(int(s))
        else:
            raise GraphcValueError(f"bad thread setting {s!r}", fix="give counts or 'all', e.g. --threads 1,all", loc="")
    dropped = [n for n in counts if n > cores]
    if dropped:
        print(f"bench: skipping {dropped} threads: this process may use {cores} CPUs", file=sys.stderr)
    return sorted({n for n in counts if n <= cores})


def child_env(n: int) -> dict:
    env = dict(os.environ)
    env.update({k: str(n) for k in THREAD_VARS})
    if n == 1:
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + XLA_ONE_THREAD).strip()
    return env


def run_child(config: dict, cpus: set[int]) -> dict:
    """Run one thread setting in a fresh process pinned to ``cpus``; its results."""
    with tempfile.TemporaryDirectory(prefix="graphc-bench-") as tmp:
        cfg, out = os.path.join(tmp, "config.json"), os.path.join(tmp, "result.json")
        with open(cfg, "w") as f:
            json.dump(config, f)
        rc = subprocess.call([sys.executable, "-m", "graphc.bench.child", cfg, out], env=child_env(config["threads"]),
                             preexec_fn=lambda: os.sched_setaffinity(0, cpus))
        if rc == 3:
            raise BenchError(f"the {config['label']} run stopped before timing: the contenders disagree (see above)",
                             fix="no timings are shown until every contender computes the same losses", loc="")
        if rc != 0:
            raise BenchError(f"the {config['label']} run failed (exit status {rc}; its error is above)", loc="")
        with open(out) as f:
            return json.load(f)


def run(args: argparse.Namespace, command: str) -> tuple[dict, str]:
    """Run the benchmark the options ``args`` describe; the results and their Markdown report."""
    only = _split(args.only, list(WORKLOADS), "workload")
    contenders = _split(args.contenders, list(CONTENDERS), "contender")
    counts = thread_counts(args.threads)
    rounds = args.rounds or (3 if args.quick else 15)
    sample_ms = args.sample_ms or (2.0 if args.quick else 20.0)
    if rounds < 1 or sample_ms <= 0:
        raise GraphcValueError("--rounds and --sample-ms must be positive", loc="")
    allowed = sorted(os.sched_getaffinity(0))
    # pin to the last CPUs: the first often take the machine's interrupts
    result = {"command": command, "machine": machine_info(), "runs": [], "compile": [], "started": time.time()}
    for n in counts:
        label = f"{n} thread" + ("s" if n > 1 else "")
        config = {"label": label, "threads": n, "workloads": only, "contenders": contenders, "rounds": rounds,
                  "sample_ms": sample_ms, "warmup_s": 0.02 if args.quick else 0.3, "quick": args.quick,
                  "profile": args.profile}
        print(f"bench: {label} (CPUs {allowed[-n:]})", file=sys.stderr, flush=True)
        result["runs"].append(run_child(config, set(allowed[-n:])))
    if "graphc" in contenders and not args.no_compile_time:
        # imported here, not at the top: `python -m graphc.bench.compile_time` runs it as a script
        from . import compile_time

        for kind in ("mlp", "lenet"):
            if any(w.startswith(kind) for w in only):
                print(f"bench: graphc compile time of the {kind} train step", file=sys.stderr, flush=True)
                result["compile"].append(compile_time.measure(kind, 1 if args.quick else 3))
    text = report.markdown(result)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return result, text


def main(argv: list[str] | None = None, prog: str = "python benchmarks/bench.py") -> int:
    ap = argparse.ArgumentParser(prog=prog, description="graphc against PyTorch eager, torch.compile, JAX and numpy")
    add_arguments(ap)
    argv = sys.argv[1:] if argv is None else argv
    args = ap.parse_args(argv)
    try:
        _, text = run(args, " ".join([prog, *map(shlex.quote, argv)]))
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 3
    except GraphcValueError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 2
    print(text)
    return 0
