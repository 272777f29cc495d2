"""Timing a whole command as a fresh process: wall and CPU seconds and peak RSS.

    python bench/processes.py -- python3 get_hard_tracks.py -i 827 -q 10

Import this alone in a benchmark's own process, nothing heavy: a child's peak RSS (wait4) counts its
parent's pages until it runs the program (vfork), so a large benchmark process inflates every figure.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GIB = 1024 ** 3


def measure(argv: list[str], env: dict, cwd: Path = ROOT) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds, peak RSS in GiB, and stdout of one process run in `cwd` (its
    failure stops the benchmark; its stderr goes to ours)."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, text=True)
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"failed ({process.returncode}): {' '.join(argv)}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024 / GIB, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="+", help="the command and its arguments (after --)")
    args = parser.parse_args()
    seconds, cpu, rss, out = measure(args.command, dict(os.environ))
    print(out, end="")
    print(f"wall {seconds:.2f} s, CPU {cpu:.2f} s, peak RSS {rss * 1024:.0f} MiB, load average "
          f"{os.getloadavg()[0]:.1f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
