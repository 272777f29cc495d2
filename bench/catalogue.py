"""Catalogue scores at scale: a layer-rule user's query and recommendations on a synthetic pool of N
songs, with the default committee; each step a fresh process, timed, with its CPU time and peak RSS.

    python bench/catalogue.py [--songs 2000] [--windows 60] [--added 1000] [--workdir DIR] [--keep]

Steps: the first query (the pool's store built and every song scored into the catalogue); the
catalogue scored again alone (what a new committee costs; its scores removed first); warm queries
(the catalogue read, nothing scored); the pool grown by --added songs (only those read and scored);
then recommendations as the service computes them (`personalize.recommend`, Q1, n 10), timed inside
one process over 20 calls. The original tool took 12–21 s (16.0 s in issue 24) for a warm query on
2,000 songs × 60 windows on this machine kind; it is not run here.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trompa_mer.interpreter import use_project_python

use_project_python(__file__, ROOT)  # the checkout's .venv, when this Python lacks the requirements

from bench.processes import measure
from trompa_mer.committee import files as committees
from trompa_mer.learning.catalogue import SCORES_FOLDER

USER = "bench-catalogue"
WRITE = """
from pathlib import Path
from tests.committees import write_quadrant_pool
from trompa_mer.committee import files as committees
names = committees.read_manifest(Path({committee!r}))["feature_names"]
write_quadrant_pool(Path({folder!r}), {first}, {n}, {windows}, seed={seed}, names=names)
"""
"""Writing the pool in a process of its own keeps this one small: a child's peak RSS (wait4) counts
the parent's pages until it runs the program (vfork)."""
RECOMMEND = """
import statistics, sys, time
from pathlib import Path
from trompa_mer.commands import settings
from trompa_mer.users import personalize
times = []
for _ in range(20):
    start = time.perf_counter()
    personalize.recommend(settings.USERS_DIRECTORY, {user!r}, settings.FEATS_DIRECTORY,
                          settings.POOL_CACHE_DIRECTORY, 0, 10)
    times.append(time.perf_counter() - start)
print(f"{{statistics.median(times):.4f}} {{max(times):.4f}}")
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=2000)
    parser.add_argument("--windows", type=int, default=60)
    parser.add_argument("--added", type=int, default=1000)
    parser.add_argument("--committee", type=Path, default=ROOT / "models" / "pretrained")
    parser.add_argument("--workdir", type=Path, help="where the pool goes (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-catalogue."))
    names = committees.read_manifest(args.committee)["feature_names"]
    feats, extra = work / "data" / "feats", work / "extra"
    cache = work / "data" / "pool_cache"
    env = {**os.environ, "TPL_INTERNAL_DATA_DIRECTORY": str(work),
           "TPL_PRETRAINED_DIRECTORY": str(args.committee)}
    python = sys.executable
    query = [python, "get_hard_tracks.py", "-i", USER, "-q", "10", "--requery"]
    rows = []
    try:
        start = time.perf_counter()
        def write(folder: Path, first: int, n: int, seed: int) -> None:
            measure([python, "-c", WRITE.format(folder=str(folder), first=first, n=n, windows=args.windows,
                                                seed=seed, committee=str(args.committee))], env)

        if not feats.is_dir():
            write(feats, 0, args.songs, 1)
        shutil.rmtree(extra, ignore_errors=True)
        write(extra, args.songs, args.added, 2)
        written = time.perf_counter() - start
        shutil.rmtree(work / "models" / "users" / USER, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)
        measure([python, "create_user.py", "-i", USER, "--update-rule", "layer"], env)
        rows.append(("first query (store + catalogue)", *measure(query, env)[:3]))
        for scores in cache.rglob(SCORES_FOLDER):
            shutil.rmtree(scores)
        rows.append(("query, catalogue rescored", *measure(query, env)[:3]))
        warm = [measure(query, env)[:3] for _ in range(3)]
        median = sorted(warm)[1]
        rows.append((f"warm query (median of 3: {', '.join(f'{w[0]:.2f}' for w in warm)})", *median))
        for path in sorted(extra.iterdir()):
            path.rename(feats / path.name)
        rows.append((f"query after +{args.added} songs", *measure(query, env)[:3]))
        rows.append(("warm query", *measure(query, env)[:3]))
        seconds, cpu, rss, out = measure([python, "-c", RECOMMEND.format(user=USER)], env)
        p50, worst = (float(x) for x in out.split())
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"cores {len(os.sched_getaffinity(0))}; {args.songs} + {args.added} songs × {args.windows} "
          f"windows, {len(names)} columns; committee {args.committee}; CSVs written in {written:.1f} s")
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'step':<48} {'wall s':>8} {'CPU s':>8} {'peak RSS GiB':>13}")
    for name, wall, cpu_s, peak in rows:
        print(f"{name:<48} {wall:>8.2f} {cpu_s:>8.2f} {peak:>13.2f}")
    print(f"recommend Q1 n 10 in one process, 20 calls: p50 {p50 * 1000:.0f} ms, worst {worst * 1000:.0f} ms "
          f"(process {seconds:.1f} s, peak RSS {rss:.2f} GiB)")
    print(f"warm query vs the original tool's 16.0 s on 2,000 songs: {16.0 / median[0]:.0f}×"
          if args.songs == 2000 and args.windows == 60 else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
