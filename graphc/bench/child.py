"""One thread setting of the benchmark, in its own process (started by ``runner.py``).

``python -m graphc.bench.child CONFIG.json OUT.json``: the parent has already pinned this
process to its CPUs and set the thread variables of every library in its environment before
anything was imported (thread pools rarely shrink once started, and XLA reads its flags at
import). Here each library is told the thread count again through its own API, every contender
is checked against the reference, and only then is anything timed.
"""

from __future__ import annotations

import json
import os
import sys
import time

from . import timing, workloads


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def apply_threads(n: int) -> dict:
    """Hold every contender to ``n`` threads; returns what each library reports it uses."""
    import graphc

    got = {"cpus": sorted(os.sched_getaffinity(0))}
    set_graphc = getattr(graphc, "set_num_threads", None)
    if set_graphc is not None:
        set_graphc(n)
    get_graphc = getattr(graphc, "get_num_threads", None)
    got["graphc"] = get_graphc() if get_graphc else f"GRAPHC_NUM_THREADS={os.environ.get('GRAPHC_NUM_THREADS')}"
    torch = workloads.torch_or_none()
    if torch is not None:
        torch.set_num_threads(n)
        got["torch"] = torch.get_num_threads()
    got["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "")
    return got


def run_setting(config: dict) -> dict:
    """Build, check and time the workloads of ``config`` in this process; the result as a dict."""
    wanted = set(config["contenders"])
    label = config["label"]
    built = []
    for name in config["workloads"]:
        start = time.perf_counter()
        w = workloads.build(name, wanted)
        for line in workloads.check_agreement(w):  # raises Disagreement: then nothing is timed
            log(line)
        for c in w.contenders:
            if c.skipped:
                log(f"  {w.name:<10} {c.name:<14} skipped: {c.skipped}")
        log(f"bench [{label}]: {w.name} built and checked in {time.perf_counter() - start:.1f} s")
        built.append(w)
    result = {"label": label, "threads": config["threads"], "workloads": [], "profiles": {}}
    for w in built:
        log(f"bench [{label}]: timing {w.name}, {config['rounds']} rounds")
        rows = timing.time_workload(w, config["rounds"], config["sample_ms"] / 1e3, config["warmup_s"])
        result["workloads"].append({"name": w.name, "title": w.title, "reference": w.reference, "flops": w.flops,
                                    "notes": w.notes, "rounds": config["rounds"], "contenders": rows})
        if config.get("profile") and "graphc" in wanted:
            text = timing.graphc_profile(w, 0.2 if config.get("quick") else 2.0)
            if text:
                result["profiles"][w.name] = text
    return result


def main(config_path: str, out_path: str) -> int:
    with open(config_path) as f:
        config = json.load(f)
    settings = apply_threads(config["threads"])
    log(f"bench [{config['label']}]: threads in effect {settings}")
    from .errors import Disagreement

    try:
        result = run_setting(config)
    except Disagreement as e:
        log(f"bench: {e}")
        return 3  # the parent's signal for "the contenders disagree"
    result["thread_settings"] = settings
    with open(out_path, "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
