"""Simulated personalization, as in Gómez-Cañón et al. (ISMIR 2021): for every listener with their own
labels, hold out test songs, then query with a strategy, answer from the labels, retrain, and measure
the weighted F1 on the held-out songs after every update.

Queries and updates go through `personalize.choose_songs` and `personalize.learn_answers`, the very
functions behind get_hard_tracks.py and retrain_model.py; the committee stays in memory.
"""

import contextlib
import math
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb
from scipy import stats
from sklearn.metrics import f1_score
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from trompa_mer import names, storage
from trompa_mer.committee import consensus
from trompa_mer.committee import folder as committees
from trompa_mer.committee.folder import Committee
from trompa_mer.committee.margins import MarginMemo
from trompa_mer.cores import available_cores
from trompa_mer.errors import SimulationError
from trompa_mer.learning import strategies
from trompa_mer.learning.pool import Pool, load_pool
from trompa_mer.learning.scoring import scaled_windows
from trompa_mer.learning.strategies import Crowd
from trompa_mer.names import QUADRANTS
from trompa_mer.users import personalize

COMMITTEE_MODEL = "committee"
"""`model` of the whole committee's rows in results.csv (members' probabilities averaged)."""
RESULTS_FILE = "results.csv"
RESULT_COLUMNS = ("user", "strategy", "seed", "iteration", "n_annotations", "model", "f1")
SUMMARY_FILE = "summary.md"
QUERIES_FILE = "queries.csv"
"""Every queried song: the batch that took the committee to `iteration`, in rank order."""
SPLITS_FILE = "splits.csv"
"""Each user's songs per seed, `pool` (may be queried) or `test` (only evaluated)."""
CURVE_FILE = "curve_{model}.png"
LINE_STYLES = ("-", "--", "-.", ":")
"""One per strategy, so that strategies choosing the same songs (mc and mix often) stay visible."""


@dataclass(frozen=True)
class Plan:
    """What to simulate: strategies, iterations × queries per user, the test share, repetitions."""

    strategies: tuple[str, ...]
    iterations: int = 10
    queries: int = 10
    min_annotations: int = 150
    test_size: float = 0.15
    seeds: int = 3
    rounds: int = 100
    scaling: str | None = None

    def check(self) -> None:
        if not self.strategies:
            raise SimulationError("no strategy to simulate")
        for strategy in self.strategies:
            if strategy not in names.STRATEGIES:
                raise SimulationError(f"unknown strategy {strategy!r} "
                                      f"(expected some of {','.join(names.STRATEGIES)})")
        for name in ("iterations", "queries", "min_annotations", "seeds", "rounds"):
            if getattr(self, name) < 1:
                raise SimulationError(f"{name.replace('_', '-')} must be at least 1, "
                                      f"not {getattr(self, name)}")
        if not 0 < self.test_size < 1:
            raise SimulationError(f"test-size must be between 0 and 1, not {self.test_size}")


@dataclass(frozen=True)
class Run:
    """One simulated user under one strategy and seed: the songs they may be asked, and the test."""

    user: str
    strategy: str
    seed: int
    pool_songs: tuple[str, ...]
    test_songs: tuple[str, ...]


@dataclass
class World:
    """What every run reads: the feature pool, the pretrained committee, labels and the crowd."""

    pool: Pool
    committee: Committee
    labels: dict[str, dict[str, int]]
    crowd: Crowd


# --- labels and plan ----------------------------------------------------------------------------


def labels_by_user(labels: Crowd) -> dict[str, dict[str, int]]:
    """User → song → class index; a song a user labelled more than once takes their last label."""
    by_user: dict[str, dict[str, int]] = {}
    for song, user, quadrant in zip(labels.song_ids, labels.user_ids, labels.quadrants.tolist(),
                                    strict=True):
        by_user.setdefault(user, {})[song] = quadrant
    return by_user


def split_songs(songs: list[str], test_size: float, seed: int) -> tuple[list[str], list[str]]:
    """(pool, test), both sorted: a seeded shuffle of `songs`, round(test_size · n) of them (≥ 1) held
    out."""
    n_test = max(1, round(test_size * len(songs)))
    order = np.random.default_rng(seed).permutation(len(songs))
    test = sorted(songs[i] for i in order[:n_test])
    pool = sorted(songs[i] for i in order[n_test:])
    return pool, test


def plan_runs(labels: dict[str, dict[str, int]], pool: Pool, plan: Plan) -> list[Run]:
    """Runs for every user with at least `min_annotations` labelled songs that have features, every
    seed and strategy; the split depends on user and seed only, so strategies are compared on the
    same test songs."""
    usable = {user: sorted(s for s in songs if s in pool) for user, songs in labels.items()}
    eligible = sorted(user for user, songs in usable.items() if len(songs) >= plan.min_annotations)
    if not eligible:
        most = max((len(songs) for songs in usable.values()), default=0)
        raise SimulationError(f"no user has {plan.min_annotations} labelled songs with features (the most "
                              f"any has is {most}): lower --min-annotations")
    needed = plan.iterations * plan.queries
    runs = []
    for user in eligible:
        for seed in range(plan.seeds):
            pool_songs, test_songs = split_songs(usable[user], plan.test_size,
                                                 strategies.stable_seed("split", user, seed))
            if len(pool_songs) < needed:
                raise SimulationError(
                    f"user {user} has {len(pool_songs)} songs left after holding out {len(test_songs)} "
                    f"for testing, fewer than the {needed} that {plan.iterations} iterations × "
                    f"{plan.queries} queries ask: lower them or raise --min-annotations")
            runs.extend(Run(user, strategy, seed, tuple(pool_songs), tuple(test_songs))
                        for strategy in plan.strategies)
    return runs


# --- evaluation (pure) ---------------------------------------------------------------------------


def model_probabilities(names: list[str], song_proba: np.ndarray) -> dict[str, np.ndarray]:
    """Song probabilities (n_songs, 4) per model: each member (its file name), each kind (mean of that
    kind's members) and the committee (mean of all). song_proba: (n_members, n_songs, 4)."""
    models = {name: song_proba[i] for i, name in enumerate(names)}
    kinds: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        kinds.setdefault(committees.MEMBER_PATTERN.match(name)["kind"], []).append(i)
    for kind, rows in kinds.items():
        models[kind] = song_proba[rows].mean(axis=0)
    models[COMMITTEE_MODEL] = song_proba.mean(axis=0)
    return models


def weighted_f1(y_true: np.ndarray, proba: np.ndarray) -> float:
    """Weighted F1 of the most probable quadrant of each song, proba (n_songs, 4), against y_true."""
    return float(f1_score(y_true, proba.argmax(axis=1), average="weighted", zero_division=0))


def evaluate(committee: Committee, X: np.ndarray, offsets: np.ndarray, y_true: np.ndarray,
             memo: MarginMemo, song_ids: list[str]) -> dict[str, float]:
    """F1 per model on test songs `song_ids`: X (n_windows, 260) scaled, offsets (n_songs + 1,),
    y_true (n_songs,)."""
    song_proba = consensus.song_probabilities(memo.proba(committee, X, offsets, song_ids), offsets)
    return {model: weighted_f1(y_true, proba)
            for model, proba in model_probabilities(list(committee.members), song_proba).items()}


# --- one run ------------------------------------------------------------------------------------


def _check_no_leak(songs: list[str], test: set[str], what: str) -> None:
    leaked = sorted(test.intersection(songs))
    if leaked:
        raise AssertionError(f"test songs entered a {what}: {', '.join(leaked)}")


def simulate_run(run: Run, world: World, plan: Plan,
                 progress: Callable[[], None] | None = None) -> tuple[list[tuple], list[tuple]]:
    """Result rows (RESULT_COLUMNS) and query rows of one run: evaluate the pretrained committee, then
    `plan.iterations` times query, answer from the user's labels, retrain, evaluate."""
    committee = world.committee
    labels = world.labels[run.user]
    scaling = plan.scaling or committee.default_scaling()
    test_songs = list(run.test_songs)
    test = set(test_songs)
    X_test, offsets = scaled_windows(committee, world.pool, test_songs, scaling)
    y_test = np.array([labels[s] for s in test_songs])
    memo = MarginMemo()  # this run's committees only grow from the pretrained one
    results, queries = [], []

    def record(iteration: int) -> None:
        for model, f1 in evaluate(committee, X_test, offsets, y_test, memo, test_songs).items():
            results.append((run.user, run.strategy, run.seed, iteration, iteration * plan.queries, model, f1))

    record(0)
    asked: set[str] = set()
    for iteration in range(plan.iterations):
        candidates = [song for song in run.pool_songs if song not in asked]
        chosen = personalize.choose_songs(run.strategy, committee, world.pool, candidates, scaling,
                                          world.crowd, run.user, iteration, plan.queries, run.seed,
                                          memo=memo)
        _check_no_leak(list(chosen), test, "query")
        answers = {song: labels[song] for song in chosen}
        _check_no_leak(list(answers), test, "update")
        committee = personalize.learn_answers(committee, world.pool, answers, scaling, plan.rounds,
                                              seed=iteration)
        asked.update(chosen)
        queries.extend((run.user, run.strategy, run.seed, iteration + 1, rank, song, score,
                        labels[song]) for rank, (song, score) in enumerate(chosen.items(), start=1))
        record(iteration + 1)
        if progress is not None:
            progress()
    return results, queries


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
    return World(load_pool(feats_dir, cache_dir), committees.load_committee(committee_dir), labels, crowd)


def _init_worker(*args: object) -> None:
    global _WORLD
    _WORLD = load_world(*args)


def _work(run: Run, plan: Plan, jobs: int) -> tuple[list[tuple], list[tuple]]:
    with thread_share(jobs):
        return simulate_run(run, _WORLD, plan)


def run_all(runs: list[Run], world: World, plan: Plan, jobs: int, world_args: tuple,
            progress: bool = True) -> tuple[list[tuple], list[tuple]]:
    """Every run, on `jobs` processes (each loading the world from `world_args`) or in this one;
    rows come back in the order of `runs` whatever finishes first."""
    outcomes: list[tuple[list[tuple], list[tuple]] | None] = [None] * len(runs)
    with tqdm(total=len(runs) * plan.iterations, unit="it", desc="simulate", disable=not progress) as bar:
        if jobs == 1:
            with thread_share(jobs):
                for i, run in enumerate(runs):
                    outcomes[i] = simulate_run(run, world, plan, lambda: bar.update(1))
        else:
            with ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=_init_worker,
                                     initargs=world_args) as executor:
                futures = {executor.submit(_work, run, plan, jobs): i for i, run in enumerate(runs)}
                for future in as_completed(futures):
                    outcomes[futures[future]] = future.result()
                    bar.update(plan.iterations)
    results = [row for outcome in outcomes for row in outcome[0]]
    queries = [row for outcome in outcomes for row in outcome[1]]
    return results, queries


# --- summary and figures --------------------------------------------------------------------------


def user_curves(results: pd.DataFrame, strategy: str, model: str) -> pd.DataFrame:
    """Users × iterations F1 of one strategy and model, each user's curve averaged over seeds."""
    rows = results[(results["strategy"] == strategy) & (results["model"] == model)]
    return rows.groupby(["user", "iteration"])["f1"].mean().unstack("iteration").sort_index(axis=1)


def mean_ci(values: np.ndarray) -> tuple[float, float]:
    """Mean and half-width of its 95 % confidence interval (Student t; NaN for fewer than 2 values)."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, math.nan
    sem = values.std(ddof=1) / math.sqrt(len(values))
    return mean, float(stats.t.ppf(0.975, len(values) - 1) * sem)


def slopes(curves: np.ndarray) -> np.ndarray:
    """Least-squares slope (n_users,) of each curve (n_users, n_iterations) over iteration numbers."""
    x = np.arange(curves.shape[1], dtype=np.float64)
    x = x - x.mean()
    return (curves - curves.mean(axis=1, keepdims=True)) @ x / (x @ x)


def summary_models(results: pd.DataFrame) -> list[str]:
    """Model kinds in order of appearance, then the committee (members are left to results.csv)."""
    models = [m for m in results["model"].unique() if not committees.MEMBER_PATTERN.match(m)]
    return [m for m in models if m != COMMITTEE_MODEL] + [COMMITTEE_MODEL]


def summarize(results: pd.DataFrame, strategy_order: list[str]) -> pd.DataFrame:
    """Per strategy and model kind: users; F1 at iteration 0 and at the end (mean and CI half-width
    over users); area under the learning curve (mean F1 over the curve, trapezoids); share of users
    whose F1 slope over iterations is positive."""
    rows = []
    for strategy in strategy_order:
        for model in summary_models(results):
            curves = user_curves(results, strategy, model).to_numpy()
            if not len(curves):
                continue
            area = np.trapezoid(curves, axis=1) / (curves.shape[1] - 1)
            start, end, aulc = mean_ci(curves[:, 0]), mean_ci(curves[:, -1]), mean_ci(area)
            rows.append({"strategy": strategy, "model": model, "users": len(curves),
                         "f1_start": start[0], "f1_start_ci": start[1], "f1_end": end[0],
                         "f1_end_ci": end[1], "aulc": aulc[0], "aulc_ci": aulc[1],
                         "positive_slope": float((slopes(curves) > 0).mean())})
    return pd.DataFrame(rows)


def _pm(mean: float, half: float) -> str:
    return f"{mean:.3f}" if math.isnan(half) else f"{mean:.3f} ± {half:.3f}"


def summary_markdown(summary: pd.DataFrame, plan: Plan, about: dict[str, str], figures: list[str]) -> str:
    annotations = plan.iterations * plan.queries
    lines = ["# Simulated personalization", ""]
    lines += [f"- {key}: {value}" for key, value in about.items()]
    lines += [f"- {plan.iterations} iterations × {plan.queries} queries, test share {plan.test_size}, "
              f"{plan.seeds} seed(s), {plan.rounds} xgb rounds per update", "",
              f"| strategy | model | users | F1 at 0 | F1 at {annotations} | AULC | positive slope |",
              "|---|---|---:|---:|---:|---:|---:|"]
    for row in summary.itertuples():
        lines.append(f"| {row.strategy} | {row.model} | {row.users} | {_pm(row.f1_start, row.f1_start_ci)} | "
                     f"{_pm(row.f1_end, row.f1_end_ci)} | {_pm(row.aulc, row.aulc_ci)} | "
                     f"{100 * row.positive_slope:.0f} % |")
    lines += ["", "Weighted F1 on each user's held-out songs (song level: mean probability over a song's "
              "windows), each user's curve averaged over seeds; mean ± 95 % CI (Student t) over users. "
              "AULC: the mean F1 over the learning curve (trapezoids, iteration 0 to the end). Positive "
              "slope: share of users whose least-squares F1 slope over iterations is above 0. Kinds "
              "average their members' probabilities; per-member figures are in "
              f"{RESULTS_FILE}; the queried songs in {QUERIES_FILE}; the splits in {SPLITS_FILE}.", ""]
    lines += [f"![{name}]({name})" for name in figures]
    return "\n".join(lines) + "\n"


def plot_curves(results: pd.DataFrame, model: str, strategy_order: list[str], queries: int,
                path: Path) -> None:
    """Learning curves of one model, one line per strategy: mean over users and its 95 % CI band."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    for number, strategy in enumerate(strategy_order):
        curves = user_curves(results, strategy, model)
        if curves.empty:
            continue
        x = curves.columns.to_numpy() * queries
        means, halves = zip(*(mean_ci(curves[c].to_numpy()) for c in curves.columns), strict=True)
        means, halves = np.array(means), np.nan_to_num(np.array(halves))
        axes.plot(x, means, marker="o", markersize=3, label=strategy,
                  linestyle=LINE_STYLES[number % len(LINE_STYLES)])
        axes.fill_between(x, means - halves, means + halves, alpha=0.2)
    axes.set_xlabel("annotations")
    axes.set_ylabel("weighted F1 (test songs)")
    axes.set_title(f"{model}: personalization learning curves")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    with storage.atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)


def _write_csv(path: Path, rows: list[tuple], columns: tuple[str, ...]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=list(columns))
    with storage.atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        table.to_csv(handle, index=False)
    return table


def write_report(out_dir: Path, runs: list[Run], results: list[tuple], queries: list[tuple], plan: Plan,
                 about: dict[str, str]) -> pd.DataFrame:
    """results.csv, queries.csv, splits.csv, one curve PNG per model kind and the committee, and
    summary.md; returns the summary table."""
    out_dir.mkdir(parents=True, exist_ok=True)
    table = _write_csv(out_dir / RESULTS_FILE, results, RESULT_COLUMNS)
    _write_csv(out_dir / QUERIES_FILE, [row[:7] + (QUADRANTS[row[7]],) for row in queries],
               ("user", "strategy", "seed", "iteration", "rank", "song_id", "score", "quadrant"))
    splits = sorted({(run.user, run.seed, song, part) for run in runs
                     for part, songs in (("pool", run.pool_songs), ("test", run.test_songs))
                     for song in songs})
    _write_csv(out_dir / SPLITS_FILE, splits, ("user", "seed", "song_id", "part"))
    order = list(plan.strategies)
    figures = []
    for model in summary_models(table):
        name = CURVE_FILE.format(model=model)
        plot_curves(table, model, order, plan.queries, out_dir / name)
        figures.append(name)
    summary = summarize(table, order)
    with storage.atomic_open(out_dir / SUMMARY_FILE, "w", encoding="utf-8") as handle:
        handle.write(summary_markdown(summary, plan, about, figures))
    return summary


# --- the experiment -------------------------------------------------------------------------------


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
    label_rows = strategies.read_crowd(labels_file)
    labels = labels_by_user(label_rows)
    crowd = label_rows if crowd_file is None else strategies.read_crowd(crowd_file)
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
