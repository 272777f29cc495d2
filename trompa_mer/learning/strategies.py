"""Query strategies: one score per candidate song, higher means ask sooner.

`mc` machine consensus (the committee's consensus entropy), `hc` human consensus (entropy of the
crowd's quadrant frequencies, the user's own annotations left out), `mix` the larger of the two,
`rand` seeded random numbers. `select_top` then picks, ties going to the smaller song id.
Crowd annotations come from the TROMPA study's JSON or a CSV `song_id,user_id,quadrant`.
"""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from trompa_mer import storage
from trompa_mer.committee import consensus
from trompa_mer.committee.folder import Committee
from trompa_mer.committee.margins import MarginMemo
from trompa_mer.errors import CrowdError, QueryError
from trompa_mer.learning.pool import Pool
from trompa_mer.learning.scoring import consensus_scores
from trompa_mer.names import (
    CROWD_STRATEGIES,
    HC,
    MC,
    N_CLASSES,
    RAND,
    STRATEGIES,
    quadrant_index,
    quadrant_of,
)

NO_CROWD_SCORE = -1.0
"""`hc` score of a song no other user annotated: below every entropy (≥ 0), so it ranks last."""
CSV_COLUMNS = ("song_id", "user_id", "quadrant")
"""Columns of a crowd or labels CSV (any order, extra columns ignored)."""


@dataclass(frozen=True)
class Crowd:
    """Annotations, one per row: song id (lower-cased), user id (a string) and quadrant index 0..3."""

    song_ids: np.ndarray
    user_ids: np.ndarray
    quadrants: np.ndarray

    def __len__(self) -> int:
        return len(self.quadrants)


def make_crowd(song_ids: list[str], user_ids: list[str], quadrants: list[int]) -> Crowd:
    """A Crowd from parallel lists; ids are normalised (songs lower-cased, users as strings)."""
    return Crowd(np.array([str(s).lower() for s in song_ids], dtype=object),
                 np.array([str(u) for u in user_ids], dtype=object),
                 np.asarray(quadrants, dtype=np.int64))


def read_crowd(path: Path) -> Crowd:
    """A crowd file: `.csv` → `song_id,user_id,quadrant` (Q1..Q4); anything else → the TROMPA
    study's JSON (`annotations[]` with `externalID`, `userid`, `valenceValue`, `arousalValue`)."""
    if not path.is_file():
        raise CrowdError(f"crowd annotations not found: {path}")
    if path.suffix.lower() == ".csv":
        return read_crowd_csv(path)
    return read_trompa_json(path)


def read_crowd_csv(path: Path) -> Crowd:
    """`song_id,user_id,quadrant` rows (quadrant Q1..Q4), as a Crowd."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise CrowdError(f"cannot read {path}: {exc}") from None
    missing = [c for c in CSV_COLUMNS if c not in table.columns]
    if missing:
        raise CrowdError(f"{path} lacks the column(s) {', '.join(missing)} "
                         f"(expected {','.join(CSV_COLUMNS)})")
    quadrants = []
    for line, name in enumerate(table["quadrant"], start=2):
        try:
            quadrants.append(quadrant_index(name.strip()))
        except ValueError as exc:
            raise CrowdError(f"{path}, line {line}: {exc}") from None
    for column in ("song_id", "user_id"):
        empty = table.index[table[column].str.strip() == ""]
        if len(empty):
            raise CrowdError(f"{path}, line {int(empty[0]) + 2}: empty {column}")
    return make_crowd(table["song_id"].str.strip().tolist(), table["user_id"].str.strip().tolist(),
                      quadrants)


def read_trompa_json(path: Path) -> Crowd:
    """The TROMPA study's JSON: each annotation's quadrant from the signs of its valence/arousal."""
    try:
        document = storage.read_json(path)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CrowdError(f"malformed crowd JSON {path}: {exc}") from None
    annotations = document.get("annotations") if isinstance(document, dict) else None
    if not isinstance(annotations, list):
        raise CrowdError(f"{path} has no `annotations` list (the TROMPA study format)")
    songs, users, quadrants = [], [], []
    for number, item in enumerate(annotations):
        try:
            song, user = item["externalID"], item["userid"]
            valence, arousal = float(item["valenceValue"]), float(item["arousalValue"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CrowdError(f"{path}: annotation {number} lacks a usable "
                             f"externalID/userid/valenceValue/arousalValue ({exc!r})") from None
        if song is None or user is None:
            raise CrowdError(f"{path}: annotation {number} has no externalID or userid")
        songs.append(song)
        users.append(user)
        quadrants.append(int(quadrant_of(valence, arousal)))
    return make_crowd(songs, users, quadrants)


def quadrant_counts(crowd: Crowd, song_ids: list[str], exclude_user: str) -> np.ndarray:
    """(n_songs, 4) how many annotations of each song fall in each quadrant, leaving out those of
    `exclude_user` (compared as strings)."""
    position = {song: i for i, song in enumerate(song_ids)}
    rows = np.array([position.get(song, -1) for song in crowd.song_ids], dtype=np.int64)
    keep = (rows >= 0) & (crowd.user_ids != str(exclude_user))
    counts = np.zeros((len(song_ids), N_CLASSES))
    np.add.at(counts, (rows[keep], crowd.quadrants[keep]), 1.0)
    return counts


def frequencies(counts: np.ndarray) -> np.ndarray:
    """Relative frequencies (n_songs, 4) of quadrant counts; all zero for a song without any."""
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts, dtype=np.float64), where=totals > 0)


def hc_scores(counts: np.ndarray) -> np.ndarray:
    """Human-consensus entropy (n_songs,) of quadrant counts (n_songs, 4); NO_CROWD_SCORE for a song
    without annotations."""
    annotated = counts.sum(axis=1) > 0
    return np.where(annotated, consensus.entropy(frequencies(counts)), NO_CROWD_SCORE)


def stable_seed(*parts: object) -> int:
    """A 64-bit seed from the parts' text, the same in every process (unlike Python's `hash`)."""
    text = "\x1f".join(str(part) for part in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def rand_scores(n_songs: int, user_id: str, iteration: int, seed: int = 0) -> np.ndarray:
    """(n_songs,) uniform numbers drawn from a generator seeded by (user, iteration, seed)."""
    return np.random.default_rng(stable_seed(user_id, iteration, seed)).random(n_songs)


def check_strategy(strategy: str, crowd: Crowd | None) -> None:
    """QueryError for an unknown strategy, CrowdError for hc/mix without crowd annotations."""
    if strategy not in STRATEGIES:
        raise QueryError(f"unknown query strategy {strategy!r} (expected one of {', '.join(STRATEGIES)})")
    if strategy in CROWD_STRATEGIES and crowd is None:
        raise CrowdError(f"strategy {strategy} needs crowd annotations")


def strategy_scores(strategy: str, committee: Committee, pool: Pool, candidates: list[str], scaling: str,
                    crowd: Crowd | None, user_id: str, iteration: int, seed: int = 0, *,
                    memo: MarginMemo | None = None, jobs: int | None = None,
                    chunk_songs: int | None = None) -> np.ndarray:
    """One score (n_candidates,) per candidate song under `strategy`; the committee is only asked
    for mc and mix (through `memo` when given), the crowd only for hc and mix."""
    check_strategy(strategy, crowd)
    if strategy == RAND:
        return rand_scores(len(candidates), user_id, iteration, seed)
    if strategy == MC:
        return consensus_scores(committee, pool, candidates, scaling, chunk_songs, jobs, memo=memo)
    human = hc_scores(quadrant_counts(crowd, candidates, user_id))
    if strategy == HC:
        return human
    machine = consensus_scores(committee, pool, candidates, scaling, chunk_songs, jobs, memo=memo)
    return np.maximum(machine, human)


def select_top(song_ids: Sequence[str], scores: np.ndarray, n: int) -> list[str]:
    """The `n` songs of highest score; ties go to the smaller song id, whatever numpy's sort does."""
    order = sorted(range(len(song_ids)), key=lambda i: (-float(scores[i]), song_ids[i]))
    return [song_ids[i] for i in order[:n]]
