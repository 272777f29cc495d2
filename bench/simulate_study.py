"""simulate.py on the real-listener study's shape, as a whole process: 121 simulated listeners ×
mc,rand × 3 iterations of 4 queries (12 answers known), 10 songs held out each (the study's 22 clips
per listener), the default update rule, committee and crowd. Target (2 cores): under 20 s.

    python bench/simulate_study.py --feats DIR [--truth LABELS.csv] [--listeners 121]
                                   [--committee DIR] [--work DIR] [--checkout DIR]

--feats needs every column the committee reads (the default committee: IS13 and the musicnn
family; ../shared/data/4q-dev/feats holds IS13 only). One untimed 1-listener run first brings the
pool's store and the committee's catalogue up to date in --work, as a platform has them; then the
study runs once, timed: wall and CPU seconds of the process (and the processes it waited for), the
load average before and after, peak RSS. --checkout runs another checkout's simulate.py (an older
commit, to compare) with this interpreter, on the same store.
"""

import argparse
import csv
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trompa_mer.interpreter import use_project_python

use_project_python(__file__, ROOT)  # the checkout's .venv, when this Python lacks the requirements

from bench.processes import measure

TARGET_SECONDS = 20.0
HELD_OUT = 10
"""Songs held out per listener: with 3 × 4 answers, the study's 22 clips."""
SHARED = ROOT.parent / "shared" / "data" / "4q-dev"


def study_argv(args: argparse.Namespace, listeners: int, out: Path) -> list[str]:
    """simulate.py's arguments for the study's shape, HELD_OUT songs held out of the truth's."""
    with args.truth.open(encoding="utf-8") as handle:
        songs = sum(1 for _ in csv.DictReader(handle))
    argv = ["--feats", str(args.feats), "--truth", str(args.truth), "--listeners", str(listeners),
            "--strategies", "mc,rand", "--iterations", "3", "--queries", "4", "--min-annotations", "22",
            "--test-size", repr(HELD_OUT / songs), "--seeds", "1", "--cache", str(args.work / "cache"),
            "-o", str(out)]
    return argv + (["--committee", str(args.committee)] if args.committee else [])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feats", type=Path, default=SHARED / "feats",
                        help="feature CSVs with every column the committee reads (default %(default)s)")
    parser.add_argument("--truth", type=Path, default=SHARED / "labels.csv",
                        help="the dataset's labels, CSV song_id,quadrant (default %(default)s)")
    parser.add_argument("--listeners", type=int, default=121, help="simulated listeners (default 121)")
    parser.add_argument("--committee", type=Path, default=None, help="default: simulate.py's")
    parser.add_argument("--work", type=Path, default=Path("/tmp/trompa-bench-study"),
                        help="pool store, catalogue and reports (default %(default)s)")
    parser.add_argument("--checkout", type=Path, default=ROOT,
                        help="the checkout whose simulate.py runs (default this one)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    script = [sys.executable, str(args.checkout.resolve() / "simulate.py")]
    print(f"machine: {os.cpu_count()} cores; {script[1]}")
    env = dict(os.environ)
    wall, cpu, _, _ = measure(script + study_argv(args, 1, args.work / "warm-up"), env, args.checkout)
    print(f"warm-up, 1 listener (store and catalogue brought up to date): {wall:.1f} s wall, {cpu:.1f} s CPU")
    load_before = os.getloadavg()
    wall, cpu, rss, _ = measure(script + study_argv(args, args.listeners, args.work / "report"), env,
                                args.checkout)
    load_after = os.getloadavg()
    print(f"study: {args.listeners} listeners × mc,rand × 3 iterations × 4 queries, {HELD_OUT} held out")
    print(f"  {wall:.1f} s wall, {cpu:.1f} s CPU, peak RSS {rss * 1024:.0f} MiB; load average "
          f"{load_before[0]:.2f} before, {load_after[0]:.2f} after")
    print(f"  {wall / TARGET_SECONDS:.2f}× the {TARGET_SECONDS:.0f} s target (wall); "
          f"CPU {cpu / TARGET_SECONDS:.2f}× it; report {args.work / 'report'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
