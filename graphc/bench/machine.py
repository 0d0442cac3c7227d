"""What the benchmark ran on: CPU, cores, and the versions of every contender."""

from __future__ import annotations

import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for name in ("graphc", "numpy", "llvmlite", "torch", "jax", "jaxlib"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def machine_info() -> dict:
    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    return {"cpu": cpu_name(), "llvm_cpu": llvm.get_host_cpu_name(), "cpus_allowed": len(os.sched_getaffinity(0)),
            "cpus_total": os.cpu_count(), "os": f"{platform.system()} {platform.release()}", "versions": versions()}
