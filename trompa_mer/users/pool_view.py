"""The pool as a user's request sees it: opened for the committee's columns, the songs its load left
out, and (`HeldScores`) the songs' scores held between the requests of a long-running process.

A `layer`-rule user's song probabilities are the catalogue's member probabilities through their
layer (`learning.catalogue`). Loading the pool's index and the catalogue for each request costs
O(pool songs) (a quarter of a second on 100,000 songs); the service holds both, per committee, for
as long as `Pool.current` says a load would give the same pool.
"""

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trompa_mer.committee.model import Committee
from trompa_mer.errors import EmptyPoolError
from trompa_mer.features.pool import Pool, load_pool
from trompa_mer.learning import catalogue

HELD_COMMITTEES = 4
"""Committees whose scores one `HeldScores` keeps (the pretrained one, and one being replaced)."""


def open_pool(feats_dir: Path, cache_dir: Path, committee: Committee, jobs: int | None = None,
              progress: bool = False) -> Pool:
    """load_pool of the columns `committee` reads, but a missing features folder is an
    EmptyPoolError, as a folder without CSVs is (each face says how to fill it)."""
    if not feats_dir.is_dir():
        raise EmptyPoolError(f"features folder not found: {feats_dir}")
    return load_pool(feats_dir, cache_dir, jobs, progress, committee.feature_names)


def skipped_warnings(skipped: dict[str, str]) -> list[str]:
    """A warning per feature CSV left out of the pool because it cannot be read (yet), with why."""
    return [f"song {song} is left out until its features file can be read: {why}"
            for song, why in skipped.items()]


@dataclass(frozen=True)
class _Held:
    pool: Pool
    probabilities: np.ndarray


class HeldScores:
    """The pool's songs and a committee's member probabilities of them (`catalogue`), kept between
    calls while the pool is current (`Pool.current`); a committee that cannot be catalogued is
    scored at each call. Safe to share between threads."""

    def __init__(self) -> None:
        self._held: dict[tuple[str, str, str], _Held] = {}
        self._lock = threading.Lock()

    def heard(self, committee: Committee, feats_dir: Path, cache_dir: Path, scaling: str,
              jobs: int | None = None, chunk_songs: int | None = None) -> tuple[Pool, np.ndarray]:
        """The pool as last loaded (closed: its songs, their positions, what its load left out) and
        its songs' probabilities through `committee` (n_songs, 4: `catalogue.heard_probabilities`)."""
        if not catalogue.catalogued(committee, scaling):
            with open_pool(feats_dir, cache_dir, committee, jobs) as pool:
                songs = pool.song_ids
                return pool, catalogue.heard_probabilities(committee, pool, songs, scaling, chunk_songs, jobs)
        key = (str(feats_dir), str(cache_dir), catalogue.key_of(committee, scaling))
        with self._lock:
            held = self._held.get(key)
        if held is None or not held.pool.current():
            with open_pool(feats_dir, cache_dir, committee, jobs) as pool:
                held = _Held(pool, catalogue.member_probabilities(committee, pool, pool.song_ids, scaling,
                                                                  chunk_songs, jobs))
            with self._lock:
                self._held.pop(key, None)
                self._held[key] = held
                while len(self._held) > HELD_COMMITTEES:
                    del self._held[next(iter(self._held))]
        return held.pool, committee.heard(held.probabilities)
