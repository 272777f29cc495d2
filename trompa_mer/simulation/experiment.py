"""The experiment: read the labels (or draw simulated listeners), plan the runs, run them, write the report.

Simulated personalization, as in Gómez-Cañón et al. (ISMIR 2021): for every listener with their own
labels, hold out test songs, then query with a strategy, answer from the labels, update by a rule, and
measure the weighted F1 on the held-out songs after every update. The listeners are real (a labels
file) or simulated from a dataset's labels (datasets/listeners.py), each seed drawing its own.
"""

from dataclasses import dataclass
from pathlib import Path

from trompa_mer.committee import members
from trompa_mer.datasets import listeners as simulated
from trompa_mer.datasets.labelled import read_labels
from trompa_mer.errors import CrowdError, SimulationError
from trompa_mer.learning import update
from trompa_mer.learning.crowd import Crowd, make_crowd, read_crowd
from trompa_mer.simulation.plan import Plan, labels_by_user, plan_runs
from trompa_mer.simulation.report import Report, write_report
from trompa_mer.simulation.run import load_world, run_all


@dataclass(frozen=True)
class Listeners:
    """Simulated listeners: the dataset's labels (song_id,quadrant CSV), how many per seed, and the
    share of them who agree with the dataset."""

    truth_file: Path
    count: int
    agreeing_share: float = simulated.DEFAULT_AGREEING_SHARE

    def check(self) -> None:
        if self.count < 1:
            raise SimulationError(f"--listeners must be at least 1, not {self.count}")
        if not 0 <= self.agreeing_share <= 1:
            raise SimulationError(f"--agreeing-share must be between 0 and 1, not {self.agreeing_share}")
        if not self.truth_file.is_file():
            raise SimulationError(f"truth file not found: {self.truth_file} (see --truth)")


def draw(listeners: Listeners, seeds: int) -> tuple[dict[str, int], dict[str, dict[str, int]], dict[str, int],
                                                    dict[str, str]]:
    """(truth, labels, seed_of, kind_of): the dataset's song → class, and per seed its own
    `listeners.count` listeners labelling every song of it (listener → song → class), the seed that
    drew each listener and their kind."""
    truth = {song: label.quadrant for song, label in read_labels(listeners.truth_file).items()}
    labels, seed_of, kind_of = {}, {}, {}
    for seed in range(seeds):
        drawn = simulated.draw_listeners(listeners.count, seed, listeners.agreeing_share)
        labels.update(simulated.label_songs(drawn, truth))
        seed_of.update((listener.id, seed) for listener in drawn)
        kind_of.update((listener.id, listener.kind) for listener in drawn)
    return truth, labels, seed_of, kind_of


def crowd_of(labels: dict[str, dict[str, int]]) -> Crowd:
    """Every listener's labels as crowd annotations."""
    rows = [(song, user, quadrant) for user, songs in labels.items() for song, quadrant in songs.items()]
    return make_crowd(*map(list, zip(*rows, strict=True)))


def read_listener_labels(path: Path) -> Crowd:
    """Real listeners' labels (`read_crowd`); a CSV without a user_id column is a SimulationError
    pointing to --truth, which takes a dataset's labels."""
    try:
        return read_crowd(path)
    except CrowdError:
        if path.suffix.lower() == ".csv":
            with path.open(encoding="utf-8", errors="replace") as handle:
                header = {name.strip() for name in handle.readline().split(",")}
            if "user_id" not in header:
                raise SimulationError(
                    f"{path} has no user_id column: --labels takes each listener's own labels "
                    "(user_id,song_id,quadrant); a dataset's labels (song_id,quadrant) go with --truth and "
                    "--listeners N, which simulates listeners hearing them") from None
        raise


def simulate(feats_dir: Path, labels_file: Path | None, crowd_file: Path | None, committee_dir: Path,
             out_dir: Path, plan: Plan, jobs: int = 1, cache_dir: Path | None = None, progress: bool = True,
             listeners: Listeners | None = None) -> Report:
    """The whole experiment: read (or draw) the listeners, plan, run every (user, seed, rule, strategy),
    write the report into `out_dir`. Exactly one of `labels_file` (real listeners) and `listeners`
    (simulated ones). The crowd defaults to the listeners' labels themselves (each user's own left
    out)."""
    plan.check()
    if jobs < 1:
        raise SimulationError(f"-j must be at least 1, not {jobs}")
    if (labels_file is None) == (listeners is None):
        raise SimulationError("give either a labels file (real listeners) or simulated listeners, not "
                              f"{'both' if labels_file is not None else 'neither'}")
    seed_of, kind_of, truth = None, None, {}
    if listeners is not None:
        listeners.check()
        truth, labels, seed_of, kind_of = draw(listeners, plan.seeds)
        default_crowd = crowd_of(labels)
        source = (f"{listeners.count} simulated listener(s) per seed, share agreeing "
                  f"{listeners.agreeing_share:.2f}, from the dataset's labels {listeners.truth_file}")
    else:
        if not labels_file.is_file():
            raise SimulationError(f"labels file not found: {labels_file}")
        default_crowd = read_listener_labels(labels_file)
        labels = labels_by_user(default_crowd)
        source = str(labels_file)
    crowd = default_crowd if crowd_file is None else read_crowd(crowd_file)
    cache_dir = cache_dir or out_dir / "pool_cache"
    world_args = (feats_dir, cache_dir, committee_dir, labels, crowd)
    world = load_world(*world_args)
    with world.pool:
        runs = plan_runs(labels, world.pool, plan, seed_of)
        results, queries = run_all(runs, world, plan, jobs, world_args, progress)
        drawn = None
        if kind_of is not None:
            used = sorted({run.user for run in runs})
            own = {user: {s: q for s, q in labels[user].items() if s in world.pool} for user in used}
            drawn = [(user, kind_of[user], seed_of[user], len(own[user]),
                      simulated.agreement(own[user], truth)) for user in used]
    kinds = {members.kind_of(member) for member in world.committee.members.values()}
    about = {"committee": f"{committee_dir} ({len(world.committee.members)} members, "
                          f"scaling {plan.scaling or world.committee.default_scaling()})",
             "features": f"{feats_dir} ({len(world.pool.song_ids)} songs)",
             "labels": source, "crowd": str(crowd_file or labels_file or "the simulated listeners' labels"),
             "users": f"{len({run.user for run in runs})} with at least {plan.min_annotations} labelled "
                      "songs with features",
             "update rules": "; ".join(update.describe(rule, kinds, plan.rounds)
                                       for rule in plan.rules)}
    return write_report(out_dir, runs, results, queries, plan, about, drawn)
