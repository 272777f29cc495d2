"""The crowd as a member of every user's committee: other listeners' answers, never the user's own,
counted once per call and kept up to date as users answer and go; a user's own answers count."""

import json
import multiprocessing
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_script
from trompa_mer.learning.personal import CROWD_PRIOR_ANSWERS, OtherAnswers, UserView, with_crowd
from trompa_mer.names import DEFAULT_UPDATE_RULE, QUADRANTS, UPDATE_LAYER
from trompa_mer.storage import read_json
from trompa_mer.users import account, crowd_counts, personalize


def paths(world: dict) -> dict:
    data = world["root"] / "data"
    return {"users_dir": world["user"], "feats_dir": data / "feats", "cache_dir": data / "cache"}


def create(world: dict, user_id: str, update_rule: str = DEFAULT_UPDATE_RULE) -> None:
    account.create_user(world["user"], user_id, world["pretrained"], update_rule=update_rule)


def answer(world: dict, user_id: str, n: int, quadrant_of: dict[str, int] | int, strategy: str = "rand",
           crowd_file: Path | None = None) -> personalize.Retrained:
    """Query `n` songs for the user, then answer them: `quadrant_of` song → class index, or one class."""
    where = paths(world)
    songs = personalize.make_query(n_tracks=n, user_id=user_id, strategy=strategy, **where).songs
    labels = {song: quadrant_of if isinstance(quadrant_of, int) else quadrant_of[song] for song in songs}
    return personalize.apply_annotations(annotations=labels, user_id=user_id, rounds=1,
                                         crowd_file=crowd_file, **where)


def others_of(world: dict, user_id: str, song_ids: list[str], crowd_file: Path | None = None) -> np.ndarray:
    folder = world["user"] / user_id
    own = account.read_answers(folder) if folder.is_dir() else {}
    return crowd_counts.other_answers(world["user"], user_id, own, crowd_file).of(song_ids)


def test_no_other_answers_is_exactly_the_committee() -> None:
    heard = np.random.default_rng(0).dirichlet(np.ones(4), size=5)
    confusion = np.full((4, 4), 0.1) + 0.6 * np.eye(4)
    assert np.array_equal(with_crowd(heard, np.zeros((5, 4)), confusion), heard)
    view = UserView(OtherAnswers(), {}, confusion)
    assert np.array_equal(view.probabilities([f"s{i}" for i in range(5)], heard), heard)


def test_the_prior_is_worth_alpha_answers_and_the_layer_hears_the_crowd_too() -> None:
    heard = np.array([[0.7, 0.1, 0.1, 0.1]])
    counts = np.array([[0.0, 0.0, 2.0, 0.0]])
    expected = (CROWD_PRIOR_ANSWERS * heard + counts) / (CROWD_PRIOR_ANSWERS + 2)
    assert np.allclose(with_crowd(heard, counts), expected)
    swap = np.eye(4)[[0, 1, 3, 2]]  # a listener who hears Q3 as Q4
    assert np.allclose(with_crowd(heard @ swap, counts, swap), expected @ swap)


def test_a_users_own_answers_never_count_as_crowd(world: dict) -> None:
    create(world, "alice")
    answer(world, "alice", 6, 2)
    answered = sorted(account.read_answers(world["user"] / "alice"))
    assert len(answered) == 6
    assert not others_of(world, "alice", answered).any()
    crowd_file = world["root"] / "crowd.csv"  # her rows in a crowd file are left out too
    crowd_file.write_text("song_id,user_id,quadrant\n" + "".join(f"{s},alice,Q3\n" for s in answered)
                          + f"{answered[0]},bob,Q1\n")
    counts = others_of(world, "alice", answered, crowd_file)
    assert counts.sum() == 1 and counts[0, 0] == 1
    counts_of_bob = others_of(world, "bob", answered)  # bob (no folder) sees all of alice's answers
    assert np.array_equal(counts_of_bob.sum(axis=0), [0, 0, 6, 0])


def test_many_agreeing_answers_move_a_prediction_and_own_answers_are_the_truth(world: dict) -> None:
    where = paths(world)
    for user_id in ("u1", "u2", "u3", "u4", "u5"):
        create(world, user_id)
        answer(world, user_id, 24, 2)  # every song of the pool heard as Q3
    create(world, "newcomer")
    committee_alone, _ = personalize.recommend(quadrant=2, n=24, user_id="newcomer", crowd=False, **where)
    with_them, _ = personalize.recommend(quadrant=2, n=24, user_id="newcomer", **where)
    assert min(p for _, p in with_them) > 0.5 > min(p for _, p in committee_alone)
    csv = where["feats_dir"] / "song_00.csv"  # a Q1 song by the committee
    out = world["root"] / "p.json"
    run_script("predict_emotion.py", "-i", csv, "-o", out, "-u", "newcomer", env=world["env"], check=True)
    result = json.loads(out.read_text())
    assert result["crowd"]["answers"] == 5 and result["crowd"]["counts"]["Q3"] == 5
    assert result["highest_prob_quad"] == "Q3" and result["own_answer"] is None
    run_script("predict_emotion.py", "-i", csv, "-o", out, "-u", "newcomer", "--no-crowd", env=world["env"],
               check=True)
    alone = json.loads(out.read_text())
    assert alone["crowd"] is None and alone["mean_probs"] == alone["committee_probs"]
    assert alone["mean_probs"] == result["committee_probs"] and alone["highest_prob_quad"] != "Q3"
    run_script("predict_emotion.py", "-i", csv, "-o", out, "-u", "u1", env=world["env"], check=True)
    own = json.loads(out.read_text())  # u1 said Q3: that is u1's truth, whatever the others said
    assert own["own_answer"] == "Q3" and own["mean_probs"] == [0.0, 0.0, 1.0, 0.0]
    assert own["crowd"]["answers"] == 4


def test_retrain_says_what_changed(world: dict) -> None:
    create(world, "carol", UPDATE_LAYER)  # the layer's move is reported (the shift's: test_shift.py)
    done = answer(world, "carol", 12, 3)  # everything heard as Q4
    assert done.pool_songs == 24 and done.layer_moved is not None and done.layer_moved > 0
    assert done.songs_changed >= 9  # her 12 answers at least: 3 of them were Q4 songs already
    queried = json.loads(run_script("get_hard_tracks.py", "-i", "carol", "-q", 2, "--json", env=world["env"],
                                    check=True).stdout)["queried"]
    answers = world["root"] / "answers.json"
    answers.write_text(json.dumps(dict.fromkeys(queried, "Q4")))
    printed = run_script("retrain_model.py", "-i", "carol", "-a", answers, env=world["env"],
                         check=True).stdout
    assert "layer moved by" in printed and "of 24 pool songs changed quadrant for this user" in printed


def test_removing_a_user_removes_their_answers_from_others_crowd(world: dict) -> None:
    songs = sorted(world["truth"])
    for user_id in ("a", "b", "c"):
        create(world, user_id)
        answer(world, user_id, 24, 1)
    assert np.array_equal(others_of(world, "a", songs).sum(axis=0), [0, 48, 0, 0])
    personalize.delete_user(world["user"], "b")
    document = read_json(world["user"] / crowd_counts.COUNTS_FILE)
    assert "b" not in document["users"] and document["songs"]["song_00"] == [0, 2, 0, 0]
    assert np.array_equal(others_of(world, "a", songs).sum(axis=0), [0, 24, 0, 0])
    shutil.rmtree(world["user"] / "c")  # deleted by hand: the counts see it and count again
    assert not others_of(world, "a", songs).any()
    assert read_json(world["user"] / crowd_counts.COUNTS_FILE)["users"].keys() == {"a"}


def test_a_stale_or_missing_counts_file_is_counted_again(world: dict) -> None:
    create(world, "d")
    answer(world, "d", 5, 0)
    counts_file = world["user"] / crowd_counts.COUNTS_FILE
    counts_file.unlink()
    assert others_of(world, "e", sorted(world["truth"])).sum() == 5
    counts_file.write_text("{not json")
    assert others_of(world, "e", sorted(world["truth"])).sum() == 5
    assert read_json(counts_file) == crowd_counts.count_all(world["user"])


def _annotate_in_a_process(world: dict, user_id: str, rounds: int) -> None:
    for _ in range(rounds):
        answer(world, user_id, 3, int(user_id[-1]) % 4)


def test_counts_stay_right_under_concurrent_annotation(world: dict) -> None:
    users = [f"user{i}" for i in range(4)]
    for user_id in users:
        create(world, user_id)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_annotate_in_a_process, args=(world, user_id, 3)) for user_id in users]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert [worker.exitcode for worker in workers] == [0] * len(users)
    document = read_json(world["user"] / crowd_counts.COUNTS_FILE)
    assert document == crowd_counts.count_all(world["user"])  # kept by increments, never left stale
    assert sum(sum(row) for row in document["songs"].values()) == 4 * 3 * 3
    for user_id in users:
        quadrant = int(user_id[-1]) % 4
        mine = account.read_answers(world["user"] / user_id)
        assert len(mine) == 9 and set(mine.values()) == {quadrant}
        others = others_of(world, user_id, sorted(world["truth"])).sum(axis=0)
        assert others[quadrant] == 0 and others.sum() == 27


@pytest.mark.parametrize("strategy", ["mc", "mix"])
def test_mc_and_mix_query_with_the_crowd_member(world: dict, strategy: str) -> None:
    crowd_file = world["root"] / "crowd.csv"  # a split crowd on song_05, a unanimous one on song_06
    rows = [("song_05", f"x{i}", QUADRANTS[i % 4]) for i in range(40)] + \
           [("song_06", f"y{i}", "Q2") for i in range(40)]
    crowd_file.write_text("song_id,user_id,quadrant\n" + "".join(f"{s},{u},{q}\n" for s, u, q in rows))
    create(world, "f")
    where = paths(world)
    split = personalize.make_query(n_tracks=1, user_id="f", strategy=strategy, crowd_file=crowd_file,
                                   **where)
    assert split.songs == ["song_05"] and split.scores["song_05"] == pytest.approx(np.log(4), abs=0.02)
    again = personalize.make_query(n_tracks=24, user_id="f", strategy="mc", crowd_file=crowd_file,
                                   requery=True, **where)
    assert again.songs[-1] == "song_06"


def test_hc_counts_every_other_users_answers_beside_the_crowd_file(world: dict) -> None:
    crowd_file = world["root"] / "crowd.csv"
    crowd_file.write_text("song_id,user_id,quadrant\nsong_23,z,Q1\n")
    for user_id in ("a", "b", "c"):
        create(world, user_id)
    answer(world, "a", 24, 0)
    answer(world, "b", 24, {song: 1 if song == "song_05" else 0 for song in world["truth"]})
    where = paths(world)
    split = personalize.make_query(n_tracks=1, user_id="c", strategy="hc", crowd_file=crowd_file, **where)
    assert split.songs == ["song_05"] and split.scores["song_05"] == pytest.approx(np.log(2))
    alone = personalize.make_query(n_tracks=1, user_id="c", strategy="hc", crowd_file=crowd_file,
                                   requery=True, crowd=False, **where)
    assert alone.songs == ["song_23"]  # the crowd file's only song: the others score no answers


def test_a_view_looked_up_by_positions_equals_one_looked_up_song_by_song() -> None:
    rng = np.random.default_rng(11)
    songs = [f"s{i:03d}" for i in range(300)]
    positions = {song: i for i, song in enumerate(songs)}
    heard = rng.dirichlet(np.ones(4), size=len(songs))
    for answered in (5, 280):  # fewer answered songs than songs, and more (with some not in `songs`)
        crowd_songs = [*rng.choice(songs, answered, replace=False).tolist(), "elsewhere"]
        others = OtherAnswers({s: i for i, s in enumerate(crowd_songs)},
                              rng.integers(0, 5, (len(crowd_songs), 4)).astype(float))
        own = {songs[i]: int(rng.integers(4)) for i in rng.choice(len(songs), answered // 2, replace=False)}
        view = UserView(others, {**own, "gone": 2}, np.full((4, 4), 0.1) + 0.6 * np.eye(4))
        slow = view.probabilities(songs, heard)
        np.testing.assert_array_equal(view.probabilities(songs, heard, positions), slow)
        assert all(slow[positions[s], q] == 1.0 for s, q in own.items())
        assert slow[positions[crowd_songs[0]]].tolist() != heard[positions[crowd_songs[0]]].tolist()


def test_counts_are_parsed_once_per_content(world: dict) -> None:
    for user_id in ("a", "b"):
        create(world, user_id)
    answer(world, "a", 3, 1)
    first = crowd_counts.read_counts(world["user"], "b")
    assert crowd_counts.read_counts(world["user"], "b") is first  # the same content: not parsed again
    answer(world, "b", 3, 2)
    second = crowd_counts.read_counts(world["user"], "a")
    assert second is not first and second.document == crowd_counts.count_all(world["user"])
    assert sorted(second.counts.sum(axis=0).tolist()) == [0.0, 0.0, 3.0, 3.0]
