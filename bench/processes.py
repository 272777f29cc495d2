"""Timing a whole command as a fresh process: wall and CPU seconds and peak RSS.

Import this alone in a benchmark's own process, nothing heavy: a child's peak RSS (wait4) counts its
parent's pages until it runs the program (vfork), so a large benchmark process inflates every figure.
"""

import os
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GIB = 1024 ** 3


def measure(argv: list[str], env: dict) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds, peak RSS in GiB, and stdout of one process (its failure stops
    the benchmark)."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"failed ({process.returncode}): {' '.join(argv)}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024 / GIB, out
