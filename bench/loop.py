"""The personalization loop as a user runs it, whole processes: a warm `get_hard_tracks.py -q 10` and
`retrain_model.py` on a 10-song answer, with the default committee, per update rule.

    python bench/loop.py [--songs 2000] [--windows 60] [--rounds 3] [--committee models/pretrained]
                         [--work DIR]

Targets (2 cores): retrain ≤ 2 s with the default committee; the query ≥ 10× faster than the
original tool on the same pool (it took 12–21 s on 2,000 songs × 60 windows).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trompa_mer.interpreter import use_project_python

use_project_python(__file__, ROOT)  # the checkout's .venv, when this Python lacks the requirements

from tests.committees import write_quadrant_pool
from trompa_mer.committee import files as committees
from trompa_mer.names import QUADRANTS, UPDATE_RULES


def timed(argv: list[str], env: dict) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, *argv], env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=2000)
    parser.add_argument("--windows", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3, help="query + retrain rounds per rule")
    parser.add_argument("--committee", type=Path, default=ROOT / "models" / "pretrained")
    parser.add_argument("--work", type=Path, default=ROOT / "data" / "bench-loop")
    args = parser.parse_args()
    names = committees.read_manifest(args.committee)["feature_names"]
    feats = args.work / f"feats-{args.songs}x{args.windows}x{len(names)}"
    if not feats.is_dir():
        write_quadrant_pool(feats, 0, args.songs, args.windows, seed=1, names=names)
    env = {**os.environ, "TPL_FEATS_DIRECTORY": str(feats), "TPL_POOL_CACHE_DIRECTORY": str(feats) + ".cache",
           "TPL_USERS_DIRECTORY": str(args.work / "users"), "TPL_PRETRAINED_DIRECTORY": str(args.committee)}
    print(f"{args.songs} songs × {args.windows} windows, committee {args.committee}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.2f}")
    shutil.rmtree(args.work / "users" / "bench-warm-up", ignore_errors=True)
    timed(["create_user.py", "-i", "bench-warm-up"], env)
    timed(["get_hard_tracks.py", "-i", "bench-warm-up", "-q", "10"], env)  # builds the pool store
    for rule in UPDATE_RULES:
        user = f"bench-{rule}"
        shutil.rmtree(args.work / "users" / user, ignore_errors=True)
        timed(["create_user.py", "-i", user, "--update-rule", rule], env)
        queries, retrains = [], []
        for _ in range(args.rounds):
            seconds, out = timed(["get_hard_tracks.py", "-i", user, "-q", "10", "--json"], env)
            queries.append(seconds)
            songs = json.loads(out)["queried"]
            answers = args.work / f"answers-{rule}.json"
            answers.write_text(json.dumps({s: QUADRANTS[(int(s.split("_")[1]) + 1) % 4] for s in songs}))
            seconds, _ = timed(["retrain_model.py", "-i", user, "-a", str(answers)], env)
            retrains.append(seconds)
        print(f"{rule:>8}: get_hard_tracks -q 10 median {statistics.median(queries):.2f} s "
              f"(runs {', '.join(f'{s:.2f}' for s in queries)}); retrain_model on 10 songs median "
              f"{statistics.median(retrains):.2f} s (runs {', '.join(f'{s:.2f}' for s in retrains)})")


if __name__ == "__main__":
    main()
