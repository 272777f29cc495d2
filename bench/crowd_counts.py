"""What the crowd member costs a request on a large platform: other listeners' answers read once per
call from the users folder's counts (users/crowd_counts.py), kept by each retrain, recounted only when
stale.

    python bench/crowd_counts.py [--users 10000] [--answers 10] [--songs 100000] [--work DIR]

Writes --users user folders, each with an `annotations.jsonl` of --answers answers on songs drawn
from --songs, then times: a full recount (what a stale or missing counts file costs, once), a
request's read of the others' answers with the file current (what every prediction, query and
recommendation pays), and adding one user's batch of 10 answers (what a retrain pays).
"""

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trompa_mer.interpreter import use_project_python

use_project_python(__file__, ROOT)  # the checkout's .venv, when this Python lacks the requirements

import numpy as np

from trompa_mer.names import QUADRANTS
from trompa_mer.users import account, crowd_counts


def write_users(users_dir: Path, users: int, answers: int, songs: int) -> None:
    rng = np.random.default_rng(0)
    for number in range(users):
        folder = users_dir / f"user{number:05d}"
        folder.mkdir(parents=True)
        picks = rng.choice(songs, answers, replace=False)
        labels = {f"song_{song:06d}": QUADRANTS[int(rng.integers(4))] for song in picks}
        (folder / account.ANNOTATIONS_FILE).write_text(json.dumps({"iteration": 0, "labels": labels}) + "\n")


def timed(action: object, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--answers", type=int, default=10)
    parser.add_argument("--songs", type=int, default=100_000)
    parser.add_argument("--work", type=Path, default=ROOT / "data" / "bench-crowd-counts")
    args = parser.parse_args()
    users_dir = args.work / "users"
    shutil.rmtree(args.work, ignore_errors=True)
    write_users(users_dir, args.users, args.answers, args.songs)
    counts_file = users_dir / crowd_counts.COUNTS_FILE

    def recount() -> None:
        counts_file.unlink(missing_ok=True)
        crowd_counts.read_counts(users_dir)

    recount_seconds = timed(recount, 1)
    someone = "user00000"
    own = account.read_answers(users_dir / someone)
    read_seconds = timed(lambda: crowd_counts.other_answers(users_dir, someone, own))
    others = crowd_counts.other_answers(users_dir, someone, own)
    folder = users_dir / someone
    before = account.history_signature(folder)
    batch = {f"song_{song:06d}": 0 for song in range(10)}
    with (folder / account.ANNOTATIONS_FILE).open("a") as handle:
        handle.write(json.dumps({"iteration": 1, "labels": dict.fromkeys(batch, "Q1")}) + "\n")
    start = time.perf_counter()
    crowd_counts.add_batch(users_dir, someone, before, own, {**own, **batch})
    add_seconds = time.perf_counter() - start
    assert json.loads(counts_file.read_text()) == crowd_counts.count_all(users_dir), "increments went wrong"
    print(f"{args.users} users × {args.answers} answers on {args.songs} songs: {others.total()} other "
          f"answers on {len(others.index)} songs; counts file {counts_file.stat().st_size / 1e6:.1f} MB")
    print(f"  full recount (stale or missing file, once): {recount_seconds:.2f} s")
    print(f"  a request's read of the others' answers, file current: {read_seconds:.3f} s")
    print(f"  a retrain's batch of 10 added: {add_seconds:.3f} s")
    shutil.rmtree(args.work, ignore_errors=True)


if __name__ == "__main__":
    main()
