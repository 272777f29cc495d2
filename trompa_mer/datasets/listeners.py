"""Simulated listeners drawn from a real listening study: how a person hears a song depends on the
song far more than on the person.

The study: 121 listeners rated 22 clips of the 4Q dataset (2,772 ratings); a listener's quadrant
matched the dataset's 58 % of the time. Its counts are `STUDY_COUNTS` (rows: the dataset's quadrant,
columns: the listener's): misses mostly along valence (Q2 heard as Q1, Q4 as Q1, Q3 as Q4). Measured
on it (issue 23), predicting a listener's quadrant of songs they did not answer: the other listeners'
answers on that song reach accuracy 0.642 (mean NLL 0.880), the song's dataset quadrant through the
population's confusion 0.606 (0.980), and a listener's own label-prior shift adds about half a point.

So each song has its own distribution over how people hear it, θ_s ~ Dirichlet(SONG_CONCENTRATION ·
m_q), m_q the study's row of the song's dataset quadrant q moved SONG_AGREEMENT_SHIFT toward q: most
songs are heard alike, some split listeners. A listener adds a personal bias b (4,), a shift of the
log-probabilities of the quadrants they answer: they answer song s from softmax(log θ_s + b). Two
kinds, named in the listener id (`agreeing-NN`, `systematic-NN`): agreeing listeners hear songs as
people at large do (b ~ Normal(0, 0.3²) per quadrant), systematic ones have a strong personal bias
(Normal(0, 1.0²)) that their own answers can teach a listener layer.

Calibrated on 4q-dev's 600 clips (121 listeners, 12 answers known, the others' answers on each song
with +0.5 smoothing): other listeners 0.643 / NLL 0.832, the dataset's quadrant through the study's
confusion 0.605 / 1.009, an agreeing listener's true bias added +0.010 / −0.022 (the table: 0.642 /
0.880, 0.606 / 0.980, +0.007 / −0.037): accuracies as measured, NLLs within 0.05. A song's
distribution depends on its id alone (every listener of every seed hears the same songs), a listener
on the seed; their labels on both.
"""

import hashlib
from dataclasses import dataclass

import numpy as np
from scipy import special

from trompa_mer.names import N_CLASSES

STUDY_COUNTS = np.array([[562, 150, 21, 23],
                         [205, 454, 78, 19],
                         [43, 74, 245, 142],
                         [224, 49, 127, 356]])
"""The study's ratings: rows = the dataset's quadrant Q1..Q4, columns = the listener's quadrant."""
STUDY_MATRIX = STUDY_COUNTS / STUDY_COUNTS.sum(axis=1, keepdims=True)
STUDY_AGREEMENT = float(np.trace(STUDY_COUNTS) / STUDY_COUNTS.sum())
"""0.583: the share of the study's ratings that matched the dataset."""

AGREEING, SYSTEMATIC = "agreeing", "systematic"
KINDS: tuple[str, ...] = (AGREEING, SYSTEMATIC)
REAL_LISTENERS = "listeners"
"""The kind of a listener who is not simulated (their labels came from a file)."""
DEFAULT_AGREEING_SHARE = 1 / 3

SONG_CONCENTRATION = 6.0
"""Dirichlet concentration of a song's distribution around its quadrant's: lower, more songs split."""
SONG_AGREEMENT_SHIFT = 0.10
"""How far a song's mean distribution moves from the study's row toward the dataset's quadrant."""
BIAS_SPREAD = {AGREEING: 0.3, SYSTEMATIC: 1.0}
"""Standard deviation of a listener's bias per quadrant (log-probability shift), by kind."""
_DRAW_STREAM, _LABEL_STREAM, _SONG_STREAM = 0, 1, 2


@dataclass(frozen=True)
class Listener:
    """A simulated listener: id (`<kind>-NN`), the seed that drew them, and their bias (4,): the
    shift of the log-probabilities of the quadrants they answer."""

    id: str
    kind: str
    seed: int
    bias: np.ndarray

    def hears(self, distributions: np.ndarray) -> np.ndarray:
        """(n_songs, 4) the probabilities of this listener's answers to songs of `distributions`
        (n_songs, 4), how people at large hear them."""
        return special.softmax(np.log(np.maximum(distributions, 1e-12)) + self.bias, axis=-1)


def listener_kind(user_id: str) -> str:
    """`agreeing` or `systematic` from a simulated listener's id; `listeners` for any other id."""
    kind = user_id.split("-", 1)[0]
    return kind if kind in KINDS and "-" in user_id else REAL_LISTENERS


SONG_MEANS = (1 - SONG_AGREEMENT_SHIFT) * STUDY_MATRIX + SONG_AGREEMENT_SHIFT * np.eye(N_CLASSES)
"""(4, 4) the mean distribution of a song of each dataset quadrant."""


def song_distribution(song_id: str, quadrant: int) -> np.ndarray:
    """(4,) how people at large hear the song `song_id` of dataset class `quadrant`: a draw seeded by
    the id alone."""
    key = int.from_bytes(hashlib.sha256(song_id.encode()).digest()[:8], "little")
    return np.random.default_rng([_SONG_STREAM, key]).dirichlet(SONG_CONCENTRATION * SONG_MEANS[quadrant])


def song_distributions(truth: dict[str, int]) -> np.ndarray:
    """(n_songs, 4) `song_distribution` of every song of `truth` (song → class index), in id order."""
    return np.array([song_distribution(song, truth[song]) for song in sorted(truth)]).reshape(-1, N_CLASSES)


def draw_listeners(n: int, seed: int, agreeing_share: float = DEFAULT_AGREEING_SHARE) -> list[Listener]:
    """`n` listeners for `seed`: round(n · agreeing_share) agreeing, the rest systematic. Numbers run
    on across seeds (seed s has agreeing-(s·k)…), so every listener of an experiment has its own id."""
    rng = np.random.default_rng([_DRAW_STREAM, seed])
    n_agreeing = round(n * agreeing_share)
    drawn = []
    for kind, count in ((AGREEING, n_agreeing), (SYSTEMATIC, n - n_agreeing)):
        drawn += [Listener(f"{kind}-{seed * count + j:02d}", kind, seed,
                           rng.normal(0.0, BIAS_SPREAD[kind], N_CLASSES)) for j in range(count)]
    return drawn


def listener_labels(listener: Listener, number: int, truth: dict[str, int],
                    distributions: np.ndarray | None = None) -> dict[str, int]:
    """Song → the listener's class index: one draw per song (in song-id order) from how they hear it
    (`Listener.hears` of its `song_distributions`, computed here unless given). `number`: the
    listener's place in their seed's draw, so that each listener has their own stream."""
    songs = sorted(truth)
    distributions = song_distributions(truth) if distributions is None else distributions
    rng = np.random.default_rng([_LABEL_STREAM, listener.seed, number])
    cumulative = np.cumsum(listener.hears(distributions), axis=1)
    cumulative[:, -1] = 1.0
    draws = rng.random(len(songs))
    return {song: int(np.searchsorted(row, u, side="right"))
            for song, row, u in zip(songs, cumulative, draws, strict=True)}


def label_songs(listeners: list[Listener], truth: dict[str, int]) -> dict[str, dict[str, int]]:
    """Listener id → song → class index, every listener labelling every song of `truth`."""
    distributions = song_distributions(truth)
    return {listener.id: listener_labels(listener, number, truth, distributions)
            for number, listener in enumerate(listeners)}


def agreement(labels: dict[str, int], truth: dict[str, int]) -> float:
    """Share of the labelled songs that `truth` also labels whose label matches it (NaN if none)."""
    shared = [song for song in labels if song in truth]
    return float(np.mean([labels[s] == truth[s] for s in shared])) if shared else float("nan")
