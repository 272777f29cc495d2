"""Catalogue scores: each pool song's mean member probabilities under one committee, computed once.

Users of the `shift` and `layer` rules keep the pretrained members; only their shift or 4 × 4 layer
differs. A song's probabilities for such a user are the members' mean over its windows (4 numbers,
the same for every user) through what is the user's own, so the pool is scored once per committee,
not per request.

The scores of a committee lie in the pool's store folder (`Pool.store`), in `scores/<key>.npy`: one
numpy structured array (song id, the song's rows' fingerprint `Pool.fingerprints`, its 4
probabilities) sorted by song id, read memory-mapped. The key is a digest of the committee's files
(`Committee.digest`), the scaling and the libraries that score. A song whose rows changed, or that
is new, is scored alone and the file rewritten (temporary file + rename, under `scores/.lock`):
readers see the old file or the new one, never a mix, and a killed scoring leaves the old one. Songs
no longer in the pool are dropped at that rewrite. A song's score depends only on its own rows
(`scoring`), up to rounding: a member's matrix products may round a song's windows differently in
another batch (by ~1e-15, measured on the mlp and sgd members), so scores equal a full rescoring to
that, and bit for bit when the batches are the same.
"""

import hashlib
import json
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from trompa_mer import storage
from trompa_mer.committee import files as committees
from trompa_mer.committee.model import Committee
from trompa_mer.errors import CommitteeError
from trompa_mer.features.pool import Pool, load_pool
from trompa_mer.learning.scoring import quadrant_probabilities
from trompa_mer.names import N_CLASSES, SCALING_ORIGINAL

SCORES_FOLDER = "scores"
SCORES_VERSION = 2
"""2: the table sorted by song."""
TASK_SONGS = 1000
"""Songs per task when a cluster scores the catalogue: a worker holds one task's windows at a time
(songs × windows × columns × 8 bytes: 1,000 × 60 × 510 × 8 B = 245 MB), so this bounds its memory."""


def catalogued(committee: Committee, scaling: str) -> bool:
    """Whether `committee`'s scores can be catalogued: it was loaded from files (it has a digest) and
    scales by its own scaler (`original` scaling is fitted on the whole pool, so a song's score
    depends on every other song)."""
    return committee.digest is not None and scaling != SCALING_ORIGINAL


def key_of(committee: Committee, scaling: str) -> str:
    """The file name stem of `committee`'s scores: its files' digest, the scaling and the library
    versions that compute them."""
    if not catalogued(committee, scaling):
        raise ValueError("only a committee loaded from files, with its own scaling, has catalogue scores")
    text = json.dumps([SCORES_VERSION, committee.digest, scaling, committees.library_versions()],
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def scores_path(pool: Pool, committee: Committee, scaling: str) -> Path:
    """Where `committee`'s scores on `pool` lie."""
    return pool.store / SCORES_FOLDER / f"{key_of(committee, scaling)}.npy"


def _dtype(song_chars: int) -> np.dtype:
    return np.dtype([("song", f"<U{max(song_chars, 1)}"), ("fingerprint", "<u8"),
                     ("probs", "<f8", (N_CLASSES,))])


def read_scores(path: Path) -> np.ndarray | None:
    """The scores file `path`, memory-mapped; None when it is missing or not a scores file (a
    damaged file is rescored, never trusted)."""
    try:
        scores = np.load(path, mmap_mode="r", allow_pickle=False)
    except (FileNotFoundError, ValueError, OSError, EOFError):
        return None
    names = scores.dtype.names or ()
    if scores.ndim != 1 or names != ("song", "fingerprint", "probs") \
            or scores.dtype["probs"].shape != (N_CLASSES,):
        return None
    return scores


def _known(scores: np.ndarray | None, songs: list[str], fingerprints: np.ndarray) -> np.ndarray:
    """(n_songs,) the row of `scores` (sorted by song, as `_write` leaves them) holding each song
    with its current fingerprint, -1 for none."""
    rows = np.full(len(songs), -1, dtype=np.int64)
    if scores is None or not len(scores) or not songs:
        return rows
    stored, wanted = scores["song"], np.asarray(songs)
    found = np.minimum(np.searchsorted(stored, wanted), len(stored) - 1)
    matches = (stored[found] == wanted) & (scores["fingerprint"][found] == fingerprints)
    rows[matches] = found[matches]
    return rows


def _write(path: Path, pool: Pool, fresh: dict[str, tuple[int, np.ndarray]]) -> None:
    """Merge `fresh` (song → (fingerprint, probabilities)) into the scores at `path`, under its lock;
    keep only the pool's songs, each at its current fingerprint (a song scored from rows that have
    changed since is left out)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with storage.folder_lock(path.parent):
        storage.remove_stale_writes(path.parent, "*.npy")  # what killed scorings left
        current = read_scores(path)
        songs = pool.song_ids
        fingerprints = pool.fingerprints(songs)
        rows = _known(current, songs, fingerprints)
        known = rows >= 0
        new = [i for i, song in enumerate(songs)
               if not known[i] and song in fresh and fresh[song][0] == int(fingerprints[i])]
        kept = np.flatnonzero(known)
        table = np.zeros(len(kept) + len(new),
                         dtype=_dtype(max((len(songs[i]) for i in [*kept.tolist(), *new]), default=1)))
        table["song"] = [songs[i] for i in kept] + [songs[i] for i in new]
        if len(kept):
            table["fingerprint"][:len(kept)] = current["fingerprint"][rows[kept]]
            table["probs"][:len(kept)] = current["probs"][rows[kept]]
        if new:
            table["fingerprint"][len(kept):] = [fresh[songs[i]][0] for i in new]
            table["probs"][len(kept):] = [fresh[songs[i]][1] for i in new]
        table.sort(order="song")  # `_known` finds songs by binary search
        with storage.atomic_open(path, "wb") as handle:
            np.save(handle, table, allow_pickle=False)


def member_probabilities(committee: Committee, pool: Pool, song_ids: list[str], scaling: str,
                         chunk_songs: int | None = None, jobs: int | None = None) -> np.ndarray:
    """(n_songs, 4) each song's mean member probabilities (without the committee's layer) from the
    catalogue; songs it lacks or whose rows changed are scored (`scoring.quadrant_probabilities`,
    `chunk_songs` songs at a time on `jobs` threads) and added to it."""
    path = scores_path(pool, committee, scaling)
    scores = read_scores(path)
    fingerprints = pool.fingerprints(song_ids)
    rows = _known(scores, song_ids, fingerprints)
    result = np.empty((len(song_ids), N_CLASSES), dtype=np.float64)
    found = rows >= 0
    if found.any():
        result[found] = scores["probs"][rows[found]]
    missing = [song for song, row in zip(song_ids, rows.tolist(), strict=True) if row < 0]
    if missing:
        members = replace(committee, layer=None)  # what every user of these members shares
        fresh = quadrant_probabilities(members, pool, missing, scaling, chunk_songs, jobs)
        result[~found] = fresh
        by_song = dict(zip(missing, zip(fingerprints[~found].tolist(), fresh, strict=True), strict=True))
        _write(path, pool, by_song)
    return result



def heard_probabilities(committee: Committee, pool: Pool, song_ids: list[str], scaling: str,
                        chunk_songs: int | None = None, jobs: int | None = None) -> np.ndarray:
    """(n_songs, 4) the committee's song probabilities through its layer: the members' from the
    catalogue when they can be catalogued (`catalogued`), else scored
    (`scoring.quadrant_probabilities`)."""
    if not catalogued(committee, scaling):
        return quadrant_probabilities(committee, pool, song_ids, scaling, chunk_songs, jobs)
    return committee.heard(member_probabilities(committee, pool, song_ids, scaling, chunk_songs, jobs))


@dataclass(frozen=True)
class Scored:
    """What scoring a catalogue did: songs scored, songs it already held, the scores file."""

    scored: int
    known: int
    path: Path


def score_task(committee_dir: str, feats_dir: str, cache_dir: str, song_ids: list[str],
               scaling: str) -> tuple[list[str], list[int], np.ndarray]:
    """On a worker: the songs of `song_ids` still in the pool, their rows' fingerprints and their
    member probabilities (n, 4), by the committee in `committee_dir` from the pool's shared store
    (brought up to date first, as every command does; the caller has just done it)."""
    committee = committees.load_committee(Path(committee_dir))
    with load_pool(Path(feats_dir), Path(cache_dir), jobs=1, names=committee.feature_names) as pool:
        present = [song for song in song_ids if song in pool]
        probs = quadrant_probabilities(replace(committee, layer=None), pool, present, scaling, jobs=1)
        return present, pool.fingerprints(present).tolist(), probs


def score_catalogue(committee_dir: Path, feats_dir: Path, cache_dir: Path, executor: Executor | None = None,
                    task_songs: int = TASK_SONGS, jobs: int | None = None, chunk_songs: int | None = None,
                    progress: bool = False) -> Scored:
    """Score every pool song the catalogue of the committee in `committee_dir` lacks (after a new
    committee or a large import), so that no user's request waits for it: on `jobs` local threads,
    or in tasks of `task_songs` songs on `executor` (a Dask cluster's: every worker needs the
    feature files, the pool's store and the committee at the same paths). The scores are the same
    either way, up to rounding (~1e-15): a song's depends only on its own rows. Every CSV is looked
    at (`load_pool`'s `full_check`), so a CSV rewritten in place is scored too."""
    committee = committees.load_committee(committee_dir, lazy=True)
    scaling = committee.default_scaling()
    if not catalogued(committee, scaling):
        raise CommitteeError(f"{committee_dir} has no scaler.pkl: a committee that scales by the pool "
                             "(original scaling) has no catalogue scores")
    with load_pool(feats_dir, cache_dir, jobs, progress, committee.feature_names, full_check=True) as pool:
        path = scores_path(pool, committee, scaling)
        songs = pool.song_ids
        rows = _known(read_scores(path), songs, pool.fingerprints(songs))
        missing = [song for song, row in zip(songs, rows.tolist(), strict=True) if row < 0]
        if missing and executor is None:
            member_probabilities(committee, pool, missing, scaling, chunk_songs, jobs)
        elif missing:
            tasks = [executor.submit(score_task, str(committee_dir), str(feats_dir), str(cache_dir),
                                     missing[i:i + task_songs], scaling)
                     for i in range(0, len(missing), task_songs)]
            fresh = {}
            for task in tasks:
                present, fingerprints, probs = task.result()
                fresh.update(zip(present, zip(fingerprints, probs, strict=True), strict=True))
            _write(path, pool, fresh)
        return Scored(len(missing), len(songs) - len(missing), path)

