"""The `shift` update rule: a per-user shift of the quadrants' log-probabilities, fitted on all the
user's answers and applied after the other listeners' answers; nothing before the first answer."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.committees import committee_and_pool
from tests.conftest import run_script
from trompa_mer.committee import files as committees
from trompa_mer.committee.shift import SHIFT_FILE, LabelShift, fit_shift
from trompa_mer.errors import CommitteeError
from trompa_mer.features.pool import load_pool
from trompa_mer.learning import catalogue, scoring, strategies
from trompa_mer.learning.personal import OtherAnswers, UserView, with_crowd
from trompa_mer.names import SCALING_COMMITTEE
from trompa_mer.users import account, personalize


def paths(world: dict) -> dict:
    data = world["root"] / "data"
    return {"users_dir": world["user"], "feats_dir": data / "feats", "cache_dir": data / "cache"}


def answer(world: dict, user_id: str, n: int, quadrant_of: dict[str, int] | int) -> personalize.Retrained:
    """Query `n` songs at random for the user, then answer them: song → class index, or one class."""
    where = paths(world)
    songs = personalize.make_query(n_tracks=n, user_id=user_id, strategy="rand", **where).songs
    labels = {song: quadrant_of if isinstance(quadrant_of, int) else quadrant_of[song] for song in songs}
    return personalize.apply_annotations(annotations=labels, user_id=user_id, rounds=1, **where)


def user_probabilities(world: dict, user_id: str, crowd: bool = True) -> dict[str, np.ndarray]:
    """Song → the user's probabilities of every pool song (`recommend`'s, one quadrant at a time)."""
    where = paths(world)
    proba: dict[str, np.ndarray] = {}
    for quadrant in range(4):
        ranked, _ = personalize.recommend(quadrant=quadrant, n=len(world["truth"]), user_id=user_id,
                                          crowd=crowd, **where)
        for song, p in ranked:
            proba.setdefault(song, np.zeros(4))[quadrant] = p
    return proba


def test_a_shift_fitted_on_answers_leaning_to_a_quadrant_moves_other_songs_toward_it() -> None:
    rng = np.random.default_rng(1)
    proba = rng.dirichlet(np.ones(4) * 2, size=40)
    labels = np.array([proba_row.argmax() for proba_row in proba])
    labels[:12] = 3  # a listener who calls many songs Q4
    fitted = fit_shift(proba[:12], labels[:12])
    assert fitted.shift.argmax() == 3 and fitted.shift[3] > 0.3
    moved = fitted.apply(proba[12:])
    assert (moved[:, 3] > proba[12:, 3]).all()
    np.testing.assert_allclose(moved.sum(axis=1), 1.0)
    agreeing = fit_shift(proba, proba.argmax(axis=1))  # answers as the probabilities say: a small shift
    assert np.abs(agreeing.shift).max() < np.abs(fitted.shift).max()


def test_no_shift_is_exactly_the_crowds_probabilities_and_a_shift_comes_after_the_crowd() -> None:
    heard = np.random.default_rng(0).dirichlet(np.ones(4), size=5)
    counts = np.zeros((5, 4))
    counts[1, 2] = 3
    songs = [f"s{i}" for i in range(5)]
    others = OtherAnswers({s: i for i, s in enumerate(songs)}, counts)
    assert np.array_equal(UserView(others).probabilities(songs, heard), with_crowd(heard, counts))
    lean = LabelShift(np.array([0.0, 0.0, 0.0, 1.0]))
    shifted = UserView(others, {"s4": 0}, shift=lean).probabilities(songs, heard)
    np.testing.assert_allclose(shifted[:4], lean.apply(with_crowd(heard, counts))[:4], rtol=0, atol=1e-12)
    assert shifted[4].tolist() == [1.0, 0.0, 0.0, 0.0]  # an answered song is the answer, shift or not


def test_a_shift_user_without_answers_predicts_as_a_user_without_the_rule(world: dict) -> None:
    account.create_user(world["user"], "reference", world["pretrained"], update_rule="layer")
    account.create_user(world["user"], "other", world["pretrained"], update_rule="layer")
    answer(world, "other", 10, 2)  # some crowd on some songs
    account.create_user(world["user"], "new", world["pretrained"], update_rule="shift")
    assert not (world["user"] / "new" / SHIFT_FILE).exists()
    for crowd in (True, False):
        reference = user_probabilities(world, "reference", crowd)
        new = user_probabilities(world, "new", crowd)
        assert all(np.array_equal(reference[song], new[song]) for song in reference)
    csv = paths(world)["feats_dir"] / "song_03.csv"
    out = world["root"] / "p.json"
    run_script("predict_emotion.py", "-i", csv, "-o", out, "-u", "new", "--no-crowd", env=world["env"],
               check=True)
    result = json.loads(out.read_text())
    assert result["mean_probs"] == result["committee_probs"]


def test_a_shift_user_leaning_to_a_quadrant_gets_it_on_songs_they_did_not_answer(world: dict) -> None:
    account.create_user(world["user"], "lean", world["pretrained"], update_rule="shift")
    before = user_probabilities(world, "lean")
    done = answer(world, "lean", 12, 3)  # everything heard as Q4
    assert done.layer_moved is None and done.shift_moved is not None and done.shift_moved > 0.3
    stored = LabelShift.from_json(json.loads((world["user"] / "lean" / SHIFT_FILE).read_text()))
    assert stored.shift.argmax() == 3
    assert not (world["user"] / "lean" / committees.LAYER_FILE).exists()
    after = user_probabilities(world, "lean")
    answered = set(account.read_answers(world["user"] / "lean"))
    unanswered = [song for song in before if song not in answered]
    assert len(unanswered) == 12
    assert all(after[song][3] > before[song][3] for song in unanswered)
    assert all(after[song].tolist() == [0.0, 0.0, 0.0, 1.0] for song in answered)
    csv = paths(world)["feats_dir"] / f"{unanswered[0]}.csv"
    out = world["root"] / "p.json"
    run_script("predict_emotion.py", "-i", csv, "-o", out, "-u", "lean", env=world["env"], check=True)
    result = json.loads(out.read_text())
    np.testing.assert_allclose(result["mean_probs"], after[unanswered[0]], rtol=0, atol=1e-6)
    assert result["mean_probs"][3] > result["committee_probs"][3]
    printed = run_script("retrain_model.py", "-i", "lean", "-a", write_answers(world, "lean", 3),
                         env=world["env"], check=True).stdout
    assert "shift moved by" in printed and "layer moved" not in printed


def write_answers(world: dict, user_id: str, quadrant: int) -> Path:
    """A query of 2 songs for the user, and the answers file giving them both `quadrant`."""
    queried = json.loads(run_script("get_hard_tracks.py", "-i", user_id, "-q", 2, "--json",
                                    env=world["env"], check=True).stdout)["queried"]
    path = world["root"] / f"{user_id}.json"
    path.write_text(json.dumps(dict.fromkeys(queried, f"Q{quadrant + 1}")))
    return path


@pytest.mark.parametrize("content", ['{"shift": [0.1, 0.2]}', '{"shift": [0, 0, "x", 0]}',
                                     '{"confusion": [0, 0, 0, 0]}', '{"shift": [0, 0, 1e999, 0]}', "{oops"])
def test_a_bad_shift_file_is_one_clear_error(world: dict, content: str) -> None:
    account.create_user(world["user"], "bad", world["pretrained"], update_rule="shift")
    (world["user"] / "bad" / SHIFT_FILE).write_text(content)
    out = world["root"] / "p.json"
    result = run_script("predict_emotion.py", "-i", paths(world)["feats_dir"] / "song_00.csv", "-o", out,
                        "-u", "bad", env=world["env"])
    assert result.returncode != 0 and not out.exists()
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: malformed ") and SHIFT_FILE in line


def test_a_shift_users_answers_without_their_shift_file_are_an_error(world: dict) -> None:
    account.create_user(world["user"], "lost", world["pretrained"], update_rule="shift")
    answer(world, "lost", 4, 0)
    (world["user"] / "lost" / SHIFT_FILE).unlink()
    with pytest.raises(CommitteeError, match=f"{SHIFT_FILE} is missing, yet user lost has answered 4 songs"):
        personalize.recommend(quadrant=0, n=3, user_id="lost", **paths(world))


@pytest.fixture
def setup(tmp_path: Path) -> dict:
    return committee_and_pool(tmp_path)


@pytest.mark.parametrize("shift", [np.zeros(4), np.array([0.0, -1.0, 2.5, 0.3]),
                                   np.array([-30.0, 0, 0, 30.0])])
def test_queries_and_recommendations_from_the_catalogue_equal_rescoring_for_any_shift(
        setup: dict, shift: np.ndarray) -> None:
    loaded = replace(committees.load_committee(setup["folder"]), shift=LabelShift(shift))
    rescored = replace(loaded, digest=None)
    with load_pool(setup["feats"], setup["cache"], names=loaded.feature_names) as pool:
        songs = pool.song_ids
        counts = np.zeros((len(songs), 4))
        counts[::3, 2] = 3
        for others in (OtherAnswers({s: i for i, s in enumerate(songs)}, counts), None):
            view = UserView(others, {songs[1]: 0}, shift=loaded.shift)
            shared = view.probabilities(songs, catalogue.heard_probabilities(loaded, pool, songs,
                                                                              SCALING_COMMITTEE))
            full = view.probabilities(songs, scoring.quadrant_probabilities(rescored, pool, songs,
                                                                            SCALING_COMMITTEE))
            np.testing.assert_allclose(shared, full, rtol=0, atol=1e-6)
            contexts = [strategies.QueryContext(c, pool, songs, SCALING_COMMITTEE, "u", 0, view=view)
                        for c in (loaded, rescored)]
            np.testing.assert_allclose(strategies.mc(contexts[0]), strategies.mc(contexts[1]),
                                       rtol=0, atol=1e-6)


def test_a_shift_user_is_answered_from_the_catalogue_as_a_full_rescoring_would(world: dict) -> None:
    account.create_user(world["user"], "cat", world["pretrained"], update_rule="shift")
    answer(world, "cat", 6, 1)
    folder = world["user"] / "cat"
    committee = personalize.user_committee(folder, account.read_state(folder))
    assert committee.digest is not None and committee.shift is not None  # the catalogue path
    where = paths(world)
    ranked, _ = personalize.recommend(quadrant=1, n=24, user_id="cat", **where)
    assert (where["cache_dir"] / catalogue.SCORES_FOLDER).is_dir()
    _, view = personalize.load_user(world["user"], "cat", None)
    with load_pool(where["feats_dir"], where["cache_dir"], names=committee.feature_names) as pool:
        rescored = scoring.quadrant_probabilities(replace(committee, digest=None), pool, pool.song_ids,
                                                  SCALING_COMMITTEE)
        expected = view.probabilities(pool.song_ids, rescored)[:, 1]
        by_song = dict(zip(pool.song_ids, expected.tolist(), strict=True))
    for song, p in ranked:
        assert p == pytest.approx(by_song[song], abs=1e-9)
    queried = personalize.make_query(n_tracks=3, user_id="cat", **where)
    candidates = [song for song in pool.song_ids if song not in view.own]
    with load_pool(where["feats_dir"], where["cache_dir"], names=committee.feature_names) as pool:
        context = strategies.QueryContext(replace(committee, digest=None), pool, candidates,
                                          SCALING_COMMITTEE, "cat", 1, view=view)
        expected_scores = strategies.choose_songs("mc", context, 3)
    assert queried.songs == list(expected_scores)
    for song, score in queried.scores.items():
        assert score == pytest.approx(expected_scores[song], abs=1e-9)


def test_an_original_rule_user_has_no_shift_and_keeps_no_digest(world: dict) -> None:
    account.create_user(world["user"], "orig", world["pretrained"], update_rule="original")
    answer(world, "orig", 4, 2)
    folder = world["user"] / "orig"
    assert not (folder / SHIFT_FILE).exists()
    committee = personalize.user_committee(folder, account.read_state(folder))
    assert committee.shift is None and committee.digest is None
