"""Update rules learn a listener who hears music otherwise than the dataset: a systematic swap of two
quadrants, learnt from some songs, shows on songs of theirs the updates never saw."""

from pathlib import Path

import numpy as np
import pytest

from tests.committees import make_committee, write_quadrant_pool
from trompa_mer.committee import consensus
from trompa_mer.committee.layer import ListenerLayer, fit_layer
from trompa_mer.features.pool import load_pool
from trompa_mer.learning import update
from trompa_mer.names import SCALING_COMMITTEE, UPDATE_LAYER, UPDATE_ORIGINAL

SWAP = {0: 1, 1: 0, 2: 2, 3: 3}
"""The listener hears the dataset's Q1 songs as Q2 and its Q2 songs as Q1."""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    root = tmp_path_factory.mktemp("rules")
    write_quadrant_pool(root / "feats", 0, 64, 6, seed=3)  # song_i is quadrant i % 4
    committee = make_committee(root / "committee", kinds=("sgd", "xgb"), folds=2, rounds=10, n_per_class=300)
    pool = load_pool(root / "feats", root / "cache")
    songs = pool.song_ids
    heard = {song: SWAP[int(song.split("_")[1]) % 4] for song in songs}
    return pool, committee, songs[:40], songs[40:], heard


def listener_probability(committee, pool, songs: list[str], heard: dict[str, int]) -> float:
    """The committee's mean song-level probability of the listener's own quadrant."""
    X, offsets = pool.windows(songs)
    proba = consensus.song_probabilities(committee.proba(committee.scaler.transform(X)), offsets).mean(axis=0)
    return float(np.mean([proba[i, heard[song]] for i, song in enumerate(songs)]))


@pytest.mark.parametrize("rule", [UPDATE_ORIGINAL, UPDATE_LAYER])
def test_each_rule_learns_a_listener_who_swaps_two_quadrants(world: tuple, rule: str) -> None:
    """Not `shift`: a swap leaves how often the listener names each quadrant as it was, and a shift
    moves only that (tests/test_shift.py)."""
    pool, committee, taught, held_out, heard = world
    swapped = [song for song in held_out if heard[song] in (0, 1)]  # the songs they hear otherwise
    before = listener_probability(committee, pool, swapped, heard)
    previous: dict[str, int] = {}
    for batch in range(4):
        answers = {song: heard[song] for song in taught[batch * 10:(batch + 1) * 10]}
        committee = update.learn_answers(committee, pool, answers, SCALING_COMMITTEE, 10, batch,
                                         rule=rule, previous=previous)
        previous.update(answers)
    after = listener_probability(committee, pool, swapped, heard)
    print(f"{rule}: probability of the listener's quadrant on held-out songs {before:.3f} → {after:.3f}")
    assert after > before + 0.03


def test_the_layer_starts_as_no_change_and_is_refitted_on_every_answer(world: tuple) -> None:
    pool, committee, taught, _, heard = world
    X, _ = pool.windows(taught[:8])
    member_proba = committee.proba(committee.scaler.transform(X))
    assert np.array_equal(ListenerLayer().apply(member_proba), member_proba)
    first = update.learn_answers(committee, pool, {s: heard[s] for s in taught[:10]},
                                 SCALING_COMMITTEE, 10, 0, rule="layer")
    second = update.learn_answers(first, pool, {s: heard[s] for s in taught[10:20]}, SCALING_COMMITTEE,
                                  10, 1, rule="layer", previous={s: heard[s] for s in taught[:10]})
    together = update.learn_answers(committee, pool, {s: heard[s] for s in taught[:20]},
                                    SCALING_COMMITTEE, 10, 0, rule="layer")
    assert second.members is committee.members  # the pretrained members are never touched
    np.testing.assert_allclose(second.layer.confusion, together.layer.confusion, atol=1e-6)


def test_a_layer_fitted_on_answers_that_agree_with_the_committee_stays_near_no_change() -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 4, 30)
    song_of_row = np.repeat(np.arange(30), 4)
    proba = np.full((2, 120, 4), 0.1)
    proba[:, np.arange(120), truth[song_of_row]] = 0.7
    layer = fit_layer(proba, np.arange(0, 121, 4), truth)
    assert (layer.apply(proba).argmax(axis=-1) == truth[song_of_row]).all()
    assert np.diag(layer.confusion).min() > 0.8


def test_a_malformed_layer_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="4 × 4"):
        ListenerLayer.from_json({"confusion": [[1.0]]})
    with pytest.raises(ValueError, match="rows sum to 1"):
        ListenerLayer.from_json({"confusion": [[0.5] * 4] * 4})


def test_a_rule_is_described_with_xgb_rounds_only_where_it_uses_them() -> None:
    plain = "original (every member trains on each new batch)"
    assert update.describe("original", {"mlp", "sgd"}, 100) == plain
    with_xgb = plain[:-1] + ", xgb members adding 100 boosting rounds)"
    assert update.describe("original", {"xgb", "sgd"}, 100) == with_xgb
    assert "rounds" not in update.describe("layer", {"xgb"}, 100)
