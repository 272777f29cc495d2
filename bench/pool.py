"""Pool store at catalogue scale: a synthetic pool of N songs × 60 windows (feature CSVs, no audio),
then a cold store build, an update adding 1 % more songs, and a warm `get_hard_tracks.py -q 10`
with a 15-member committee; each step is a fresh process, timed, with its CPU time and peak RSS.

python bench/pool.py --songs 2000 [--cold-query] [--workdir DIR] [--keep]

The committee is models/pretrained when it has 15 members, else one made like the tests'
(gnb, sgd, xgb × 5 folds, 100 rounds). CPU seconds (user + system, the step's processes together)
do not grow when other programs share the cores; wall seconds do. Peak RSS is ru_maxrss as wait4
reports it: the largest of the step's process and the processes it waited for, not their sum.
"""

import argparse
import json
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

from bench.processes import GIB, measure
from tests.committees import make_committee, write_quadrant_pool
from trompa_mer.committee import files as committee

WINDOWS = 60
MEMBERS = 15
USER = "bench"


def bench_committee(work: Path) -> Path:
    pretrained = ROOT / "models" / "pretrained"
    if len(committee.member_paths(pretrained)) == MEMBERS:
        return pretrained
    folder = work / "pretrained"
    if not folder.is_dir():
        make_committee(folder, kinds=("gnb", "sgd", "xgb"), folds=5, rounds=100)
    return folder


def load_pool_command(work: Path) -> list[str]:
    """A process that brings the store up to date and prints how many CSVs it read."""
    feats, cache = str(work / "data" / "feats"), str(work / "data" / "pool_cache")
    code = ("from pathlib import Path; from trompa_mer.features.pool import load_pool; "
            f"print(len(load_pool(Path({feats!r}), Path({cache!r})).update.read))")
    return [sys.executable, "-c", code]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=2000)
    parser.add_argument("--cold-query", action="store_true",
                        help="also time get_hard_tracks on an empty store (build + query)")
    parser.add_argument("--workdir", type=Path, help="where the pool goes (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-pool."))
    feats, extra = work / "data" / "feats", work / "extra"
    added = max(1, args.songs // 100)
    env = {**os.environ, "TPL_INTERNAL_DATA_DIRECTORY": str(work)}
    rows = []
    try:
        start = time.perf_counter()
        if not feats.is_dir():
            write_quadrant_pool(feats, 0, args.songs, WINDOWS, seed=1)
        write_quadrant_pool(extra, args.songs, added, WINDOWS, seed=2)
        written = time.perf_counter() - start
        env["TPL_PRETRAINED_DIRECTORY"] = str(bench_committee(work))
        shutil.rmtree(work / "models" / "users" / USER, ignore_errors=True)
        measure([sys.executable, "create_user.py", "-i", USER], env)
        query = [sys.executable, "get_hard_tracks.py", "-i", USER, "-q", "10", "--requery", "--json"]
        shutil.rmtree(work / "data" / "pool_cache", ignore_errors=True)
        if args.cold_query:
            rows.append(("cold query (build + score)", *measure(query, env)[:3]))
            shutil.rmtree(work / "data" / "pool_cache")
        *figures, out = measure(load_pool_command(work), env)
        rows.append((f"cold build ({out.split()[0]} CSVs)", *figures))
        for path in sorted(extra.iterdir()):
            path.rename(feats / path.name)
        *figures, out = measure(load_pool_command(work), env)
        rows.append((f"update (+{out.split()[0]} CSVs)", *figures))
        *figures, out = measure(query, env)
        rows.append(("warm query -q 10", *figures))
        store = sum(p.stat().st_size for p in (work / "data" / "pool_cache").iterdir())
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"cores {len(os.sched_getaffinity(0))}; songs {args.songs} + {added}, {WINDOWS} windows each; "
          f"{MEMBERS} members from {env['TPL_PRETRAINED_DIRECTORY']}; CSVs written in {written:.1f} s; "
          f"store {store / GIB:.2f} GiB")
    print(f"queried: {', '.join(json.loads(out)['queried'])}")
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'step':<30} {'wall s':>9} {'CPU s':>9} {'peak RSS GiB':>13}")
    for name, seconds, cpu, rss in rows:
        print(f"{name:<30} {seconds:>9.2f} {cpu:>9.2f} {rss:>13.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
