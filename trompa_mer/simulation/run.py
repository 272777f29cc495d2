"""Running the plan: every run's queries, answers, updates and evaluations, in this process or many.

Queries and updates go through `strategies.choose_songs` and `update.learn_answers`, the very
functions behind get_hard_tracks.py and retrain_model.py; the committee stays in memory.
"""

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import xgboost as xgb
from threadpoolctl import threadpool_limits

from trompa_mer.committee import consensus
from trompa_mer.committee import files as committees
from trompa_mer.committee.margins import MarginMemo
from trompa_mer.committee.model import Committee
from trompa_mer.cores import available_cores
from trompa_mer.features.pool import Pool, load_pool
from trompa_mer.learning import catalogue, strategies, update
from trompa_mer.learning.crowd import Crowd
from trompa_mer.learning.personal import OtherAnswers, UserView
from trompa_mer.learning.scoring import scaled_windows
from trompa_mer.names import UPDATE_SHIFT
from trompa_mer.progress import progress_bar
from trompa_mer.simulation.plan import Plan, Run
from trompa_mer.simulation.report import COMMITTEE_MODEL, USER_MODEL
from trompa_mer.simulation.shared import CrowdTally, MemberSongs, member_songs

SHARED_MEMBER_RULES = tuple(name for name, rule in update.RULES.items() if not rule.trains_members)
"""Update rules whose users keep the pretrained members (layer, shift): their runs read the members'
song probabilities scored once (`share`) and query from the catalogue."""


@dataclass
class World:
    """What every run reads: the feature pool, the pretrained committee, labels, the crowd and its
    tally, and the members' song probabilities shared by the runs that keep them (None: each run
    scores its own)."""

    pool: Pool
    committee: Committee
    labels: dict[str, dict[str, int]]
    crowd: Crowd
    tally: CrowdTally
    members: MemberSongs | None = None


# --- evaluation (pure) ---------------------------------------------------------------------------


def model_probabilities(names: list[str], song_proba: np.ndarray) -> dict[str, np.ndarray]:
    """Song probabilities (n_songs, 4) per model: each member (its file name), each kind (mean of that
    kind's members) and the committee (mean of all), each through the user's layer if they have one.
    song_proba: (n_members, n_songs, 4)."""
    models = {name: song_proba[i] for i, name in enumerate(names)}
    kinds: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        kinds.setdefault(committees.MEMBER_PATTERN.match(name)["kind"], []).append(i)
    for kind, rows in kinds.items():
        models[kind] = consensus.committee_probabilities(song_proba[rows])
    models[COMMITTEE_MODEL] = consensus.committee_probabilities(song_proba)
    return models


def row_means(values: np.ndarray) -> np.ndarray:
    """The mean of each row of values (n_rows, n) as numpy takes it of that row alone: a mean along an
    axis of many rows adds them in another order, which changes the last bits."""
    return np.array([row.mean() for row in values])


def weighted_f1(y_true: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Weighted F1 (n_models,) of the most probable quadrant of each song, proba (n_models, n_songs, 4),
    against y_true (n_songs,): sklearn's `f1_score(average="weighted", zero_division=0)` to the bit, without
    its checks, for many models at once: per quadrant 2·tp / (true + predicted), 0 where both are 0,
    averaged with weights the true counts."""
    predicted = proba.argmax(axis=-1)
    quadrants = np.arange(proba.shape[-1])
    true = (y_true[:, None] == quadrants).sum(axis=0)
    hits = ((predicted == y_true)[..., None] & (y_true[:, None] == quadrants)).sum(axis=-2)
    both = true.astype(np.float64) + (predicted[..., None] == quadrants).sum(axis=-2)
    f1 = np.where(both > 0, 2.0 * hits / np.where(both > 0, both, 1.0), 0.0)
    return np.average(f1, axis=-1, weights=np.broadcast_to(true, f1.shape))


def accuracy(y_true: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Share (n_models,) of the songs whose most probable quadrant in proba (n_models, n_songs, 4) is
    y_true's."""
    return row_means(proba.argmax(axis=-1) == y_true)


def nll(y_true: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Mean negative log-likelihood (n_models,) (natural log) of the labels y_true under proba
    (n_models, n_songs, 4)."""
    picked = proba[:, np.arange(len(y_true)), y_true]
    return row_means(-np.log(np.clip(picked, 1e-12, 1.0)))


def brier(y_true: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Mean Brier score (n_models,): squared distance of proba (n_models, n_songs, 4) from the labels,
    one-hot (0 to 2)."""
    return row_means(((proba - np.eye(proba.shape[-1])[y_true]) ** 2).sum(axis=-1))


def evaluate(names: list[str], song_proba: np.ndarray, y_true: np.ndarray, song_ids: list[str],
             view: UserView | None = None) -> dict[str, tuple[float, float, float, float]]:
    """(F1, accuracy, NLL, Brier) per model on test songs `song_ids`: song_proba (n_members, n_songs, 4)
    the members named `names` through the user's layer, y_true (n_songs,); with a `view`, the user's
    probabilities too (USER_MODEL: the committee with the other listeners' answers on those songs).
    Every model is scored at once, each exactly as alone."""
    models = model_probabilities(names, song_proba)
    if view is not None:
        models[USER_MODEL] = view.probabilities(song_ids, models[COMMITTEE_MODEL])
    proba = np.stack(list(models.values()))
    scores = np.stack([score(y_true, proba) for score in (weighted_f1, accuracy, nll, brier)], axis=1)
    return dict(zip(models, map(tuple, scores.tolist()), strict=True))


# --- one run ------------------------------------------------------------------------------------


def _check_no_leak(songs: list[str], test: set[str], what: str) -> None:
    leaked = sorted(test.intersection(songs))
    if leaked:
        raise AssertionError(f"test songs entered a {what}: {', '.join(leaked)}")


def simulate_run(run: Run, world: World, plan: Plan,
                 progress: Callable[[], None] | None = None) -> tuple[list[tuple], list[tuple]]:
    """Result rows (RESULT_COLUMNS) and query rows of one run: evaluate the pretrained committee, then
    `plan.iterations` times query, answer from the user's labels, update by the run's rule (which also
    sees every earlier answer of the run), evaluate."""
    committee = world.committee
    labels = world.labels[run.user]
    scaling = plan.scaling or committee.default_scaling()
    test_songs = list(run.test_songs)
    test = set(test_songs)
    y_test = np.array([labels[s] for s in test_songs])
    tested, memo = _test_probabilities(run, world, test_songs, scaling)
    results, queries = [], []
    others = None
    if plan.crowd:  # every other listener's answers on the run's songs, as a platform holds them
        songs = [*run.pool_songs, *test_songs]
        others = OtherAnswers({song: i for i, song in enumerate(songs)}, world.tally.others(songs, run.user))

    def view() -> UserView | None:  # a shift applies to the user's probabilities, crowd or not
        confusion = None if committee.layer is None else committee.layer.confusion
        if others is None and run.rule != UPDATE_SHIFT:
            return None
        return UserView(others, {}, confusion, shift=committee.shift)

    def record(iteration: int) -> None:
        for model, scores in evaluate(list(committee.members), tested(committee), y_test, test_songs,
                                      view()).items():
            results.append((run.user, run.rule, run.strategy, run.seed, iteration, iteration * plan.queries,
                            model, *scores))

    record(0)
    asked: set[str] = set()
    previous: dict[str, int] = {}
    for iteration in range(plan.iterations):
        candidates = [song for song in run.pool_songs if song not in asked]
        context = strategies.QueryContext(committee, world.pool, candidates, scaling, run.user, iteration,
                                          crowd=world.crowd, seed=run.seed, memo=memo, view=view())
        chosen = strategies.choose_songs(run.strategy, context, plan.queries)
        _check_no_leak(list(chosen), test, "query")
        answers = {song: labels[song] for song in chosen}
        _check_no_leak(list(answers), test, "update")
        committee = update.learn_answers(committee, world.pool, answers, scaling, plan.rounds,
                                         seed=iteration, rule=run.rule, previous=dict(previous), crowd=others)
        previous.update(answers)
        asked.update(chosen)
        queries.extend((run.user, run.rule, run.strategy, run.seed, iteration + 1, rank, song, score,
                        labels[song]) for rank, (song, score) in enumerate(chosen.items(), start=1))
        record(iteration + 1)
        if progress is not None:
            progress()
    return results, queries


def _test_probabilities(run: Run, world: World, test_songs: list[str], scaling: str
                        ) -> tuple[Callable[[Committee], np.ndarray], MarginMemo | None]:
    """How a run's committee scores its test songs, (n_members, n_songs, 4) through its layer, and the
    memo its queries score with. A run of SHARED_MEMBER_RULES in a world that shares the members'
    song probabilities reads them, and queries without a memo, from the catalogue; any other run
    scores the songs' windows, its memo sparing xgb members the trees they had."""
    if world.members is not None and run.rule in SHARED_MEMBER_RULES:
        members = world.members.of(test_songs)
        return (lambda committee: committee.heard(members)), None
    X, offsets = scaled_windows(world.committee, world.pool, test_songs, scaling)
    memo = MarginMemo()  # this run's committees only grow from the pretrained one
    return (lambda committee: consensus.song_probabilities(memo.proba(committee, X, offsets, test_songs),
                                                           offsets)), memo


def share(world: World, runs: list[Run], scaling: str) -> None:
    """Score once what the runs of SHARED_MEMBER_RULES share, when the committee has a catalogue
    (`catalogue.catalogued`): the catalogue of every song they may query (their layers' fits and
    queries read it), and each member's probabilities of their test songs (`world.members`)."""
    shared = [run for run in runs if run.rule in SHARED_MEMBER_RULES]
    if not shared or not catalogue.catalogued(world.committee, scaling):
        return
    candidates = sorted({song for run in shared for song in run.pool_songs})
    catalogue.member_probabilities(world.committee, world.pool, candidates, scaling)
    world.members = member_songs(world.committee, world.pool,
                                 sorted({song for run in shared for song in run.test_songs}), scaling)


# --- running many runs ---------------------------------------------------------------------------


@contextlib.contextmanager
def thread_share(jobs: int) -> Iterator[None]:
    """BLAS on one thread and xgboost on this run's share of the cores: `jobs` users run side by
    side, and a lone user's xgboost updates (most of a run's time) use every core. Only BLAS is
    limited: xgboost's OpenMP threads would obey a limit on every thread pool. Neither changes a
    result: exact trees do not depend on xgboost's thread count."""
    with (xgb.config_context(nthread=max(1, available_cores() // jobs)),
          threadpool_limits(limits=1, user_api="blas")):
        yield


_WORLD: World | None = None
"""The world of a worker process, set once by `_init_worker`."""


def load_world(feats_dir: Path, cache_dir: Path, committee_dir: Path, labels: dict[str, dict[str, int]],
               crowd: Crowd) -> World:
    committee = committees.load_committee(committee_dir)
    return World(load_pool(feats_dir, cache_dir, names=committee.feature_names), committee, labels, crowd,
                 CrowdTally(crowd))


def _init_worker(world_args: tuple, members: MemberSongs | None) -> None:
    global _WORLD
    _WORLD = load_world(*world_args)
    _WORLD.members = members


def _work(run: Run, plan: Plan, jobs: int) -> tuple[list[tuple], list[tuple]]:
    with thread_share(jobs):
        return simulate_run(run, _WORLD, plan)


def run_all(runs: list[Run], world: World, plan: Plan, jobs: int, world_args: tuple,
            progress: bool = True) -> tuple[list[tuple], list[tuple]]:
    """Every run, on `jobs` processes (each loading the world from `world_args`) or in this one,
    after scoring once what runs share (`share`); rows come back in the order of `runs` whatever
    finishes first."""
    outcomes: list[tuple[list[tuple], list[tuple]] | None] = [None] * len(runs)
    share(world, runs, plan.scaling or world.committee.default_scaling())
    with progress_bar("it", "simulate", progress, total=len(runs) * plan.iterations) as bar:
        if jobs == 1:
            with thread_share(jobs):
                for i, run in enumerate(runs):
                    outcomes[i] = simulate_run(run, world, plan, lambda: bar.update(1))
        else:
            with ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=_init_worker,
                                     initargs=(world_args, world.members)) as executor:
                futures = {executor.submit(_work, run, plan, jobs): i for i, run in enumerate(runs)}
                for future in as_completed(futures):
                    outcomes[futures[future]] = future.result()
                    bar.update(plan.iterations)
    results = [row for outcome in outcomes for row in outcome[0]]
    queries = [row for outcome in outcomes for row in outcome[1]]
    return results, queries
