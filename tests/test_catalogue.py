"""Catalogue scores: the pool scored once per committee, equal to a full rescoring, kept up to date
song by song, and never half-written."""

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.committees import (
    committee_and_pool,
    make_committee,
    quadrant_windows,
    write_feature_csv,
)
from tests.conftest import ROOT, run_script
from tests.interrupt import run_interrupted
from trompa_mer.committee import files as committees
from trompa_mer.committee.layer import ListenerLayer
from trompa_mer.features import pool as pools
from trompa_mer.features.pool import load_pool
from trompa_mer.learning import catalogue, scoring, strategies
from trompa_mer.learning.personal import OtherAnswers, UserView
from trompa_mer.names import SCALING_COMMITTEE, SCALING_ORIGINAL
from trompa_mer.users.pool_view import HeldScores


@pytest.fixture
def setup(tmp_path: Path) -> dict:
    return committee_and_pool(tmp_path)


def scored_songs(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Record the songs each scoring of the catalogue asks the committee about."""
    calls: list[list[str]] = []
    real = catalogue.quadrant_probabilities

    def spy(committee, pool, song_ids, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls.append(list(song_ids))
        return real(committee, pool, song_ids, *args, **kwargs)

    monkeypatch.setattr(catalogue, "quadrant_probabilities", spy)
    return calls


def members_scored(committee: committees.Committee, setup: dict) -> np.ndarray:
    with load_pool(setup["feats"], setup["cache"], names=committee.feature_names) as pool:
        return scoring.quadrant_probabilities(replace(committee, layer=None, digest=None), pool,
                                              pool.song_ids, SCALING_COMMITTEE)


def from_catalogue(committee: committees.Committee, setup: dict,
                   songs: list[str] | None = None) -> np.ndarray:
    with load_pool(setup["feats"], setup["cache"], names=committee.feature_names) as pool:
        return catalogue.member_probabilities(committee, pool, songs or pool.song_ids, SCALING_COMMITTEE)


def test_scores_equal_a_full_rescoring_and_are_computed_once(setup: dict,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    committee = committees.load_committee(setup["folder"])
    calls = scored_songs(monkeypatch)
    first = from_catalogue(committee, setup)
    np.testing.assert_array_equal(first, members_scored(committee, setup))
    assert len(calls) == 1 and len(calls[0]) == 24
    again = from_catalogue(committee, setup, ["song_05", "song_01"])
    assert len(calls) == 1, "a song in the catalogue is not scored again"
    np.testing.assert_array_equal(again, first[[5, 1]])


@pytest.mark.parametrize("confusion", [
    np.eye(4),
    np.array([[0.7, 0.2, 0.05, 0.05], [0.3, 0.6, 0.05, 0.05], [0.0, 0.1, 0.8, 0.1],
              [0.25, 0.25, 0.25, 0.25]]),
    np.array([[0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.5, 0.5], [0.0, 0.0, 0.5, 0.5]]),
])
def test_queries_and_recommendations_from_the_catalogue_equal_rescoring_for_any_layer(
        setup: dict, confusion: np.ndarray) -> None:
    loaded = committees.load_committee(setup["folder"])
    layered = replace(loaded, layer=ListenerLayer(confusion))
    rescored = replace(layered, digest=None)
    with load_pool(setup["feats"], setup["cache"], names=loaded.feature_names) as pool:
        songs = pool.song_ids
        heard = catalogue.heard_probabilities(layered, pool, songs, SCALING_COMMITTEE)
        full = scoring.quadrant_probabilities(rescored, pool, songs, SCALING_COMMITTEE)
        np.testing.assert_allclose(heard, full, rtol=0, atol=1e-6)
        counts = np.zeros((len(songs), 4))
        counts[::3, 2] = 3
        view = UserView(OtherAnswers({s: i for i, s in enumerate(songs)}, counts), {}, confusion)
        for context_view in (None, view):
            contexts = [strategies.QueryContext(c, pool, songs, SCALING_COMMITTEE, "u", 0, view=context_view)
                        for c in (layered, rescored)]
            np.testing.assert_allclose(strategies.mc(contexts[0]), strategies.mc(contexts[1]),
                                       rtol=0, atol=1e-6)


def test_an_edited_csv_rescores_only_its_song_and_a_new_song_only_itself(
        setup: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    committee = committees.load_committee(setup["folder"])
    before = from_catalogue(committee, setup)
    calls = scored_songs(monkeypatch)
    rng = np.random.default_rng(5)
    write_feature_csv(setup["feats"] / "song_03.csv", quadrant_windows(2, 8, rng))
    write_feature_csv(setup["feats"] / "song_99.csv", quadrant_windows(1, 6, rng))
    (setup["feats"] / "song_07.csv").unlink()
    after = from_catalogue(committee, setup)
    assert calls == [["song_03", "song_99"]]
    np.testing.assert_array_equal(after, members_scored(committee, setup))
    kept = [i for i in range(24) if i not in (3, 7)]
    np.testing.assert_array_equal(np.delete(after, [3, 23], axis=0), before[kept])
    with load_pool(setup["feats"], setup["cache"], names=committee.feature_names) as pool:
        stored = catalogue.read_scores(catalogue.scores_path(pool, committee, SCALING_COMMITTEE))
    assert sorted(stored["song"].tolist()) == [f"song_{i:02d}" for i in range(24) if i != 7] + ["song_99"]


def test_a_replaced_committee_scores_every_song_again(setup: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    old = committees.load_committee(setup["folder"])
    from_catalogue(old, setup)
    make_committee(setup["folder"], seed=1)
    new = committees.load_committee(setup["folder"])
    assert new.digest != old.digest
    calls = scored_songs(monkeypatch)
    np.testing.assert_array_equal(from_catalogue(new, setup), members_scored(new, setup))
    assert [len(c) for c in calls] == [24]


def test_committees_built_in_memory_or_scaled_on_the_pool_are_not_catalogued(setup: dict) -> None:
    committee = committees.load_committee(setup["folder"])
    assert catalogue.catalogued(committee, SCALING_COMMITTEE)
    assert not catalogue.catalogued(committee, SCALING_ORIGINAL)
    assert not catalogue.catalogued(replace(committee, digest=None), SCALING_COMMITTEE)
    with pytest.raises(ValueError, match="only a committee loaded from files"):
        catalogue.key_of(committee, SCALING_ORIGINAL)


def test_a_damaged_scores_file_is_rescored_not_trusted(setup: dict) -> None:
    committee = committees.load_committee(setup["folder"])
    expected = from_catalogue(committee, setup)
    with load_pool(setup["feats"], setup["cache"], names=committee.feature_names) as pool:
        path = catalogue.scores_path(pool, committee, SCALING_COMMITTEE)
    path.write_bytes(path.read_bytes()[:100])
    np.testing.assert_array_equal(from_catalogue(committee, setup), expected)
    assert catalogue.read_scores(path) is not None


def layer_user(world: dict, name: str, rule: str = "layer") -> None:
    run_script("create_user.py", "-i", name, "--update-rule", rule, env=world["env"], check=True)


def test_a_kill_while_scoring_leaves_the_old_scores_whole(world: dict) -> None:
    layer_user(world, "alice")
    run_script("get_hard_tracks.py", "-i", "alice", "-q", "3", env=world["env"], check=True)
    folder = world["root"] / "data" / "feats"
    scores_dir = world["root"] / "data" / "pool_cache" / catalogue.SCORES_FOLDER
    [path] = scores_dir.glob("*.npy")
    old = np.load(path)
    rng = np.random.default_rng(9)
    write_feature_csv(folder / "song_04.csv", quadrant_windows(3, 8, rng))
    killed = run_interrupted("kill", "write", path.name, "get_hard_tracks.py", "-i", "alice", "-q", "3",
                             "--requery", env=world["env"])
    killed.communicate()
    assert killed.returncode == -9
    np.testing.assert_array_equal(np.load(path), old)
    result = run_script("get_hard_tracks.py", "-i", "alice", "-q", "3", "--requery", "--json",
                        env=world["env"], check=True)
    committee = committees.load_committee(world["user"] / "alice")
    with load_pool(folder, world["root"] / "data" / "pool_cache") as pool:
        full = scoring.quadrant_probabilities(replace(committee, digest=None), pool, pool.song_ids,
                                              SCALING_COMMITTEE)
        stored = catalogue.read_scores(path)
        rows = {song: i for i, song in enumerate(stored["song"].tolist())}
        np.testing.assert_array_equal(stored["probs"][[rows[s] for s in pool.song_ids]], full)
    assert len(json.loads(result.stdout)["queried"]) == 3


def test_original_rule_users_are_scored_as_before_without_a_catalogue(world: dict) -> None:
    layer_user(world, "bob", "original")
    result = run_script("get_hard_tracks.py", "-i", "bob", "-q", "5", "--json", "--no-crowd",
                        env=world["env"], check=True)
    assert not (world["root"] / "data" / "pool_cache" / catalogue.SCORES_FOLDER).exists()
    committee = committees.load_committee(world["user"] / "bob")
    with load_pool(world["root"] / "data" / "feats", world["root"] / "data" / "pool_cache") as pool:
        entropy = scoring.consensus_scores(committee, pool, pool.song_ids, SCALING_COMMITTEE)
    top = sorted(zip(pool.song_ids, entropy.tolist(), strict=True), key=lambda x: (-x[1], x[0]))[:5]
    assert json.loads(result.stdout)["scores"] == dict(top)


def test_a_query_and_a_retrain_the_catalogue_answers_import_no_model_library(world: dict) -> None:
    layer_user(world, "carol")
    run_script("get_hard_tracks.py", "-i", "carol", "-q", "2", env=world["env"], check=True)
    code = ("import sys; sys.argv = ['get_hard_tracks.py', '-i', 'carol', '-q', '2', '--requery']; "
            "from trompa_mer.commands import get_hard_tracks; assert get_hard_tracks.main() == 0; "
            "print(sorted(m for m in ('sklearn', 'xgboost', 'joblib', 'pandas') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **world["env"]},
                            capture_output=True, text=True, check=True)
    assert result.stdout.splitlines()[-1] == "[]"
    queried = json.loads((world["user"] / "carol" / "pool_data.json").read_text())["queried"]
    answers = world["root"] / "carol.json"
    answers.write_text(json.dumps({song: world["truth"][song] for song in queried}))
    code = (f"import sys; sys.argv = ['retrain_model.py', '-i', 'carol', '-a', {str(answers)!r}]; "
            "from trompa_mer.commands import retrain_model; assert retrain_model.main() == 0; "
            "print(sorted(m for m in ('sklearn', 'xgboost', 'joblib', 'pandas') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **world["env"]},
                            capture_output=True, text=True, check=True)
    assert result.stdout.splitlines()[-1] == "[]"
    assert (world["user"] / "carol" / "layer.json").is_file()


def test_held_scores_are_kept_while_the_pool_is_current(setup: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pools, "FULL_CHECK_SECONDS", 1e9)  # the pool's full check never ages here
    past = time.time_ns() - 10**10
    os.utime(setup["feats"], ns=(past, past))  # the CSVs were written long ago
    loaded = committees.load_committee(setup["folder"])
    confusion = np.full((4, 4), 0.1) + 0.6 * np.eye(4)
    committee = replace(loaded, layer=ListenerLayer(confusion))
    held = HeldScores()
    calls = scored_songs(monkeypatch)
    pool, heard = held.heard(committee, setup["feats"], setup["cache"], SCALING_COMMITTEE)
    songs = pool.song_ids
    assert pool.update.skipped == {} and dict(pool.positions) == {s: i for i, s in enumerate(songs)}
    with load_pool(setup["feats"], setup["cache"], names=committee.feature_names) as fresh:
        assert songs == fresh.song_ids
        rescored = replace(committee, digest=None)
        full = scoring.quadrant_probabilities(rescored, fresh, songs, SCALING_COMMITTEE)
        np.testing.assert_allclose(heard, full, rtol=0, atol=1e-6)
    scores = catalogue.scores_path(pool, committee, SCALING_COMMITTEE)
    scores.unlink()
    again, again_heard = held.heard(committee, setup["feats"], setup["cache"], SCALING_COMMITTEE)
    assert again.song_ids == songs and not scores.exists() and len(calls) == 1  # nothing read again
    np.testing.assert_array_equal(again_heard, heard)
    write_feature_csv(setup["feats"] / "song_77.csv", quadrant_windows(2, 6, np.random.default_rng(7)))
    grown, grown_heard = held.heard(committee, setup["feats"], setup["cache"], SCALING_COMMITTEE)
    assert grown.song_ids == sorted([*songs, "song_77"]) and scores.exists()
    np.testing.assert_array_equal(grown_heard[[grown.positions[s] for s in songs]], heard)
