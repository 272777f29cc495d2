"""What to simulate: the plan of runs, each user's pool and test songs per seed and strategy."""

from dataclasses import dataclass

import numpy as np

from trompa_mer import names
from trompa_mer.errors import SimulationError
from trompa_mer.features.pool import Pool
from trompa_mer.learning import strategies
from trompa_mer.learning.strategies import Crowd


@dataclass(frozen=True)
class Plan:
    """What to simulate: strategies and update rules, iterations × queries per user, the test share,
    repetitions, and whether the other listeners' answers are a member of every user's committee
    (as on a platform: queries by mc and mix, the layer's fit, and the USER_MODEL of the report)."""

    strategies: tuple[str, ...]
    iterations: int = 10
    queries: int = 10
    min_annotations: int = 150
    test_size: float = 0.15
    seeds: int = 3
    rounds: int = 100
    scaling: str | None = None
    rules: tuple[str, ...] = (names.DEFAULT_UPDATE_RULE,)
    crowd: bool = True

    def check(self) -> None:
        for what, chosen, known in (("strategy", self.strategies, names.STRATEGIES),
                                    ("update rule", self.rules, names.UPDATE_RULES)):
            if not chosen:
                raise SimulationError(f"no {what} to simulate")
            for name in chosen:
                if name not in known:
                    raise SimulationError(f"unknown {what} {name!r} (expected some of {','.join(known)})")
        for name in ("iterations", "queries", "min_annotations", "seeds", "rounds"):
            if getattr(self, name) < 1:
                raise SimulationError(f"{name.replace('_', '-')} must be at least 1, "
                                      f"not {getattr(self, name)}")
        if not 0 < self.test_size < 1:
            raise SimulationError(f"test-size must be between 0 and 1, not {self.test_size}")


@dataclass(frozen=True)
class Run:
    """One simulated user under one strategy, update rule and seed: the songs they may be asked, and
    the test."""

    user: str
    strategy: str
    seed: int
    pool_songs: tuple[str, ...]
    test_songs: tuple[str, ...]
    rule: str = names.DEFAULT_UPDATE_RULE


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


def plan_runs(labels: dict[str, dict[str, int]], pool: Pool, plan: Plan,
              seed_of: dict[str, int] | None = None) -> list[Run]:
    """Runs for every user with at least `min_annotations` labelled songs that have features, every
    seed, strategy and rule; the split depends on user and seed only, so strategies and rules are
    compared on the same test songs. `seed_of`: the one seed of each user drawn by a seed (simulated
    listeners); without it every user runs under every seed."""
    usable = {user: sorted(s for s in songs if s in pool) for user, songs in labels.items()}
    eligible = sorted(user for user, songs in usable.items() if len(songs) >= plan.min_annotations)
    if not eligible:
        most = max((len(songs) for songs in usable.values()), default=0)
        raise SimulationError(f"no user has {plan.min_annotations} labelled songs with features (the most "
                              f"any has is {most}): lower --min-annotations")
    needed = plan.iterations * plan.queries
    runs = []
    for user in eligible:
        for seed in ([seed_of[user]] if seed_of is not None else range(plan.seeds)):
            pool_songs, test_songs = split_songs(usable[user], plan.test_size,
                                                 strategies.stable_seed("split", user, seed))
            if len(pool_songs) < needed:
                raise SimulationError(
                    f"user {user} has {len(pool_songs)} songs left after holding out {len(test_songs)} "
                    f"for testing, fewer than the {needed} that {plan.iterations} iterations × "
                    f"{plan.queries} queries ask: {_fewer_songs_advice(usable, plan)}")
            runs.extend(Run(user, strategy, seed, tuple(pool_songs), tuple(test_songs), rule)
                        for rule in plan.rules for strategy in plan.strategies)
    return runs


def songs_needed(plan: Plan) -> int:
    """The fewest labelled songs a user needs for `plan`: after holding out the test share, enough
    for every iteration's queries."""
    n = plan.iterations * plan.queries
    while n - max(1, round(plan.test_size * n)) < plan.iterations * plan.queries:
        n += 1
    return n


def _fewer_songs_advice(usable: dict[str, list[str]], plan: Plan) -> str:
    """What helps when an eligible user has too few songs: leaving them out by raising
    --min-annotations, but only when some user has enough songs to stay in."""
    enough = songs_needed(plan)
    if any(len(songs) >= enough for songs in usable.values()):
        return (f"lower --iterations or --queries, or raise --min-annotations to {enough} to leave out the "
                "users with fewer songs")
    most = max(len(songs) for songs in usable.values())
    return (f"lower --iterations or --queries (or --test-size): no user has the {enough} labelled songs "
            f"with features they need (the most any has is {most})")
