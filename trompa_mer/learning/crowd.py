"""Crowd annotations: other listeners' quadrants per song, which the `hc` and `mix` strategies read.

They come from the TROMPA study's JSON or a CSV `song_id,user_id,quadrant`; `quadrant_counts` then
tallies them per song, the queried user's own left out.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trompa_mer import storage
from trompa_mer.errors import CrowdError
from trompa_mer.names import N_CLASSES, quadrant_index, quadrant_of

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
    import pandas as pd

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
