"""Query strategies: hc on a hand-made crowd, mix, rand, and every strategy through the real scripts."""

import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from tests.committees import make_committee, make_pool
from tests.conftest import ROOT, error_line, run_script
from trompa_mer import names
from trompa_mer.commands import create_user, get_hard_tracks, retrain_model, settings
from trompa_mer.errors import CrowdError
from trompa_mer.features.pool import load_pool
from trompa_mer.learning import crowd as crowds
from trompa_mer.learning import strategies
from trompa_mer.learning.strategies import QueryContext

SIGNS = {"Q1": ("1", "1"), "Q2": ("-1", "1"), "Q3": ("-1", "-1"), "Q4": ("1", "-1")}
# (song as the study spells it, user, quadrant); user 827 is the one being queried.
HAND_MADE = [
    ("SONG_00", "5", "Q1"), ("SONG_00", "6", "Q1"), ("SONG_00", "7", "Q2"), ("SONG_00", 827, "Q3"),
    ("SONG_01", "5", "Q1"), ("SONG_01", "6", "Q2"), ("SONG_01", "7", "Q3"), ("SONG_01", "8", "Q4"),
    ("song_02", "827", "Q2"), ("song_02", "827", "Q4"),
    ("song_03", "5", "Q4"), ("song_03", "827", "Q1"),
    ("NO_FEATURES", "5", "Q1"), ("NO_FEATURES", "6", "Q2"), ("NO_FEATURES", "7", "Q3"),
    ("NO_FEATURES", "8", "Q4"),
]
SONGS = ["song_00", "song_01", "song_02", "song_03", "no_features"]
# Other users' counts per quadrant, by hand: user 827's own annotations left out.
EXPECTED_COUNTS = np.array([[2, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 1], [1, 1, 1, 1]])


def trompa_json(path: Path, annotations: list[tuple]) -> Path:
    items = [{"internalID": str(i), "externalID": song, "userid": user, "valenceValue": SIGNS[q][0],
              "arousalValue": SIGNS[q][1], "moodValue": "joy"}
             for i, (song, user, q) in enumerate(annotations)]
    path.write_text(json.dumps({"annotations": items, "users": [], "moods": []}))
    return path


def crowd_csv(path: Path, annotations: list[tuple]) -> Path:
    path.write_text("song_id,user_id,quadrant\n" + "".join(f"{s},{u},{q}\n" for s, u, q in annotations))
    return path


def test_hc_frequencies_and_entropy_leave_the_users_own_out(tmp_path: Path) -> None:
    crowd = crowds.read_crowd(trompa_json(tmp_path / "crowd.json", HAND_MADE))
    counts = crowds.quadrant_counts(crowd, SONGS, "827")
    np.testing.assert_array_equal(counts, EXPECTED_COUNTS)
    np.testing.assert_allclose(crowds.frequencies(counts)[0], [2 / 3, 1 / 3, 0, 0])
    scores = strategies.hc_scores(counts)
    expected = [-(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3)), math.log(4),
                strategies.NO_CROWD_SCORE, 0.0, math.log(4)]
    np.testing.assert_allclose(scores, expected)
    # Without leaving 827 out, song_02 has a crowd and song_00 a third quadrant.
    assert crowds.quadrant_counts(crowd, SONGS, "nobody")[2].tolist() == [0, 1, 0, 1]
    # The CSV format says the same.
    same = crowds.read_crowd(crowd_csv(tmp_path / "crowd.csv", HAND_MADE))
    np.testing.assert_array_equal(crowds.quadrant_counts(same, SONGS, "827"), EXPECTED_COUNTS)


def test_hc_ranks_by_entropy_ties_by_song_id_uncrowded_last(tmp_path: Path) -> None:
    crowd = crowds.read_crowd(trompa_json(tmp_path / "crowd.json", HAND_MADE))
    candidates = ["song_03", "song_02", "song_01", "song_00"]
    context = QueryContext(None, None, candidates, "committee", "827", 0, crowd=crowd)
    scores = strategies.STRATEGY_SCORES["hc"](context)
    chosen = strategies.choose_songs("hc", context, 4)
    assert list(chosen) == ["song_01", "song_00", "song_03", "song_02"]
    assert chosen == dict(zip(candidates, scores.tolist(), strict=True))
    tied = crowds.read_crowd(crowd_csv(tmp_path / "tied.csv", [("b", "1", "Q1"), ("b", "2", "Q2"),
                                                              ("a", "1", "Q3"), ("a", "2", "Q4")]))
    assert list(strategies.choose_songs("hc", QueryContext(None, None, ["b", "a"], "committee", "9", 0,
                                                           crowd=tied), 2)) == ["a", "b"]


def test_mix_is_the_larger_score_and_never_repeats_a_song(tmp_path: Path) -> None:
    truth = make_pool(tmp_path / "feats", n_songs=12)
    committee = make_committee(tmp_path / "committee", kinds=("gnb", "sgd"), folds=1)
    pool = load_pool(tmp_path / "feats", tmp_path / "cache")
    crowd = crowds.read_crowd(crowd_csv(tmp_path / "crowd.csv", [
        (song, str(user), f"Q{(i * user) % 4 + 1}") for i, song in enumerate(truth) for user in range(1, 4)]))
    songs = sorted(truth)
    context = QueryContext(committee, pool, songs, "committee", "1", 0, crowd=crowd)
    mc, hc, mix = (strategies.STRATEGY_SCORES[s](context) for s in ("mc", "hc", "mix"))
    np.testing.assert_allclose(mix, np.maximum(mc, hc))
    assert (hc > mc).any() and (mc > hc).any()  # both sources matter in this pool
    chosen = strategies.choose_songs("mix", context, len(songs))
    assert sorted(chosen) == songs


def test_rand_is_reproducible_per_user_and_iteration() -> None:
    songs = [f"s{i:03d}" for i in range(200)]

    def pick(user: str, iteration: int, seed: int = 0) -> list[str]:
        return list(strategies.choose_songs("rand", QueryContext(None, None, songs, "committee", user,
                                                                 iteration, seed=seed), 10))

    assert pick("827", 3) == pick("827", 3)
    assert len({tuple(pick("827", 3)), tuple(pick("827", 4)), tuple(pick("828", 3)),
                tuple(pick("827", 3, seed=1))}) == 4
    # The seed comes from the ids' text, not Python's salted hash(): another process agrees.
    code = "from trompa_mer.learning.strategies import stable_seed; print(stable_seed('827', 3, 0))"
    other = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                           env={"PYTHONHASHSEED": "12345", "PATH": ""}, check=True)
    assert int(other.stdout) == strategies.stable_seed("827", 3, 0)


@pytest.mark.parametrize(("name", "text", "reason"), [
    ("bad.csv", "song_id,user,quadrant\n1,2,Q1\n", "lacks the column.*user_id"),
    ("bad.csv", "song_id,user_id,quadrant\n1,2,Q1\n1,3,Q5\n", "line 3: not a quadrant: 'Q5'"),
    ("crowd.json", '{"users": []}', "no `annotations` list"),
    ("crowd.json", '{"annotations": [{"externalID": "a", "userid": "1", "valenceValue": "1"}]}',
     "annotation 0 lacks"),
    ("absent.json", None, "not found"),
])
def test_bad_crowd_files_are_refused_with_their_reason(tmp_path: Path, name: str, text: str | None,
                                                       reason: str) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(CrowdError, match=reason):
        crowds.read_crowd(path)


def test_reads_the_trompa_study_file(shared: Path) -> None:
    crowd = crowds.read_crowd(shared / "data" / "trompa" / "data_09_08_2021.json")
    assert len(crowd) == 3444
    assert len(set(crowd.user_ids)) == 141 and len(set(crowd.song_ids)) == 311
    assert all(song == song.lower() for song in crowd.song_ids)
    counts = crowds.quadrant_counts(crowd, ["dfx0951-0019"], "827")
    assert counts.sum() == (crowd.song_ids == "dfx0951-0019").sum() - (
        (crowd.song_ids == "dfx0951-0019") & (crowd.user_ids == "827")).sum()


# --- through the scripts ----------------------------------------------------------------------


@pytest.fixture(autouse=True)
def one_xgb_thread() -> None:
    """xgboost on one thread: on a busy 2-core machine its default spinning threads cost 10x."""
    with xgb.config_context(nthread=1):
        yield


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A pretrained committee, a pool of 16 songs and a crowd file that also names a song without
    features (with the highest entropy of all); settings point the scripts at them."""
    pretrained = tmp_path / "pretrained"
    make_committee(pretrained, kinds=("gnb", "sgd", "xgb"), folds=1)
    truth = make_pool(tmp_path / "data" / "feats", n_songs=16)
    crowd = trompa_json(tmp_path / "crowd.json", HAND_MADE + [
        (song, str(user), f"Q{(i + user) % 4 + 1}") for i, song in enumerate(sorted(truth)[4:10])
        for user in range(1, 3)])
    paths = {"USERS_DIRECTORY": tmp_path / "models" / "users", "PRETRAINED_DIRECTORY": pretrained,
             "DEFAULT_COMMITTEE": pretrained,
             "FEATS_DIRECTORY": tmp_path / "data" / "feats", "POOL_CACHE_DIRECTORY": tmp_path / "cache",
             "CROWD_ANNOTATIONS": crowd}
    for name, value in paths.items():
        monkeypatch.setattr(settings, name, value)
    env = {"TPL_INTERNAL_DATA_DIRECTORY": str(tmp_path), "TPL_PRETRAINED_DIRECTORY": str(pretrained),
           "TPL_CROWD_ANNOTATIONS": str(crowd)}
    return {"root": tmp_path, "env": env, "truth": truth, "users": paths["USERS_DIRECTORY"]}


def call(main: Callable[[list[str]], int], *args: object) -> None:
    assert main([str(a) for a in args]) == 0


def query(*args: object, capsys: pytest.CaptureFixture) -> dict:
    capsys.readouterr()
    call(get_hard_tracks.main, *args, "--json")
    return json.loads(capsys.readouterr().out)


def state(world: dict, user: str) -> dict:
    return json.loads((world["users"] / user / "pool_data.json").read_text())


@pytest.mark.parametrize("strategy", names.STRATEGIES)
def test_every_strategy_query_is_answered_and_retrained(world: dict, strategy: str,
                                                        capsys: pytest.CaptureFixture) -> None:
    call(create_user.main, "-i", "827", "-m", strategy)
    assert state(world, "827")["strategy"] == strategy
    n = 14 if strategy == "hc" else 6
    result = query("-i", "827", "-q", n, capsys=capsys)
    songs = result["queried"]
    assert result["strategy"] == strategy and len(set(songs)) == n
    assert set(songs) <= set(world["truth"]) and "no_features" not in songs
    if strategy == "hc":  # by entropy: ln 4, six songs of ln 2, 0.64, 0; then uncrowded, by id
        assert songs == (["song_01"] + [f"song_{i:02d}" for i in range(4, 10)] + ["song_00", "song_03"]
                         + ["song_02", "song_10", "song_11", "song_12", "song_13"])
        assert [result["scores"][s] for s in songs[-5:]] == [strategies.NO_CROWD_SCORE] * 5
    answers = world["root"] / "answers.json"
    answers.write_text(json.dumps({song: world["truth"][song] for song in songs}))
    call(retrain_model.main, "-i", "827", "-a", answers)
    after = state(world, "827")
    assert after["iteration"] == 1 and not after["pending"] and sorted(after["answered"]) == sorted(songs)
    again = query("-i", "827", "-q", 2, capsys=capsys)
    assert again["iteration"] == 1 and not set(again["queried"]) & set(songs)
    if strategy == "mc":  # a one-off strategy leaves the user's own in place
        other = query("-i", "827", "-q", 2, "--requery", "--strategy", "rand", capsys=capsys)
        assert other["strategy"] == "rand" and state(world, "827")["query_strategy"] == "rand"
        assert state(world, "827")["strategy"] == "mc"


def test_hc_without_crowd_file_is_refused_by_the_script(world: dict) -> None:
    env = {**world["env"], "TPL_CROWD_ANNOTATIONS": str(world["root"] / "absent.json")}
    absent = env["TPL_CROWD_ANNOTATIONS"]
    message = (f"error: strategy hc needs crowd annotations, but {absent} does not exist; set "
               "TPL_CROWD_ANNOTATIONS to a TROMPA JSON or song_id,user_id,quadrant CSV")
    assert error_line(run_script("create_user.py", "-i", "u", "-m", "hc", env=env)) == message
    assert not (world["users"] / "u").exists()
    run_script("create_user.py", "-i", "u", "-m", "mc", env=env, check=True)
    refused = run_script("get_hard_tracks.py", "-i", "u", "-q", "3", "--strategy", "hc", env=env)
    assert error_line(refused) == message
    assert not state(world, "u")["pending"]


def test_a_crowd_naming_none_of_the_pool_songs_is_warned_about(world: dict) -> None:
    strangers = crowd_csv(world["root"] / "strangers.csv",
                          [("other_song", "1", "Q1"), ("other_song", "2", "Q3")])
    env = {**world["env"], "TPL_CROWD_ANNOTATIONS": str(strangers)}
    run_script("create_user.py", "-i", "u", "-m", "hc", env=env, check=True)
    result = run_script("get_hard_tracks.py", "-i", "u", "-q", "3", env=env, check=True)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "name none of the 16 songs" in warnings[0], result.stderr
    assert len(result.stdout.splitlines()) == 3
    crowded = run_script("get_hard_tracks.py", "-i", "u", "-q", "3", "--requery", env=world["env"],
                         check=True)
    assert "warning" not in crowded.stderr
