"""Shared helpers of the side-by-side benchmarks: timing a child process with its peak
memory, and the shared data folder."""
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("PROBE_SHARED", os.path.join(ROOT, "..", "shared"))


def run_measured(cmd, quiet=True):
    """Runs cmd; returns (wall seconds, peak RSS in MiB) of the child, read through wait4."""
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        if quiet:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
        os.execvp(cmd[0], cmd)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        sys.exit(f"{' '.join(cmd)} failed (status {status})")
    return wall, usage.ru_maxrss / 1024.0


def best_of(repeat, cmd):
    """The fastest of `repeat` runs, as (wall seconds, peak RSS MiB)."""
    return min((run_measured(cmd) for _ in range(repeat)), key=lambda r: r[0])
