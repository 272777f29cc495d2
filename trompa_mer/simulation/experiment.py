"""The experiment: read the labels and crowd, plan the runs, run them, write the report.

Simulated personalization, as in Gómez-Cañón et al. (ISMIR 2021): for every listener with their own
labels, hold out test songs, then query with a strategy, answer from the labels, retrain, and measure
the weighted F1 on the held-out songs after every update.
"""

from pathlib import Path

import pandas as pd

from trompa_mer.errors import SimulationError
from trompa_mer.learning.crowd import read_crowd
from trompa_mer.simulation.plan import Plan, labels_by_user, plan_runs
from trompa_mer.simulation.report import write_report
from trompa_mer.simulation.run import load_world, run_all


def simulate(feats_dir: Path, labels_file: Path, crowd_file: Path | None, committee_dir: Path, out_dir: Path,
             plan: Plan, jobs: int = 1, cache_dir: Path | None = None, progress: bool = True) -> pd.DataFrame:
    """The whole experiment: read, plan, run every (user, seed, strategy), write the report into
    `out_dir`; returns the summary table. The crowd defaults to the labels themselves (each user's
    own left out)."""
    plan.check()
    if jobs < 1:
        raise SimulationError(f"-j must be at least 1, not {jobs}")
    if not labels_file.is_file():
        raise SimulationError(f"labels file not found: {labels_file}")
    label_rows = read_crowd(labels_file)
    labels = labels_by_user(label_rows)
    crowd = label_rows if crowd_file is None else read_crowd(crowd_file)
    cache_dir = cache_dir or out_dir / "pool_cache"
    world_args = (feats_dir, cache_dir, committee_dir, labels, crowd)
    world = load_world(*world_args)
    with world.pool:
        runs = plan_runs(labels, world.pool, plan)
        results, queries = run_all(runs, world, plan, jobs, world_args, progress)
    about = {"committee": f"{committee_dir} ({len(world.committee.members)} members, "
                          f"scaling {plan.scaling or world.committee.default_scaling()})",
             "features": f"{feats_dir} ({len(world.pool.song_ids)} songs)",
             "labels": str(labels_file), "crowd": str(crowd_file or labels_file),
             "users": f"{len({run.user for run in runs})} with at least {plan.min_annotations} labelled "
                      "songs with features"}
    return write_report(out_dir, runs, results, queries, plan, about)
