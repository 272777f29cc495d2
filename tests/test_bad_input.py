"""Bad input and a hostile filesystem through the real scripts: a folder where a file goes, JSON
nested too deep, a malformed state, a full disk, a read-only folder. Each is one `error:` line, a
non-zero exit, and every file as it was."""

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import error_line
from tests.signals import tone, write_wav
from tests.test_loop import answer, query, script
from trompa_mer.errors import UserError
from trompa_mer.users import account as user

DEEP = 100_000
"""Nesting depth of the hostile JSON: far beyond Python's recursion limit."""


def snapshot(root: Path) -> dict[str, str]:
    """Every path under `root` (locks aside) → sha256 of its bytes, or `folder`."""
    def digest(path: Path) -> str:
        return "folder" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return {str(path.relative_to(root)): digest(path)
            for path in sorted(root.rglob("*")) if path.name != ".lock"}


def pending_user(world: dict, user: str = "u", *create: str) -> list[str]:
    """A user with a query of three songs waiting for answers; returns those songs."""
    script(world, "create_user.py", "-i", user, *create, check=True)
    return query(world, user, 3)


def test_a_folder_where_a_file_goes_is_one_error_line(world: dict) -> None:
    songs = pending_user(world)
    home, cache = world["user"] / "u", world["root"] / "data" / "pool_cache"
    answers = answer(world, songs)
    folder_answers = world["root"] / "dir.json"
    folder_answers.mkdir()
    originals = world["root"] / "originals"
    for path, named in [(folder_answers, "dir.json"), (home / "pool_data.json", "pool_data.json"),
                        (home / "annotations.jsonl", "annotations.jsonl"),
                        (cache / "pool.index", "pool.index"), (next(cache.glob("seg-*.f32")), "seg-")]:
        kept = originals / path.name
        if path.exists() and path != folder_answers:
            kept.parent.mkdir(exist_ok=True)
            path.rename(kept)
        path.mkdir(exist_ok=True)
        (path / "inside").write_text("a folder where a file goes")
        before = snapshot(world["root"])
        given = folder_answers if path == folder_answers else answers
        line = error_line(script(world, "retrain_model.py", "-i", "u", "-a", given))
        assert named in line, line
        assert snapshot(world["root"]) == before
        if path != folder_answers:
            shutil.rmtree(path)
        if kept.exists():
            kept.rename(path)


def test_a_folder_as_the_output_file_is_refused_before_any_work(world: dict) -> None:
    root = world["root"]
    wav = write_wav(root / "a.wav", tone(440, 2.0))
    (root / "out.csv").mkdir()
    before = snapshot(root)
    line = error_line(script(world, "extract_features.py", "-i", wav, "-o", root / "out.csv"))
    assert "out.csv" in line and "folder" in line
    assert snapshot(root) == before


def test_a_folder_in_place_of_one_prediction_fails_that_one_only(world: dict) -> None:
    root = world["root"]
    out = root / "predictions"
    (out / "song_01.json").mkdir(parents=True)
    result = script(world, "predict_emotion.py", "-i", root / "data" / "feats", "-o", out, "-m", "default")
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 1 and len(errors) == 1 and "song_01.json" in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert len(list(out.glob("*.json"))) == 24 and (out / "song_01.json").is_dir()
    summary = re.search(r"predicted 23 \(Q1 (\d+), Q2 (\d+), Q3 (\d+), Q4 (\d+)\), failed 1", result.stderr)
    assert summary and sum(map(int, summary.groups())) == 23, result.stderr


def deep_json() -> str:
    return "[" * DEEP + "]" * DEEP


def test_json_nested_too_deep_or_a_malformed_state_is_one_error_line(world: dict) -> None:
    songs = pending_user(world)
    home = world["user"] / "u"
    deep = world["root"] / "deep.json"
    deep.write_text(deep_json())
    answers = answer(world, songs)
    good = (home / "pool_data.json").read_text()
    retrain = ["retrain_model.py", "-i", "u", "-a", answers]
    for path, text, named, argv in [
        (None, "", "deep.json", ["retrain_model.py", "-i", "u", "-a", deep]),
        (home / "annotations.jsonl", deep_json() + "\n", "annotations.jsonl, line 1", retrain),
        (home / "pool_data.json", deep_json(), "pool_data.json: JSON nested too deeply", retrain),
        (home / "pool_data.json", "[]", "pool_data.json: not a JSON object", retrain),
        (home / "pool_data.json", json.dumps({**json.loads(good), "queried": {songs[0]: 1}}),
         "pool_data.json: queried is {", ["get_hard_tracks.py", "-i", "u", "-q", "2", "--requery"]),
    ]:
        if path is not None:
            path.write_text(text)
        before = snapshot(world["root"])
        line = error_line(script(world, *argv))
        assert named in line, line
        assert snapshot(world["root"]) == before
    (home / "annotations.jsonl").unlink()
    (home / "pool_data.json").write_text(good)
    index = world["root"] / "data" / "pool_cache" / "pool.index"
    body = deep_json().encode()
    index.write_bytes(hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
    assert len(query(world, "u", 2, "--requery")) == 2  # an index is a cache: distrusted, rebuilt
    assert json.loads(index.read_bytes().partition(b"\n")[2])["version"] == 1


@pytest.mark.parametrize(("field", "value", "message"), [
    ("iteration", "3", "iteration is '3': input should be a valid integer"),
    ("iteration", True, "iteration is True: input should be a valid integer"),
    ("iteration", -1, "iteration is -1: input should be greater than or equal to 0"),
    ("queried", ["song_00", 2], "queried is ['song_00', 2]: input should be a valid string, at item 1"),
    ("next_pool", "song_00", "next_pool is 'song_00': input should be a valid list"),
    ("pending", "yes", "pending is 'yes': input should be a valid boolean"),
    ("scores", {"s": "high"}, "scores is {'s': 'high'}: input should be a valid number, at 's'"),
    ("scores", {"s": True}, "scores is {'s': True}: input should be a valid number, at 's'"),
    ("strategy", "zz", "strategy is 'zz': input should be 'mc', 'hc', 'mix' or 'rand'"),
    ("query_strategy", "zz", "query_strategy is 'zz': input should be 'mc', 'hc', 'mix' or 'rand'"),
    ("update_rule", None, "update_rule is None: input should be 'original', 'layer' or 'shift'"),
])
def test_each_field_of_the_state_is_checked(tmp_path: Path, field: str, value: object, message: str) -> None:
    user.write_state(tmp_path, user.UserState(scores={"song_00": 1}))
    assert user.read_state(tmp_path).scores == {"song_00": 1}  # an int is a float
    path = tmp_path / user.STATE_FILE
    path.write_text(json.dumps({**json.loads(path.read_text()), field: value}))
    with pytest.raises(UserError, match=re.escape(f"malformed {path}: {message}")):
        user.read_state(tmp_path)


def test_a_state_written_before_update_rules_and_null_strategies_still_loads(tmp_path: Path) -> None:
    """No update_rule: the user was updated by the original rule; query_strategy "" was no query yet."""
    (tmp_path / user.STATE_FILE).write_text(json.dumps({"iteration": 2, "queried": [], "next_pool": None,
                                                        "pending": False, "answered": ["a", "b"],
                                                        "strategy": "hc", "query_strategy": "",
                                                        "scores": {}, "time": "", "legacy_key": 1}))
    state = user.read_state(tmp_path)
    assert (state.update_rule, state.query_strategy, state.strategy) == ("original", None, "hc")


def mount(*args: object) -> None:
    result = subprocess.run(["mount", *map(str, args)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount here: {result.stderr.strip()}")


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """`folder` read-only for the scripts: a read-only bind mount as root (whom permissions do not
    stop), else the folder's write permission taken away."""
    if os.geteuid() != 0:
        mode = folder.stat().st_mode
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(mode)
        return
    mount("--bind", folder, folder)
    try:
        mount("-o", "remount,bind,ro", folder)
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_read_only_user_folder_is_read_not_written(world: dict) -> None:
    script(world, "create_user.py", "-i", "u", check=True)
    folder, csv = world["user"] / "u", world["root"] / "data" / "feats" / "song_05.csv"
    out = world["root"] / "out.json"
    with read_only(folder):  # a new user: no lock file yet, and none can be made
        script(world, "predict_emotion.py", "-i", csv, "-o", out, "-u", "u", check=True)
    fresh = json.loads(out.read_text())
    songs = query(world, "u", 3)
    before = snapshot(folder)
    with read_only(folder):
        script(world, "predict_emotion.py", "-i", csv, "-o", out, "-u", "u", check=True)
        assert json.loads(out.read_text())["output_probs"] == fresh["output_probs"]
        line = error_line(script(world, "retrain_model.py", "-i", "u", "-a", answer(world, songs)))
        assert str(folder) in line
    assert snapshot(folder) == before
    outputs = world["root"] / "outputs"
    outputs.mkdir()
    with read_only(outputs):  # the message names the output, not the temporary file beside it
        line = error_line(script(world, "predict_emotion.py", "-i", csv, "-o", outputs / "p.json", "-u", "u"))
        assert line.startswith(f"error: {outputs / 'p.json'}: "), line
    assert not any(outputs.iterdir())


def fill(disk: Path) -> None:
    """Write into `disk` until it has no room left."""
    with contextlib.suppress(OSError), open(disk / "filler", "wb") as handle:
        while True:
            handle.write(b"\0" * 4096)
            handle.flush()


@pytest.mark.skipif(os.geteuid() != 0, reason="a small full filesystem (tmpfs) needs root to mount")
def test_a_full_disk_is_one_error_line_and_the_user_as_before(world: dict) -> None:
    disk = world["root"] / "disk"
    disk.mkdir()
    mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", disk)
    try:
        world["env"]["TPL_USERS_DIRECTORY"] = str(disk / "users")
        # no progress lines on a slow, loaded machine: stderr is to hold the one error line
        world["env"]["TPL_PROGRESS_SECONDS"] = "3600"
        songs = pending_user(world, "u", "--update-rule", "original")
        fill(disk)
        before = snapshot(disk / "users")
        line = error_line(script(world, "retrain_model.py", "-i", "u", "-a", answer(world, songs)))
        assert "No space left on device" in line and str(disk / "users" / "u") in line, line
        assert snapshot(disk / "users") == before
    finally:
        subprocess.run(["umount", str(disk)], check=True)
