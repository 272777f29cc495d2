"""What every run of a simulation shares, computed once: the pretrained members' song probabilities
and the crowd's counts.

A user of the `layer` rule keeps the pretrained members; only their 4 × 4 layer differs. So each
member's probabilities of a song (the mean over its windows) are the same for every such user, and
the user's are those through their layer (linear: the mean of the windows through it is the mean
through it). They are scored once per simulation (`MemberSongs`), not per user and iteration, and
their queries read the catalogue (`learning/catalogue.py`), as the product's queries do.

A user's other listeners' counts are every crowd annotation's counts minus the user's own
(`CrowdTally`): whole numbers, so exactly `crowd.quadrant_counts`, tallied once instead of per user.
"""

from dataclasses import dataclass, replace

import numpy as np

from trompa_mer.committee.model import Committee
from trompa_mer.features.pool import Pool
from trompa_mer.learning.crowd import Crowd
from trompa_mer.learning.scoring import per_song
from trompa_mer.names import N_CLASSES


@dataclass(frozen=True)
class MemberSongs:
    """Each member's song probabilities (its mean over the song's windows, no layer):
    `proba` (n_members, n_songs, 4), the song of column i the one `index` maps to i."""

    index: dict[str, int]
    proba: np.ndarray

    def of(self, song_ids: list[str]) -> np.ndarray:
        """(n_members, len(song_ids), 4) the members' probabilities of those songs."""
        return self.proba[:, [self.index[song] for song in song_ids]]


def member_songs(committee: Committee, pool: Pool, song_ids: list[str], scaling: str) -> MemberSongs:
    """Every member of `committee` (its layer left out) on each song of `song_ids`, scored in the
    pool's chunks on every core (`scoring.per_song`)."""
    members = replace(committee, layer=None)
    by_song = per_song(members, pool, song_ids, scaling, lambda proba: proba.swapaxes(0, 1))
    proba = np.ascontiguousarray(by_song.swapaxes(0, 1)) if len(song_ids) else \
        np.zeros((len(committee.members), 0, N_CLASSES))
    return MemberSongs({song: i for i, song in enumerate(song_ids)}, proba)


class CrowdTally:
    """The crowd's quadrant counts per song, tallied once, and each user's own annotations: a user's
    other listeners' counts are their difference (`others`)."""

    def __init__(self, crowd: Crowd) -> None:
        songs, song_rows = np.unique(crowd.song_ids.astype(str), return_inverse=True)
        self._index = {song: i for i, song in enumerate(songs.tolist())}
        self._counts = np.zeros((len(songs), N_CLASSES))
        np.add.at(self._counts, (song_rows, crowd.quadrants), 1.0)
        users, user_rows = np.unique(crowd.user_ids.astype(str), return_inverse=True)
        order = np.argsort(user_rows, kind="stable")
        bounds = np.searchsorted(user_rows[order], np.arange(len(users) + 1))
        self._own = {}
        for i, user in enumerate(users.tolist()):
            rows = order[bounds[i]:bounds[i + 1]]
            self._own[user] = (song_rows[rows], crowd.quadrants[rows])

    def others(self, song_ids: list[str], user: str) -> np.ndarray:
        """(n_songs, 4) the annotations of each of the distinct `song_ids` by anyone but `user`:
        `crowd.quadrant_counts`."""
        rows = np.array([self._index.get(song, -1) for song in song_ids], dtype=np.int64)
        counts = np.zeros((len(song_ids), N_CLASSES))
        known = rows >= 0
        counts[known] = self._counts[rows[known]]
        own_songs, own_quadrants = self._own.get(str(user), (np.zeros(0, np.int64), np.zeros(0, np.int64)))
        column = np.full(len(self._index), -1, dtype=np.int64)
        column[rows[known]] = np.flatnonzero(known)
        mine = column[own_songs] >= 0
        np.subtract.at(counts, (column[own_songs][mine], own_quadrants[mine]), 1.0)
        return counts
