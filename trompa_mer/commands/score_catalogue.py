"""Score the catalogue: every pool song's member probabilities under a committee, once, so that no
user's query or recommendation waits for them (after a new pretrained committee, or a large import).

python3 score_catalogue.py [-m COMMITTEE_DIR] [-j N] [--dask-scheduler ADDRESS [--task-songs N]]
"""

import argparse
import contextlib
import sys
import time
from pathlib import Path

from trompa_mer.commands import cli, settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", type=Path, default=settings.PRETRAINED_DIRECTORY,
                        help="the committee folder whose scores to compute (default: the pretrained "
                             "committee, %(default)s, whose members every layer-rule user shares)")
    parser.add_argument("-j", "--jobs", type=int, default=settings.JOBS,
                        help="local threads scoring (default: all cores)")
    parser.add_argument("--dask-scheduler", metavar="ADDRESS",
                        help="score on the workers of this Dask scheduler (tcp://host:8786) instead of -j "
                             "local threads; workers must see the feature files, the pool's store and the "
                             "committee at the same paths")
    parser.add_argument("--task-songs", type=int, default=None,
                        help="songs per task on a cluster: a worker holds one task's windows at a time "
                             "(default 1000)")
    return parser


def run(args: argparse.Namespace) -> None:
    # imported by a run, not by --help
    from trompa_mer.errors import QueryError
    from trompa_mer.features.extract import executor_for
    from trompa_mer.learning import catalogue

    task_songs = catalogue.TASK_SONGS if args.task_songs is None else args.task_songs
    if task_songs < 1 or args.jobs < 1:
        raise QueryError("--task-songs and --jobs must be at least 1")
    start = time.perf_counter()
    cluster = contextlib.nullcontext() if args.dask_scheduler is None else \
        executor_for(args.jobs, args.dask_scheduler)
    with cluster as executor:
        scored = catalogue.score_catalogue(args.model, settings.FEATS_DIRECTORY,
                                           settings.POOL_CACHE_DIRECTORY, executor, task_songs, args.jobs,
                                           settings.POOL_CHUNK_SONGS, progress=True)
    print(f"scored {scored.scored} songs ({scored.known} already scored) in "
          f"{time.perf_counter() - start:.1f} s: {scored.path}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return cli.run(lambda: run(args))
