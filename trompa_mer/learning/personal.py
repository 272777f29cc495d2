"""A user's song probabilities: the committee, the other listeners' answers, the user's layer and answers.

The crowd is a member of every user's committee. For a song, the committee's probabilities p (4,) are
a Dirichlet prior worth `alpha` answers, updated by the quadrant counts c (4,) of the other listeners'
answers on that song (n = c.sum()); the posterior mean goes through the user's listener layer C:

    ((alpha · p + c) / (alpha + n)) · C  =  (alpha · p·C + c·C) / (alpha + n)

so it can be computed from the probabilities the committee gives through the layer (p·C, "heard").
A song nobody else answered keeps exactly the committee's probabilities. A user of the `shift` rule
has a label-prior shift b instead of a layer (committee/shift.py): it is not linear, so it moves the
posterior mean itself, softmax(log(posterior) + b). A song the user answered is what they answered:
probability 1 for their quadrant (it is their truth).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from trompa_mer.committee.shift import LabelShift
from trompa_mer.names import N_CLASSES

CROWD_PRIOR_ANSWERS = 2.0
"""alpha: the committee's weight as a prior, in other listeners' answers. Chosen by held-out NLL
(bench/crowd_prior.py, bench/README.md): simulated listeners on 4q-dev's 600 clips, the committee out
of fold, 12 answers known, the layer fitted on them: mean NLL 0.985 / 0.898 / 0.863 with 7 / 29 / 120
other listeners per song at alpha 2, against 0.993 / 0.904 / 0.865 at 4 and 1.024 / 0.918 / 0.869 at
8 (0.5 and 1: 1.008 and 0.993 with 7 others)."""


def with_crowd(heard: np.ndarray, counts: np.ndarray, confusion: np.ndarray | None = None,
               alpha: float = CROWD_PRIOR_ANSWERS) -> np.ndarray:
    """(n_songs, 4): the committee's probabilities through the layer, `heard` (n_songs, 4), updated
    by other listeners' quadrant counts (n_songs, 4) as above; `confusion` the layer's (4, 4), None
    for none. Rows without counts are `heard` unchanged, bit for bit."""
    result = np.array(heard, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    answered = np.flatnonzero(counts.any(axis=1))  # most of a catalogue: nobody else answered
    counts = counts[answered]
    heard_counts = counts if confusion is None else counts @ confusion
    total = counts.sum(axis=1, keepdims=True)
    result[answered] = (alpha * result[answered] + heard_counts) / np.maximum(alpha + total, 1e-300)
    return result


def with_own_answers(proba: np.ndarray, own: np.ndarray) -> np.ndarray:
    """(n_songs, 4): `proba` with the rows of the songs the user answered replaced by their answer,
    one-hot; `own` (n_songs,) the answer's class index, -1 where they gave none."""
    own = np.asarray(own, dtype=np.int64)
    answered = own >= 0
    result = np.array(proba, dtype=np.float64)
    result[answered] = np.eye(N_CLASSES)[own[answered]]
    return result


def positions_of(song_ids: Sequence[str], table: Mapping[str, int],
                 positions: Mapping[str, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Where in `song_ids` the songs of `table` are, and their values in it, both (n_found,): each
    of `table`'s songs looked up in `positions` (song → its index in `song_ids`) when that is given
    and `table` is the smaller, else each of `song_ids` looked up in `table`."""
    if positions is not None and len(table) < len(song_ids):
        found = [(positions[song], value) for song, value in table.items() if song in positions]
    else:
        found = [(i, table[song]) for i, song in enumerate(song_ids) if song in table]
    where = np.array([i for i, _ in found], dtype=np.int64)
    return where, np.array([value for _, value in found], dtype=np.int64)


@dataclass(frozen=True)
class OtherAnswers:
    """Other listeners' answers per song: `index` song id → row of `counts` (n_songs, 4)."""

    index: Mapping[str, int] = field(default_factory=dict)
    counts: np.ndarray = field(default_factory=lambda: np.zeros((0, N_CLASSES)))

    def of(self, song_ids: Sequence[str], positions: Mapping[str, int] | None = None) -> np.ndarray:
        """(len(song_ids), 4) the counts of each song, zero for a song nobody answered; `positions`
        as `positions_of` takes it."""
        where, rows = positions_of(song_ids, self.index, positions)
        result = np.zeros((len(song_ids), N_CLASSES))
        result[where] = self.counts[rows]
        return result

    def total(self) -> int:
        return int(self.counts.sum())


@dataclass(frozen=True)
class UserView:
    """What turns a user's committee probabilities into theirs: the other listeners' answers (None:
    the crowd is off), the user's own answers (song → class index), the layer's confusion (None: no
    layer), the prior's weight and the user's label-prior shift (None: none)."""

    others: OtherAnswers | None
    own: dict[str, int] = field(default_factory=dict)
    confusion: np.ndarray | None = None
    alpha: float = CROWD_PRIOR_ANSWERS
    shift: LabelShift | None = None

    def counts(self, song_ids: Sequence[str], positions: Mapping[str, int] | None = None) -> np.ndarray:
        """(n_songs, 4) the other listeners' counts the view uses (zero with the crowd off);
        `positions` (song → its index in `song_ids`) makes this O(answered songs) (`positions_of`)."""
        return np.zeros((len(song_ids), N_CLASSES)) if self.others is None \
            else self.others.of(song_ids, positions)

    def crowd(self, song_ids: Sequence[str], heard: np.ndarray,
              positions: Mapping[str, int] | None = None) -> np.ndarray:
        """(n_songs, 4) `heard` (the committee through the layer) with the other listeners' answers,
        then through the user's shift when they have one."""
        proba = with_crowd(heard, self.counts(song_ids, positions), self.confusion, self.alpha)
        return proba if self.shift is None else self.shift.apply(proba)

    def probabilities(self, song_ids: Sequence[str], heard: np.ndarray,
                      positions: Mapping[str, int] | None = None) -> np.ndarray:
        """(n_songs, 4) the user's probabilities: the crowd's update and the shift, then their own
        answers."""
        own = np.full(len(song_ids), -1, dtype=np.int64)
        where, answers = positions_of(song_ids, self.own, positions)
        own[where] = answers
        return with_own_answers(self.crowd(song_ids, heard, positions), own)
