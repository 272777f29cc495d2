"""A committee's agreement, pure: window probabilities → song probabilities → consensus entropy.

The one place probabilities are averaged: over a song's windows (`song_probabilities`) and over the
members (`committee_probabilities`).
"""

import numpy as np


def song_probabilities(window_proba: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Mean over each song's windows: (…, n_windows, 4) → (…, n_songs, 4), e.g. (n_members,
    n_windows, 4) → (n_members, n_songs, 4).

    offsets: (n_songs + 1,) song i owns windows offsets[i]:offsets[i+1]; every song has one at least.
    """
    offsets = np.asarray(offsets)
    sums = np.add.reduceat(window_proba, offsets[:-1], axis=-2)
    return sums / np.diff(offsets)[:, None]


def committee_probabilities(member_proba: np.ndarray) -> np.ndarray:
    """The committee's probabilities, the members' mean: (n_members, …, 4) → (…, 4)."""
    return member_proba.mean(axis=0)


def entropy(proba: np.ndarray) -> np.ndarray:
    """Shannon entropy (natural log) over the last axis; 0·log 0 counts as 0."""
    p = np.clip(proba, 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p), 0.0)
    return -terms.sum(axis=-1)


def consensus_entropy(song_proba: np.ndarray) -> np.ndarray:
    """Entropy of the members' mean: (n_members, n_songs, 4) → (n_songs,)."""
    return entropy(committee_probabilities(song_proba))
