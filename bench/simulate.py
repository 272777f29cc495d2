"""Benchmark of simulate.py: one user × one strategy × 10 iterations × 10 queries on a generated pool
of 1,000 songs × 60 windows. Target here (2 cores): under 30 s per strategy.

    python bench/simulate.py [--songs 1000] [--windows 60] [--strategies mc,rand] [--committee DIR]
                             [--work DIR]

The pool, labels and (without a usable --committee or models/pretrained) a 15-member committee like
the default one (5 folds × xgb, gnb, sgd; 100 xgb rounds) are generated once into --work and reused.
"""

import argparse
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trompa_mer.interpreter import use_project_python

use_project_python(__file__, ROOT)  # the checkout's .venv, when this Python lacks the requirements

import numpy as np

from tests.committees import make_committee, make_pool
from trompa_mer.commands import settings
from trompa_mer.committee import files as committees
from trompa_mer.errors import CommitteeError
from trompa_mer.features.pool import load_pool
from trompa_mer.learning.crowd import read_crowd
from trompa_mer.learning.update import learn_answers
from trompa_mer.names import QUADRANTS
from trompa_mer.simulation.experiment import simulate
from trompa_mer.simulation.plan import Plan
from trompa_mer.simulation.run import thread_share

TARGET_SECONDS = 30.0
USER = "bench"
DISAGREEMENT = 0.25
"""Share of the listener's labels drawn at random instead of the song's true quadrant."""


def prepare(work: Path, songs: int, windows: int, names: list[str]) -> tuple[Path, Path]:
    """Feature CSVs of the columns `names` and one listener who labels every song, a quarter of them
    not by its quadrant."""
    size = f"{songs}x{windows}x{len(names)}"
    feats, labels = work / f"feats_{size}", work / f"labels_{size}.csv"
    if not labels.is_file():
        start = time.perf_counter()
        truth = make_pool(feats, n_songs=songs, n_windows=windows, names=names)
        rng = np.random.default_rng(0)
        rows = [f"{USER},{song},{q if rng.random() > DISAGREEMENT else QUADRANTS[rng.integers(4)]}\n"
                for song, q in truth.items()]
        labels.write_text("user_id,song_id,quadrant\n" + "".join(rows))
        print(f"generated {songs} songs × {windows} windows in {time.perf_counter() - start:.1f} s")
    return feats, labels


def committee_dir(work: Path, given: Path | None) -> Path:
    """--committee, else models/pretrained when it loads, else a generated default-like committee."""
    for folder in ([given] if given else []) + [settings.PRETRAINED_DIRECTORY]:
        try:
            committees.load_committee(folder)
            return folder
        except CommitteeError as exc:
            print(f"not using {folder}: {exc}")
    folder = work / "committee_5x3"
    if not folder.is_dir():
        make_committee(folder, kinds=("gnb", "sgd", "xgb"), folds=5, rounds=100, n_per_class=200)
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=1000)
    parser.add_argument("--windows", type=int, default=60)
    parser.add_argument("--strategies", default="mc,rand")
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--queries", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=settings.XGB_UPDATE_ROUNDS)
    parser.add_argument("--committee", type=Path, default=None)
    parser.add_argument("--work", type=Path, default=Path("/tmp/trompa-bench-simulate"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    folder = committee_dir(args.work, args.committee)
    committee = committees.load_committee(folder)
    feats, labels = prepare(args.work, args.songs, args.windows, committee.feature_names)
    cache = args.work / f"cache_{args.songs}x{args.windows}"
    start = time.perf_counter()
    pool = load_pool(feats, cache, names=committee.feature_names)
    print(f"pool cache ready in {time.perf_counter() - start:.1f} s")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; committee {folder} "
          f"({len(committee.members)} members); {args.songs} songs × {args.windows} windows; "
          f"{args.iterations} iterations × {args.queries} queries, {args.rounds} xgb rounds per update")
    listener = read_crowd(labels)
    first = slice(args.queries)
    batch = dict(zip(listener.song_ids[first], listener.quadrants[first].tolist(), strict=True))
    with thread_share(1):
        wall, cpu = time.perf_counter(), time.process_time()
        learn_answers(committee, pool, batch, committee.default_scaling(), args.rounds, seed=0)
    print(f"one committee update on {args.queries} songs: {time.perf_counter() - wall:.1f} s wall, "
          f"{time.process_time() - cpu:.1f} s CPU; the simulation makes {args.iterations}")
    for strategy in args.strategies.split(","):
        plan = Plan((strategy,), args.iterations, args.queries, min_annotations=args.songs, test_size=0.15,
                    seeds=1, rounds=args.rounds)
        wall, cpu = time.perf_counter(), time.process_time()
        report = simulate(feats, labels, None, folder, args.work / f"report_{strategy}", plan, jobs=1,
                           cache_dir=cache, progress=False)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        end = report.summary.set_index("model").loc["committee"]
        print(f"{strategy:5s} {wall:7.1f} s wall, {cpu:7.1f} s CPU (this process), "
              f"{wall / TARGET_SECONDS:.2f}× the {TARGET_SECONDS:.0f} s target; committee F1 "
              f"{end['f1_start']:.3f} → {end['f1_end']:.3f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
