"""The committee's consensus math and the top-n pick, on cases small enough to compute by hand."""

import math

import numpy as np
import pytest

from trompa_mer.committee.consensus import (
    committee_probabilities,
    consensus_entropy,
    entropy,
    song_probabilities,
)
from trompa_mer.learning.strategies import select_top

LN2, LN4 = math.log(2), math.log(4)


@pytest.mark.parametrize(("proba", "expected"), [
    ([1, 0, 0, 0], 0.0),  # certain: 0·ln 0 counts as 0
    ([0.5, 0.5, 0, 0], LN2),
    ([0.25, 0.25, 0.25, 0.25], LN4),  # uniform: the most there is
    ([0.5, 0.25, 0.25, 0], 1.5 * LN2),  # ½ ln 2 + 2 · ¼ ln 4
], ids=["certain", "two-way", "uniform", "mixed"])
def test_entropy_by_hand(proba: list[float], expected: float) -> None:
    assert entropy(np.array(proba)) == pytest.approx(expected, rel=1e-15, abs=1e-15)


def test_consensus_entropy_is_the_entropy_of_the_members_mean() -> None:
    # (2 members, 3 songs, 4 quadrants)
    song_proba = np.array([
        [[1, 0, 0, 0], [0, 0, 1, 0], [0.5, 0, 0.5, 0]],
        [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0.5, 0, 0.5]],
    ])
    # song 0: two sure members disagree, mean [½, ½, 0, 0] → ln 2 (each member alone has entropy 0);
    # song 1: full agreement → 0; song 2: mean [¼, ¼, ¼, ¼] → ln 4.
    np.testing.assert_allclose(consensus_entropy(song_proba), [LN2, 0.0, LN4], rtol=1e-15, atol=1e-15)


def test_song_probabilities_average_each_songs_windows() -> None:
    # 2 members, 3 windows: song 0 owns window 0, song 1 owns windows 1 and 2.
    window_proba = np.array([
        [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]],
        [[0.25, 0.25, 0.25, 0.25], [0, 0, 0, 1], [0.5, 0.5, 0, 0]],
    ])
    songs = song_probabilities(window_proba, np.array([0, 1, 3]))
    np.testing.assert_array_equal(songs, [
        [[1, 0, 0, 0], [0, 0.5, 0.5, 0]],
        [[0.25, 0.25, 0.25, 0.25], [0.25, 0.25, 0, 0.5]],
    ])
    # The members' means: song 0 [5/8, 1/8, 1/8, 1/8], song 1 [1/8, 3/8, 1/4, 1/4].
    song_0 = -(5 / 8 * math.log(5 / 8) + 3 * (1 / 8) * math.log(1 / 8))
    song_1 = -(1 / 8 * math.log(1 / 8) + 3 / 8 * math.log(3 / 8) + 2 * (1 / 4) * math.log(1 / 4))
    np.testing.assert_allclose(consensus_entropy(songs), [song_0, song_1], rtol=1e-14)


def test_one_songs_windows_and_one_members_windows_average_alike() -> None:
    # A single member's (n_windows, 4), as predict and pretraining's song level have them.
    window_proba = np.array([[0.1, 0.2, 0.3, 0.4], [0.3, 0.2, 0.1, 0.4], [1, 0, 0, 0]])
    np.testing.assert_allclose(song_probabilities(window_proba, [0, 2, 3]),
                               [[0.2, 0.2, 0.2, 0.4], [1, 0, 0, 0]], rtol=1e-15)
    # A second member hears every window backwards: song 0 [0.4, 0.2, 0.2, 0.2], song 1 [0, 0, 0, 1].
    members = np.stack([window_proba, window_proba[:, ::-1]])
    np.testing.assert_allclose(committee_probabilities(song_probabilities(members, [0, 2, 3])),
                               [[0.3, 0.2, 0.2, 0.3], [0.5, 0, 0, 0.5]], rtol=1e-15)


def test_select_top_ranks_by_score_and_breaks_ties_by_song_id() -> None:
    songs = ["d", "c", "a", "b"]
    scores = np.array([0.2, 0.9, 0.9, 0.1])
    assert select_top(songs, scores, 1) == ["a"]  # tied with "c": the smaller id first
    assert select_top(songs, scores, 3) == ["a", "c", "d"]
    assert select_top(songs, scores, 10) == ["a", "c", "d", "b"]  # n beyond the list: all of it
    assert select_top(songs, scores, 0) == []
    assert select_top(["b", "a"], np.array([1.0, 1.0]), 2) == ["a", "b"]  # not the input order
    assert select_top([], np.array([]), 3) == []


def test_select_top_equals_a_full_sort_with_many_ties() -> None:
    rng = np.random.default_rng(3)
    songs = [f"s{i:04d}" for i in rng.permutation(500)]
    scores = rng.integers(0, 6, 500).astype(float)  # every score shared by ~80 songs
    for n in (1, 7, 80, 81, 499, 500):
        assert select_top(songs, scores, n) == sorted(songs, key=lambda s: (-scores[songs.index(s)], s))[:n]
