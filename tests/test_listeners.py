"""Simulated listeners (datasets/listeners.py) and the report's bands: reproducible draws, agreement
and confusions like the listening study's, bands inside the range they describe."""

from pathlib import Path

import numpy as np
import pandas as pd

from trompa_mer.datasets import listeners as sim
from trompa_mer.datasets.labelled import read_labels
from trompa_mer.simulation.plan import Plan
from trompa_mer.simulation.report import RESULT_COLUMNS, clipped_band, compare, share_band, summary_markdown

BALANCED = {f"song_{i:03d}": i % 4 for i in range(400)}
VALENCE_FLIPS = {(0, 1), (1, 0), (2, 3), (3, 2)}
AROUSAL_FLIPS = {(0, 3), (3, 0), (1, 2), (2, 1)}


def test_listeners_are_reproducible_by_seed_and_differ_across_seeds() -> None:
    first, again, other = (sim.draw_listeners(6, seed) for seed in (0, 0, 1))
    assert [one.id for one in first] == ["agreeing-00", "agreeing-01",
                                         *(f"systematic-{j:02d}" for j in range(4))]
    assert [one.id for one in other] == ["agreeing-02", "agreeing-03",
                                         *(f"systematic-{j:02d}" for j in range(4, 8))]
    assert all(np.array_equal(a.bias, b.bias) for a, b in zip(first, again, strict=True))
    assert not any(np.allclose(a.bias, b.bias) for a, b in zip(first, other, strict=True))
    assert sim.label_songs(first, BALANCED) == sim.label_songs(again, BALANCED)
    assert sim.label_songs(first, BALANCED)["systematic-00"] != \
        sim.label_songs(other, BALANCED)["systematic-04"]
    for listener in first + other:
        heard = listener.hears(sim.song_distributions(BALANCED))
        assert np.allclose(heard.sum(axis=1), 1) and (heard >= 0).all()
        assert sim.listener_kind(listener.id) == listener.kind
    assert sim.listener_kind("42") == sim.listener_kind("agreeing") == sim.REAL_LISTENERS
    assert [one.kind for one in sim.draw_listeners(3, 0, agreeing_share=0)] == [sim.SYSTEMATIC] * 3


def test_a_songs_distribution_depends_on_the_song_alone() -> None:
    assert np.array_equal(sim.song_distribution("song_001", 1), sim.song_distribution("song_001", 1))
    assert not np.allclose(sim.song_distribution("song_001", 1), sim.song_distribution("song_005", 1))
    spread = sim.song_distributions(BALANCED).max(axis=1)
    assert np.median(spread) > 0.6 and (spread > 0.75).mean() > 0.2  # most songs heard alike by most,
    assert (spread < 0.5).mean() > 0.15  # some split listeners


def study_check(truth: dict[str, int]) -> None:
    people = sim.draw_listeners(45, seed=3)
    labels = sim.label_songs(people, truth)
    songs = sorted(truth)
    heard = np.array([[labels[one.id][song] for song in songs] for one in people])
    dataset = np.array([truth[song] for song in songs])
    agreement = (heard == dataset).mean(axis=1)
    agreeing = np.array([one.kind == sim.AGREEING for one in people])
    assert agreeing.sum() == 15 and abs(agreement[agreeing].mean() - 0.61) < 0.04
    assert agreement[~agreeing].mean() < agreement[agreeing].mean()
    counts = np.zeros((len(songs), 4))
    np.add.at(counts, (np.tile(np.arange(len(songs)), len(people)), heard.ravel()), 1)
    crowd, labelled = [], []  # what others answered on the song predicts a listener best
    for mine in heard[agreeing]:
        crowd.append(((counts - np.eye(4)[mine]).argmax(axis=1) == mine).mean())
        labelled.append((dataset == mine).mean())
    assert np.mean(crowd) > np.mean(labelled) + 0.01
    misses = {"valence": 0, "arousal": 0, "both": 0}
    for truth_of, answer in zip(np.tile(dataset, len(people)), heard.ravel(), strict=True):
        if answer != truth_of:
            pair = (int(truth_of), int(answer))
            axis = "valence" if pair in VALENCE_FLIPS else "arousal" if pair in AROUSAL_FLIPS else "both"
            misses[axis] += 1
    assert misses["valence"] > misses["arousal"] > misses["both"]


def test_simulated_listeners_match_the_study_on_balanced_songs() -> None:
    study_check(BALANCED)


def test_simulated_listeners_match_the_study_on_4q_dev(shared: Path) -> None:
    truth = {song: label.quadrant for song, label in read_labels(shared / "data/4q-dev/labels.csv").items()}
    assert len(truth) == 600 and all(song == song.lower() for song in truth)
    study_check(truth)


def results_of(curves: dict[str, tuple[float, float]], rule: str = "layer") -> pd.DataFrame:
    """results.csv rows of the committee: user → (F1 at 0, F1 at 1)."""
    rows = [(user, rule, "mc", 0, iteration, iteration * 5, "committee", f1, f1, 1 - f1, 1 - f1)
            for user, ends in curves.items() for iteration, f1 in enumerate(ends)]
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


def test_bands_never_leave_their_range() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        mean, half = rng.uniform(0, 1), rng.uniform(0, 2)
        low, high = clipped_band(mean, half)
        assert 0 <= low <= mean <= high <= 1
        rose = rng.random(rng.integers(2, 6)) < rng.uniform(0, 1)
        share, low, high = share_band(rose)
        assert 0 <= low <= share <= high <= 1
    extreme = {f"agreeing-{i:02d}": (0.98 + 0.02 * (i % 2), 1.0 - 0.9 * (i == 0)) for i in range(3)}
    extreme.update({f"systematic-{i:02d}": (0.0 + 0.05 * i, 0.02 * i) for i in range(3)})
    table = compare(results_of(extreme), ["mc"], ["layer"])
    assert list(table["listeners"]) == ["agreeing", "systematic", "all"]
    for name in ("before", "after", "rose"):
        assert table[f"{name}_low"].between(0, 1).all() and table[f"{name}_high"].between(0, 1).all()
        assert (table[f"{name}_low"] <= table[name]).all() and (table[name] <= table[f"{name}_high"]).all()
    assert table["change_low"].between(-1, 1).all() and table["change_high"].between(-1, 1).all()
    assert (table["after_high"] == 1).any() and (table["before_low"] == 0).any()  # clipping did happen


def test_a_one_listener_group_says_it_has_no_interval() -> None:
    results = results_of({"agreeing-00": (0.5, 0.6), "systematic-00": (0.4, 0.3),
                          "systematic-01": (0.2, 0.4)})
    table = compare(results, ["mc"], ["layer"])
    lines = summary_markdown(pd.DataFrame(columns=["rule"]), table, Plan(("mc",), iterations=1, queries=5),
                             {}, []).splitlines()
    agreeing = next(line for line in lines if line.startswith("| layer | mc | committee | agreeing |"))
    assert agreeing.count("(n = 1: no interval)") == 4 and "[" not in agreeing
    systematic = next(line for line in lines if line.startswith("| layer | mc | committee | systematic |"))
    assert "no interval" not in systematic and systematic.count("[") == 4
    real = compare(results_of({"7": (0.5, 0.6)}), ["mc"], ["layer"])
    assert list(real["listeners"]) == [sim.REAL_LISTENERS] and np.isnan(real["rose_low"]).all()
