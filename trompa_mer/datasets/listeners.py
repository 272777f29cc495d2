"""Simulated listeners drawn from a real listening study: each hears a song's dataset quadrant as a
quadrant of their own, through a personal 4×4 confusion matrix.

The study: 121 listeners rated 22 clips of the 4Q dataset (2,772 ratings); a listener's quadrant
matched the dataset's 58 % of the time (23–86 % per listener). Its counts are `STUDY_COUNTS` (rows:
the dataset's quadrant, columns: the listener's). Of its 1,155 misses, 54 % flip valence only
(Q1↔Q2, Q3↔Q4), 35 % arousal only (Q1↔Q4, Q2↔Q3: Q4 heard as Q1 is the largest single cell) and
11 % both.

A listener's matrix has one row per dataset quadrant: the probabilities of the quadrant they answer.
Two kinds, named in the listener id (`agreeing-NN`, `systematic-NN`):

- agreeing: 0.9 on the diagonal; the other 0.1 of each row split at random (Dirichlet(1, 1, 1)).
  Agreement with the dataset ≈ 0.9.
- systematic: a target agreement `a` ~ Uniform(0.30, 0.86), whose mean is the study's 0.58 and
  whose range spans most of its per-listener 23–86 % (which, on 22 clips each, is partly sampling
  noise). The diagonal keeps the study's per-quadrant pattern (Q1 heard best, Q4 worst), shifted on
  the logit scale until its mean is `a`; the rest of each row is split by a Dirichlet draw centred on
  the study's misses of that row (concentration `BIAS_CONCENTRATION`). The draw is once per listener:
  the same confusions apply to all their songs, a personal bias and not per-song noise. On songs
  balanced over quadrants (as the 4Q dataset) a systematic listener's expected agreement is `a`,
  and their misses pooled follow the study's (mostly along valence).

A listener's label for a song is a draw from their row for the song's dataset quadrant. Listeners
and labels are functions of the seed alone: `draw_listeners(n, seed)` and `label_songs(…, seed)`.
"""

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

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

AGREEING_DIAGONAL = 0.9
SYSTEMATIC_AGREEMENT = (0.30, 0.86)
"""Range of a systematic listener's target agreement (uniform; mean 0.58, the study's)."""
BIAS_CONCENTRATION = 8.0
"""Dirichlet concentration of a systematic listener's misses around the study's: lower, more personal."""
_DRAW_STREAM, _LABEL_STREAM = 0, 1


@dataclass(frozen=True)
class Listener:
    """A simulated listener: id (`<kind>-NN`), the seed that drew them, and their (4, 4) confusion
    matrix (row: dataset quadrant → probabilities of the listener's quadrant)."""

    id: str
    kind: str
    seed: int
    confusion: np.ndarray


def listener_kind(user_id: str) -> str:
    """`agreeing` or `systematic` from a simulated listener's id; `listeners` for any other id."""
    kind = user_id.split("-", 1)[0]
    return kind if kind in KINDS and "-" in user_id else REAL_LISTENERS


def agreeing_matrix(rng: np.random.Generator) -> np.ndarray:
    """(4, 4): AGREEING_DIAGONAL on the diagonal, the rest of each row split at random."""
    matrix = np.zeros((N_CLASSES, N_CLASSES))
    for q in range(N_CLASSES):
        others = [c for c in range(N_CLASSES) if c != q]
        matrix[q, others] = (1 - AGREEING_DIAGONAL) * rng.dirichlet(np.ones(N_CLASSES - 1))
        matrix[q, q] = AGREEING_DIAGONAL
    return matrix


def shifted_diagonal(agreement: float) -> np.ndarray:
    """(4,) the study's diagonal shifted on the logit scale until its mean is `agreement` (0 < a < 1)."""
    logits = special.logit(np.diag(STUDY_MATRIX))
    shift = optimize.brentq(lambda s: special.expit(logits + s).mean() - agreement, -20.0, 20.0)
    return special.expit(logits + shift)


def systematic_matrix(rng: np.random.Generator) -> np.ndarray:
    """(4, 4): a target agreement drawn from SYSTEMATIC_AGREEMENT, the study's diagonal shifted to it,
    and each row's misses drawn from a Dirichlet around the study's misses of that row."""
    diagonal = shifted_diagonal(rng.uniform(*SYSTEMATIC_AGREEMENT))
    matrix = np.zeros((N_CLASSES, N_CLASSES))
    for q in range(N_CLASSES):
        others = [c for c in range(N_CLASSES) if c != q]
        misses = STUDY_MATRIX[q, others] / STUDY_MATRIX[q, others].sum()
        matrix[q, others] = (1 - diagonal[q]) * rng.dirichlet(BIAS_CONCENTRATION * misses)
        matrix[q, q] = diagonal[q]
    return matrix


def draw_listeners(n: int, seed: int, agreeing_share: float = DEFAULT_AGREEING_SHARE) -> list[Listener]:
    """`n` listeners for `seed`: round(n · agreeing_share) agreeing, the rest systematic. Numbers run
    on across seeds (seed s has agreeing-(s·k)…), so every listener of an experiment has its own id."""
    rng = np.random.default_rng([_DRAW_STREAM, seed])
    n_agreeing = round(n * agreeing_share)
    drawn = []
    for kind, count, make in ((AGREEING, n_agreeing, agreeing_matrix),
                              (SYSTEMATIC, n - n_agreeing, systematic_matrix)):
        drawn += [Listener(f"{kind}-{seed * count + j:02d}", kind, seed, make(rng)) for j in range(count)]
    return drawn


def listener_labels(listener: Listener, number: int, truth: dict[str, int]) -> dict[str, int]:
    """Song → the listener's class index: one draw per song (in song-id order) from the row of its
    dataset class in `truth` (song → class index). `number`: the listener's place in their seed's
    draw, so that each listener has their own stream."""
    songs = sorted(truth)
    rng = np.random.default_rng([_LABEL_STREAM, listener.seed, number])
    cumulative = np.cumsum(listener.confusion, axis=1)
    cumulative[:, -1] = 1.0
    draws = rng.random(len(songs))
    return {song: int(np.searchsorted(cumulative[truth[song]], u, side="right"))
            for song, u in zip(songs, draws, strict=True)}


def label_songs(listeners: list[Listener], truth: dict[str, int]) -> dict[str, dict[str, int]]:
    """Listener id → song → class index, every listener labelling every song of `truth`."""
    return {listener.id: listener_labels(listener, number, truth)
            for number, listener in enumerate(listeners)}


def agreement(labels: dict[str, int], truth: dict[str, int]) -> float:
    """Share of the labelled songs that `truth` also labels whose label matches it (NaN if none)."""
    shared = [song for song in labels if song in truth]
    return float(np.mean([labels[s] == truth[s] for s in shared])) if shared else float("nan")
