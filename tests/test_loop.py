"""The personalization loop end to end through the real scripts, on a real (small) committee."""

import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import joblib
import numpy as np
from sklearn.preprocessing import StandardScaler

from tests.committees import make_committee, quadrant_windows, write_feature_csv
from tests.conftest import ROOT, error_line, run_script
from trompa_mer.committee import files as committees
from trompa_mer.committee import members
from trompa_mer.committee.model import Committee
from trompa_mer.features.columns import FEATURE_NAMES, deam_name
from trompa_mer.features.table import read_feature_csv
from trompa_mer.names import QUADRANTS


def script(world: dict, name: str, *args: object, check: bool = False) -> subprocess.CompletedProcess:
    return run_script(name, *args, env=world["env"], check=check)


def query(world: dict, user: str, n: int, *extra: str) -> list[str]:
    result = script(world, "get_hard_tracks.py", "-i", user, "-q", n, "--json", *extra, check=True)
    return json.loads(result.stdout)["queried"]


def printed_songs(result: subprocess.CompletedProcess) -> list[str]:
    """The song ids get_hard_tracks.py printed: the first field of each `id<tab>file` line."""
    return [line.split("\t")[0] for line in result.stdout.splitlines()]


def answer(world: dict, songs: list[str], name: str = "answers.json") -> Path:
    path = world["root"] / name
    path.write_text(json.dumps({song: world["truth"][song] for song in songs}))
    return path


def folder_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != ".lock":
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def file_hashes(folder: Path) -> dict[str, str]:
    """Path inside `folder` → sha256 of the file's bytes, for every file but the lock."""
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file() and path.name != ".lock"}


def state(world: dict, user: str) -> dict:
    return json.loads((world["user"] / user / "pool_data.json").read_text())


def test_create_query_retrain_query_again(world: dict) -> None:
    (world["pretrained"] / "confusion_xgb.png").write_bytes(b"not part of the committee")
    created = script(world, "create_user.py", "-i", "827", check=True).stdout
    members = sorted(p.name for p in world["pretrained"].glob("classifier_*.pkl"))
    kinds = "+".join(dict.fromkeys(name.split("_")[1].split(".")[0] for name in members))
    assert f"from {world['pretrained']} ({kinds}, {len(members)} members" in created  # where they start
    folder = world["user"] / "827"
    committee_files = sorted(p.name for p in world["pretrained"].glob("*") if p.suffix != ".png")
    assert sorted(p.name for p in folder.iterdir()) == sorted([*committee_files, "pool_data.json"])
    first = query(world, "827", 4)
    assert len(first) == 4 and state(world, "827")["iteration"] == 0
    assert state(world, "827")["next_pool"] is None  # no copy of the pool in every user's state
    plain = script(world, "get_hard_tracks.py", "-i", "827", "-q", "4", "--requery", check=True)
    lines = [line.split("\t") for line in plain.stdout.splitlines()]
    assert [song for song, _ in lines] == first  # one song a line; the same committee gives the same query
    assert all(Path(csv) == world["root"] / "data" / "feats" / f"{song}.csv" for song, csv in lines)
    before = folder_digest(folder)
    script(world, "retrain_model.py", "-i", "827", "-a", answer(world, first), check=True)
    assert folder_digest(folder) != before
    after = state(world, "827")
    assert after["iteration"] == 1 and not after["pending"]
    second = query(world, "827", 4)
    assert not set(second) & set(first)
    history = (folder / "annotations.jsonl").read_text().splitlines()
    assert [json.loads(line)["labels"] for line in history] == [{s: world["truth"][s] for s in first}]


def test_query_refused_while_pending_and_requery_replaces(world: dict) -> None:
    script(world, "create_user.py", "-i", "u1", check=True)
    first = query(world, "u1", 3)
    refused = script(world, "get_hard_tracks.py", "-i", "u1", "-q", "3")
    assert "waiting for annotations" in error_line(refused) and "pass --requery" in error_line(refused)
    again = query(world, "u1", 5, "--requery")
    assert set(first) <= set(again)  # same committee: the top 3 are still the top 3
    assert state(world, "u1")["queried"] == again


def test_retrain_on_q2_q4_only_batch_raises_those_quadrants(tmp_path: Path) -> None:
    pretrained = tmp_path / "pretrained"
    make_committee(pretrained, quadrants=(0, 1, 2, 3))
    feats = tmp_path / "data" / "feats"
    feats.mkdir(parents=True)
    rng = np.random.default_rng(5)
    truth = {}
    for i in range(8):
        quadrant = (1, 3)[i % 2]
        write_feature_csv(feats / f"s{i}.csv", quadrant_windows(quadrant, 8, rng, spread=3.0))
        truth[f"s{i}"] = QUADRANTS[quadrant]
    env = {"TPL_INTERNAL_DATA_DIRECTORY": str(tmp_path), "TPL_PRETRAINED_DIRECTORY": str(pretrained)}
    world = {"root": tmp_path, "truth": truth, "user": tmp_path / "models" / "users", "env": env}
    script(world, "create_user.py", "-i", "u", "--update-rule", "original", check=True)
    songs = query(world, "u", 8)
    committee = committees.load_committee(pretrained)

    def mean_proba(c: Committee, quadrant: str) -> np.ndarray:
        X = np.concatenate([read_feature_csv(feats / f"{s}.csv") for s in songs if truth[s] == quadrant])
        return c.proba(c.scaler.transform(X)).mean(axis=(0, 1))

    before = {q: mean_proba(committee, q) for q in ("Q2", "Q4")}
    script(world, "retrain_model.py", "-i", "u", "-a", answer(world, songs), check=True)
    updated = committees.load_committee(world["user"] / "u")
    after = {q: mean_proba(updated, q) for q in ("Q2", "Q4")}
    assert after["Q2"][1] > before["Q2"][1] and after["Q4"][3] > before["Q4"][3]
    assert after["Q2"].argmax() == 1 and after["Q4"].argmax() == 3
    for member in updated.members.values():
        assert members.predict_proba(member, np.zeros((2, 260))).shape == (2, 4)


def test_killed_retrain_leaves_committee_as_before(world: dict) -> None:
    """The original rule: every member file is replaced, slowly enough to be killed halfway."""
    script(world, "create_user.py", "-i", "k", "--update-rule", "original", check=True)
    songs = query(world, "k", 4)
    folder = world["user"] / "k"
    before = folder_digest(folder)
    files = file_hashes(folder)
    assert "pool_data.json" in files and any(name.endswith(".pkl") for name in files)
    process = subprocess.Popen([sys.executable, str(ROOT / "retrain_model.py"), "-i", "k", "-a",
                                answer(world, songs), "--rounds", "100000"],
                               env={**os.environ, **world["env"]}, cwd=ROOT)
    time.sleep(3)
    assert process.poll() is None, "the retrain finished before it could be interrupted"
    process.send_signal(signal.SIGKILL)
    process.wait()
    # Members, pool_data.json and (still no) annotations.jsonl: byte for byte as before the retrain.
    assert file_hashes(folder) == files
    script(world, "get_hard_tracks.py", "-i", "k", "-q", "4", "--requery", check=True)  # recovers
    committees.load_committee(folder)
    assert state(world, "k")["pending"]
    script(world, "retrain_model.py", "-i", "k", "-a", answer(world, state(world, "k")["queried"]),
           check=True)
    assert state(world, "k")["iteration"] == 1
    assert before != folder_digest(folder)


def test_concurrent_retrains_never_interleave(world: dict) -> None:
    script(world, "create_user.py", "-i", "c", check=True)
    annotations = answer(world, query(world, "c", 4))
    argv = [sys.executable, str(ROOT / "retrain_model.py"), "-i", "c", "-a", str(annotations)]
    env = {**os.environ, **world["env"]}
    runs = [subprocess.Popen(argv, env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = sorted((p.wait(), p.stderr.read()) for p in runs)
    assert [code for code, _ in outcomes] == [0, 1]
    assert "no pending query" in outcomes[1][1]
    assert state(world, "c")["iteration"] == 1
    assert len((world["user"] / "c" / "annotations.jsonl").read_text().splitlines()) == 1


def test_recover_rolls_forward_a_committed_transaction(tmp_path: Path) -> None:
    from trompa_mer import storage

    (tmp_path / "a.txt").write_text("old a")
    (tmp_path / "b.txt").write_text("old b")
    staging = tmp_path / storage.STAGING_NAME
    staging.mkdir()
    (staging / "b.txt").write_text("new b")  # a.txt was already moved when the process died
    (tmp_path / "a.txt").write_text("new a")
    (staging / storage.COMMIT_MARK).write_text("a.txt\nb.txt")
    storage.recover(tmp_path)
    assert (tmp_path / "b.txt").read_text() == "new b" and not staging.exists()
    staging.mkdir()
    (staging / "a.txt").write_text("half-written")
    storage.recover(tmp_path)  # no commit mark: dropped
    assert (tmp_path / "a.txt").read_text() == "new a" and not staging.exists()


def test_bad_inputs_change_nothing(world: dict) -> None:
    script(world, "create_user.py", "-i", "b", check=True)
    folder = world["user"] / "b"
    root = world["root"]
    refused = script(world, "retrain_model.py", "-i", "b", "-a", answer(world, ["song_00"]))
    assert "run get_hard_tracks first" in error_line(refused)
    songs = query(world, "b", 3)
    before = folder_digest(folder)
    (root / "bad.json").write_text("{not json")
    (root / "label.json").write_text(json.dumps({s: "Q5" for s in songs}))
    (root / "other.json").write_text(json.dumps({s: "Q1" for s in ["song_00", "song_01", "song_02"]
                                                 if s not in songs} | {"zzz": "Q1", "yyy": "Q2"}))
    (root / "few.json").write_text(json.dumps({songs[0]: "Q1"}))
    good = answer(world, songs, "good.json")
    cases = [
        (["retrain_model.py", "-i", "b", "-a", good, "--rounds", "-1"], "at least 1"),
        (["retrain_model.py", "-i", "b", "-a", good, "--rounds", "0"], "at least 1"),
        (["retrain_model.py", "-i", "b", "-a", root / "bad.json"], "malformed"),
        (["retrain_model.py", "-i", "b", "-a", root / "label.json"], "not a quadrant"),
        (["retrain_model.py", "-i", "b", "-a", root / "few.json"], f"not annotated: {', '.join(songs[1:])}"),
        (["retrain_model.py", "-i", "b", "-a", root / "missing.json"], "not found"),
        (["retrain_model.py", "-i", "nobody", "-a", root / "few.json"], "unknown user"),
        (["get_hard_tracks.py", "-i", "b", "-q", "0"], "at least 1"),
        (["create_user.py", "-i", "b"], "already exists"),
        (["create_user.py", "-i", "bad/id"], "invalid user id"),
        (["create_user.py", "-i", "x" * 65], "invalid user id"),
    ]
    for argv, message in cases:
        assert message in error_line(script(world, *argv)), argv
    wrong = {s: "Q1" for s in songs[:-1]} | {"song_zz": "Q1"}
    (root / "wrong.json").write_text(json.dumps(wrong))
    refused = error_line(script(world, "retrain_model.py", "-i", "b", "-a", root / "wrong.json"))
    assert f"not annotated: {songs[-1]}; not queried: song_zz" in refused
    assert folder_digest(folder) == before
    assert not (world["user"] / "bad").exists()


def test_empty_pool_and_too_many_tracks(world: dict) -> None:
    script(world, "create_user.py", "-i", "e", check=True)
    assert "at most 24" in error_line(script(world, "get_hard_tracks.py", "-i", "e", "-q", "25"))
    songs = query(world, "e", 24)
    script(world, "retrain_model.py", "-i", "e", "-a", answer(world, songs), "--rounds", "2", check=True)
    assert "pool is empty" in error_line(script(world, "get_hard_tracks.py", "-i", "e", "-q", "1"))


def test_query_without_features_says_to_extract(world: dict) -> None:
    script(world, "create_user.py", "-i", "n", check=True)
    feats = world["root"] / "data" / "feats"
    moved = world["root"] / "feats_elsewhere"
    feats.rename(moved)
    missing = error_line(script(world, "get_hard_tracks.py", "-i", "n", "-q", "1"))
    assert str(feats) in missing and "extract_features.py" in missing
    feats.mkdir()
    empty = error_line(script(world, "get_hard_tracks.py", "-i", "n", "-q", "1"))
    assert "no feature CSVs" in empty and "extract_features.py" in empty and "queried" not in empty


def test_answers_accept_quadrants_in_any_case(world: dict) -> None:
    script(world, "create_user.py", "-i", "c", check=True)
    songs = query(world, "c", 3)
    path = world["root"] / "lower.json"
    path.write_text(json.dumps({song: world["truth"][song].lower() for song in songs}))
    script(world, "retrain_model.py", "-i", "c", "-a", path, "--rounds", "2", check=True)
    assert not state(world, "c")["pending"]


def test_pool_accepts_deam_names_and_sample_suffix(world: dict) -> None:
    feats = world["root"] / "data" / "feats"
    X = read_feature_csv(feats / "song_00.csv")
    table = {deam_name(n): X[:, i] for i, n in enumerate(FEATURE_NAMES)}
    import pandas as pd

    pd.DataFrame({"frameTime": np.arange(len(X)) * 0.5, **table}).to_csv(feats / "DEAM_7-sample.csv",
                                                                         sep=";", index=False)
    script(world, "create_user.py", "-i", "d", check=True)
    songs = query(world, "d", 25)
    assert "deam_7" in songs


def test_predict_default_member_and_user_committee(world: dict) -> None:
    csv = world["root"] / "data" / "feats" / "song_01.csv"
    out = world["root"] / "p.json"
    script(world, "predict_emotion.py", "-i", csv, "-o", out, "-m", "default", check=True)
    result = json.loads(out.read_text())
    n = len(read_feature_csv(csv))
    assert np.array(result["output_probs"]).shape == (n, 4)
    assert np.allclose(np.array(result["output_probs"]).sum(axis=1), 1)
    assert result["highest_prob_quad"] == QUADRANTS[int(np.argmax(result["mean_probs"]))]
    assert sum(result["freq_pred"].values()) == n and "entropy" not in result
    assert result["mode_quad"] in QUADRANTS and len(result["output_predictions"]) == n
    script(world, "create_user.py", "-i", "p", check=True)
    script(world, "predict_emotion.py", "-i", csv, "-o", out, "-u", "p", check=True)
    committee_result = json.loads(out.read_text())
    assert 0 <= committee_result["entropy"] <= np.log(4)
    assert committee_result["model"] == "user:p"


def test_predict_scaling_original_refits_on_the_file(world: dict) -> None:
    csv = world["root"] / "data" / "feats" / "song_02.csv"
    out = world["root"] / "p.json"
    member_path = world["pretrained"] / "classifier_sgd.it_1.pkl"
    script(world, "predict_emotion.py", "-i", csv, "-o", out, "-m", member_path, "--scaling", "original",
           check=True)
    X = read_feature_csv(csv)
    expected = joblib.load(member_path).predict_proba(StandardScaler().fit_transform(X))
    assert np.allclose(json.loads(out.read_text())["output_probs"], expected, rtol=1e-12, atol=1e-12)
    lone = world["root"] / "lone"
    lone.mkdir()
    (lone / "m.pkl").write_bytes(member_path.read_bytes())
    result = script(world, "predict_emotion.py", "-i", csv, "-o", out, "-m", lone / "m.pkl", check=True)
    assert "no scaler.pkl" in result.stderr
    assert np.allclose(json.loads(out.read_text())["output_probs"], expected, rtol=1e-12, atol=1e-12)
    refused = script(world, "predict_emotion.py", "-i", csv, "-o", out, "-m", lone / "m.pkl",
                     "--scaling", "committee")
    assert error_line(refused) == ("error: this committee has no scaler.pkl to standardise with; "
                                   "use --scaling original")


def test_predict_bad_inputs(world: dict) -> None:
    root = world["root"]
    good = root / "data" / "feats" / "song_03.csv"
    (root / "junk.pkl").write_bytes(b"not a pickle")
    joblib.dump({"a": 1}, root / "dict.pkl")
    (root / "short.csv").write_text("frameTime;F0final_sma_amean\n0.0;1.0\n")
    text = good.read_text().splitlines()
    (root / "text.csv").write_text("\n".join([text[0], text[1].replace(text[1].split(";")[3], "abc", 1)]))
    cases = [
        (root / "junk.pkl", good, "cannot load model"),
        (root / "dict.pkl", good, "not a committee member"),
        (root / "nope.pkl", good, "not found"),
        (world["pretrained"] / "classifier_xgb.it_0.pkl", root / "short.csv", "lacks 259 feature columns"),
        (world["pretrained"] / "classifier_xgb.it_0.pkl", root / "text.csv", "non-numeric"),
        (world["pretrained"] / "classifier_xgb.it_0.pkl", root / "none.csv", "not found"),
    ]
    for model, csv, message in cases:
        out = root / "out.json"
        assert message in error_line(script(world, "predict_emotion.py", "-i", csv, "-o", out, "-m", model))
        assert not out.exists()


def test_predict_folder_writes_one_json_per_csv(world: dict) -> None:
    root = world["root"]
    feats = root / "some"
    feats.mkdir()
    for song in ("song_00", "song_01", "song_02"):
        (feats / f"{song}.csv").write_bytes((root / "data" / "feats" / f"{song}.csv").read_bytes())
    out = root / "predictions"
    script(world, "predict_emotion.py", "-i", feats, "-o", out, "-m", "default", check=True)
    assert sorted(p.name for p in out.iterdir()) == ["song_00.json", "song_01.json", "song_02.json"]
    single = root / "single.json"
    script(world, "predict_emotion.py", "-i", feats / "song_01.csv", "-o", single, "-m", "default",
           check=True)
    folder_result = json.loads((out / "song_01.json").read_text())
    assert folder_result["output_probs"] == json.loads(single.read_text())["output_probs"]
    script(world, "create_user.py", "-i", "f", check=True)
    script(world, "predict_emotion.py", "-i", feats, "-o", out, "-u", "f", check=True)
    assert json.loads((out / "song_02.json").read_text())["model"] == "user:f"


def test_predict_refuses_mismatched_paths_audio_and_non_members(world: dict) -> None:
    root = world["root"]
    feats = root / "data" / "feats"
    csv = feats / "song_00.csv"
    (root / "outdir").mkdir()
    (root / "empty").mkdir()
    (root / "song.mp3").write_bytes(b"ID3 not really")
    cases = [
        (["-i", feats, "-o", root / "all.json", "-m", "default"], "must be a folder"),
        (["-i", csv, "-o", root / "outdir", "-m", "default"], "must be a folder of feature CSVs"),
        (["-i", feats, "-o", root / "no" / "out", "-m", "default"], "parent does not exist"),
        (["-i", root / "empty", "-o", root / "out", "-m", "default"], "no feature CSVs"),
        (["-i", root / "song.mp3", "-o", root / "s.json", "-m", "default"], "extract its features first"),
        (["-i", csv, "-o", root / "s.json", "-m", ROOT / "README.md"], "not a committee member file"),
    ]
    for argv, message in cases:
        assert message in error_line(script(world, "predict_emotion.py", *argv)), argv
    assert not (root / "all.json").exists() and not (root / "out").exists()
    assert not any((root / "outdir").iterdir())


def test_members_load_in_sorted_order(tmp_path: Path) -> None:
    make_committee(tmp_path, kinds=("xgb", "gnb"), folds=3)
    names = list(committees.load_committee(tmp_path).members)
    assert names == sorted(names) and len(names) == 6


def test_written_files_get_ordinary_permissions(tmp_path: Path) -> None:
    from trompa_mer import storage

    storage.write_json(tmp_path / "a.json", {"a": 1})
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o666 & ~mask
    with storage.build_folder(tmp_path / "x") as folder:
        assert folder.stat().st_mode & 0o777 == 0o777 & ~mask
    assert not folder.exists()
    assert (tmp_path / "x").stat().st_mode & 0o777 == 0o777 & ~mask


def test_update_leaves_the_starting_member_as_it_was(tmp_path: Path) -> None:
    """simulate starts every run from one in-memory committee, so an update must not touch it."""
    make_committee(tmp_path / "c", kinds=("gnb", "sgd", "xgb"), folds=1)
    committee = committees.load_committee(tmp_path / "c")
    rng = np.random.default_rng(3)
    X = committee.scaler.transform(np.concatenate([quadrant_windows(q, 10, rng) for q in (1, 3)]))
    y = np.repeat([1, 3], 10)
    before = committee.proba(X)
    for member in committee.members.values():
        updated = members.KINDS[members.kind_of(member)].update(member, X, y, 5, seed=0)
        assert updated is not member
        assert not np.array_equal(members.predict_proba(updated, X), members.predict_proba(member, X))
    assert np.array_equal(committee.proba(X), before)


class Evil:
    """A pickle whose unpickling runs a shell command that creates `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


def test_model_files_never_run_code(world: dict) -> None:
    root = world["root"]
    marker = root / "ran"
    evil = root / "evil.pkl"
    joblib.dump(Evil(marker), evil)
    csv = root / "data" / "feats" / "song_01.csv"
    out = root / "p.json"
    refused = f"refusing to load {os.system.__module__}.system"
    line = error_line(script(world, "predict_emotion.py", "-i", csv, "-o", out, "-m", evil))
    assert refused in line and str(evil) in line
    lone = root / "lone"
    lone.mkdir()
    shutil.copy(world["pretrained"] / "classifier_sgd.it_0.pkl", lone / "m.pkl")
    shutil.copy(evil, lone / committees.SCALER_FILE)
    line = error_line(script(world, "predict_emotion.py", "-i", csv, "-o", out, "-m", lone / "m.pkl"))
    assert refused in line and committees.SCALER_FILE in line
    script(world, "create_user.py", "-i", "v", check=True)
    planted = world["user"] / "v" / "classifier_sgd.it_9.pkl"
    shutil.copy(evil, planted)
    line = error_line(script(world, "predict_emotion.py", "-i", csv, "-o", out, "-u", "v"))
    assert refused in line and str(planted) in line
    assert refused in error_line(script(world, "get_hard_tracks.py", "-i", "v", "-q", "2"))
    assert not marker.exists() and not out.exists()


def test_user_id_with_trailing_newline_is_refused(world: dict) -> None:
    assert "invalid user id" in error_line(script(world, "create_user.py", "-i", "a\n"))
    assert not world["user"].exists() or not any(world["user"].iterdir())


def test_forged_pool_index_naming_a_file_outside_the_cache_is_not_followed(world: dict) -> None:
    script(world, "create_user.py", "-i", "f", check=True)
    query(world, "f", 2)
    victim = world["root"] / "victim.txt"
    victim.write_text("not a segment")
    index_path = world["root"] / "data" / "pool_cache" / "pool.index"
    index = json.loads(index_path.read_bytes().partition(b"\n")[2])
    stat = victim.stat()
    index["segments"][0] = {"name": "../../victim.txt",
                            "file": [stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]}
    body = json.dumps(index, separators=(",", ":")).encode()
    index_path.write_bytes(hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
    assert len(query(world, "f", 2, "--requery")) == 2
    assert victim.read_text() == "not a segment"
    assert "../../victim.txt" not in index_path.read_text()


def test_symlinked_history_is_refused_and_the_private_file_untouched(world: dict) -> None:
    script(world, "create_user.py", "-i", "s", "--update-rule", "original", check=True)
    songs = query(world, "s", 3)
    folder = world["user"] / "s"
    secret = world["root"] / "secret.txt"
    secret.write_text('{"labels": {}, "secret": "hunter2"}\n')  # reads as an empty answered batch
    secret.chmod(0o600)
    (folder / "annotations.jsonl").symlink_to(secret)
    before, pending = file_hashes(folder), state(world, "s")
    refused = script(world, "retrain_model.py", "-i", "s", "-a", answer(world, songs), "--rounds", "2")
    assert "annotations.jsonl" in error_line(refused)
    assert "hunter2" in secret.read_text() and (secret.stat().st_mode & 0o777) == 0o600
    assert file_hashes(folder) == before and state(world, "s") == pending
    assert not any(b"hunter2" in path.read_bytes() for path in folder.rglob("*")
                   if path.is_file() and not path.is_symlink())


def test_symlinked_lock_and_files_are_refused_and_their_targets_untouched(world: dict) -> None:
    script(world, "create_user.py", "-i", "l", check=True)
    folder = world["user"] / "l"
    (folder / ".lock").unlink(missing_ok=True)
    target = world["root"] / "elsewhere.lock"
    (folder / ".lock").symlink_to(target)
    assert ".lock" in error_line(script(world, "get_hard_tracks.py", "-i", "l", "-q", 2))
    assert not target.exists() and state(world, "l")["pending"] is False
    (folder / ".lock").unlink()
    outside = world["root"] / "outside"
    outside.mkdir()
    names = ["pool_data.json", "manifest.json", "scaler.pkl", committees.member_paths(folder)[0].name]
    for name in names:
        before = file_hashes(folder)
        (folder / name).rename(outside / name)
        (folder / name).symlink_to(outside / name)
        assert name in error_line(script(world, "get_hard_tracks.py", "-i", "l", "-q", 2)), name
        assert file_hashes(folder) == before
        (folder / name).unlink()
        (outside / name).rename(folder / name)
    assert state(world, "l")["pending"] is False


def test_slow_steps_report_progress_as_lines_when_stderr_is_not_a_terminal(world: dict) -> None:
    """Piped stderr (a log) gets plain progress lines, not a terminal's carriage-return redraws;
    TPL_PROGRESS_SECONDS (default 5 s) is lowered so that these small steps count as slow."""
    world["env"]["TPL_PROGRESS_SECONDS"] = "0.001"
    script(world, "create_user.py", "-i", "p", "--update-rule", "original", check=True)
    first = script(world, "get_hard_tracks.py", "-i", "p", "-q", 3, check=True)
    retrain = script(world, "retrain_model.py", "-i", "p", "-a", answer(world, printed_songs(first)),
                     check=True)
    n_members = len(list(world["pretrained"].glob("classifier_*.pkl")))
    for result, last in [(first, "storing the pool: 100%"), (retrain, "learning: 100%")]:
        assert "\r" not in result.stderr
        lines = result.stderr.splitlines()
        assert lines and lines[-1].startswith(last), result.stderr
        assert sum(line.startswith(last) for line in lines) == 1, result.stderr  # the end said once
    assert f"{n_members}/{n_members}" in retrain.stderr.splitlines()[-1]
    world["env"]["TPL_PROGRESS_SECONDS"] = "60"  # steps quicker than this print nothing
    second = script(world, "get_hard_tracks.py", "-i", "p", "-q", 3, check=True)
    quiet = script(world, "retrain_model.py", "-i", "p", "-a", answer(world, printed_songs(second)),
                   check=True)
    assert quiet.stderr == ""
