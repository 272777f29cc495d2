"""Integrity after a crash, through the real scripts: a kill between a committee's two renames, a
lost pool_data.json, leftovers of killed runs, and the shipped committee kept from casual runs.

Kills are real: tests/interrupt.py sends SIGKILL (or SIGSTOP, for a run that must stay alive) to the
script at the chosen step, so what is on disk is exactly what a kill -9 there leaves."""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from tests.committees import make_committee, make_pool, quadrant_windows, write_feature_csv
from tests.conftest import error_line, run_script
from tests.interrupt import run_interrupted, wait_stopped
from tests.signals import convert, progression, write_wav
from tests.test_loop import answer, folder_digest, query
from trompa_mer import storage
from trompa_mer.committee import files as committees

SMALL_RUN = ("-cv", 2, "--recipe", "original", "-m", "gnb")
"""deam_classifier.py's quickest committee: two GaussianNB members."""
LONG_AGO = 2 * storage.STALE_SECONDS
"""How old the leftovers of a killed run are made: old enough to be provably stale."""


@pytest.fixture
def world(tmp_path: Path) -> dict:
    """models/pretrained (the shipped committee's place), a pool, a labelled corpus for
    deam_classifier.py, and the environment pointing the scripts at them."""
    pretrained = tmp_path / "models" / "pretrained"
    make_committee(pretrained, kinds=("sgd",), folds=2)
    truth = make_pool(tmp_path / "data" / "feats", n_songs=12, n_windows=4)
    labels = tmp_path / "labels.csv"
    labels.write_text("song_id,quadrant\n" + "".join(f"{song},{q}\n" for song, q in truth.items()))
    env = {"TPL_INTERNAL_DATA_DIRECTORY": str(tmp_path), "TPL_MODELS_DIRECTORY": str(tmp_path / "models"),
           "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp_path)}
    return {"root": tmp_path, "env": env, "truth": truth, "pretrained": pretrained,
            "corpus": ("--labels", labels, "--feats", tmp_path / "data" / "feats"),
            "user": tmp_path / "models" / "users"}


def script(world: dict, name: str, *args: object, check: bool = False) -> subprocess.CompletedProcess:
    return run_script(name, *args, env=world["env"], check=check)


def killed(world: dict, step: str, text: object, name: str, *args: object) -> None:
    """Run a script, SIGKILLed at `step`; assert it died of it."""
    process = run_interrupted("kill", step, text, name, *args, env=world["env"])
    _, stderr = process.communicate()
    assert process.returncode == -signal.SIGKILL, stderr


def long_ago(*paths: Path) -> None:
    then = time.time() - LONG_AGO
    for path in paths:
        os.utime(path, (then, then))


def song_csv(world: dict) -> Path:
    return write_feature_csv(world["root"] / "song.csv", quadrant_windows(0, 6, np.random.default_rng(3)))


# --- 6: a kill between a committee's two renames ----------------------------------------------------


@pytest.mark.parametrize("first", ["create_user", "predict_default"])
def test_a_pretraining_killed_between_its_renames_leaves_the_old_committee_to_every_command(
        world: dict, first: str) -> None:
    pretrained = world["pretrained"]
    before = folder_digest(pretrained)
    killed(world, "rename", pretrained, "deam_classifier.py", *world["corpus"], *SMALL_RUN,
           "--replace-pretrained")
    assert not pretrained.exists()
    aside = list(pretrained.parent.glob(".pretrained.*.old"))
    assert len(aside) == 1 and folder_digest(aside[0]) == before  # the state the kill leaves

    out = world["root"] / "song.json"
    commands = {"create_user": ("create_user.py", "-i", "after"),
                "predict_default": ("predict_emotion.py", "-i", song_csv(world), "-o", out, "-m", "default")}
    script(world, *commands[first], check=True)
    assert folder_digest(pretrained) == before
    assert not list(pretrained.parent.glob(".pretrained.*.old"))
    for name, *args in (command for key, command in commands.items() if key != first):
        script(world, name, *args, check=True)
    assert sorted(p.name for p in committees.member_paths(world["user"] / "after")) == \
        sorted(p.name for p in committees.member_paths(pretrained))


def legacy_committee(world: dict, shared: Path) -> Path:
    """A folder holding one member of the original tool's pretrained committee, to import."""
    src = world["root"] / "legacy"
    src.mkdir()
    shutil.copyfile(shared / "data" / "legacy-models" / "pretrained" / "classifier_gnb.it_0.pkl",
                    src / "classifier_gnb.it_0.pkl")
    return src


def test_an_import_killed_between_its_renames_leaves_the_old_committee(world: dict, shared: Path) -> None:
    pretrained = world["pretrained"]
    before = folder_digest(pretrained)
    src = legacy_committee(world, shared)
    killed(world, "rename", pretrained, "import_legacy.py", src, "--pretrained")
    assert not pretrained.exists()
    script(world, "create_user.py", "-i", "after", check=True)
    assert folder_digest(pretrained) == before
    assert folder_digest(world["user"] / "after") != before  # the user has the committee's members
    assert {p.name for p in committees.member_paths(world["user"] / "after")} == \
        {p.name for p in committees.member_paths(pretrained)}


# --- 7: a lost pool_data.json ---------------------------------------------------------------------------


def test_a_deleted_state_is_refused_rather_than_restarted(world: dict) -> None:
    script(world, "create_user.py", "-i", "u", check=True)
    script(world, "retrain_model.py", "-i", "u", "-a", answer(world, query(world, "u", 2)), check=True)
    folder = world["user"] / "u"
    (folder / "pool_data.json").unlink()
    before = folder_digest(folder)
    for name, *args in (("get_hard_tracks.py", "-i", "u", "-q", 2),
                        ("retrain_model.py", "-i", "u", "-a", answer(world, ["song_00"]))):
        line = error_line(script(world, name, *args))
        assert str(folder / "pool_data.json") in line and "restore it from a backup" in line
        assert folder_digest(folder) == before and not (folder / "pool_data.json").exists()


# --- 8: leftovers of killed runs ------------------------------------------------------------------------


def assert_only_stale_removed(leftovers: list[Path], held: list[Path]) -> None:
    assert [p for p in leftovers if p.exists()] == []
    assert all(p.exists() for p in held)


def finish(live: subprocess.Popen) -> None:
    """Let a stopped run go on: it must end well, its files having been left alone."""
    live.send_signal(signal.SIGCONT)
    _, stderr = live.communicate()
    assert live.returncode == 0, stderr


def test_leftovers_of_killed_pretrainings_go_and_a_live_runs_staging_stays(world: dict) -> None:
    out = world["root"] / "models" / "deam"
    run = ("deam_classifier.py", *world["corpus"], *SMALL_RUN, "-o", out)
    script(world, *run, check=True)
    live = run_interrupted("stop", "write", "metrics.json", *run, env=world["env"])
    try:
        wait_stopped(live)
        held = list(out.parent.glob(".deam.*.tmp"))
        assert len(held) == 1
        killed(world, "rename", out, *run)
        killed(world, "rename", world["user"] / "k", "create_user.py", "-i", "k")
        leftovers = [p for p in [*out.parent.glob(".deam.*"), *world["user"].glob(".k.*.tmp")]
                     if p not in held]
        assert len(leftovers) == 3  # deam's staging and old committee, create_user's staging
        long_ago(*leftovers, *held)
        script(world, *run, check=True)
        script(world, "create_user.py", "-i", "k", check=True)
        assert_only_stale_removed(leftovers, held)
    finally:
        finish(live)
    assert sorted(p.name for p in out.parent.iterdir()) == ["deam", "pretrained", "users"]
    assert sorted(p.name for p in world["user"].iterdir()) == ["k"]


def test_leftovers_of_killed_extractions_go_and_a_live_runs_stay(world: dict) -> None:
    temporary = world["root"]  # TMPDIR
    mp3 = convert(write_wav(temporary / "song.wav", progression(1.0)), temporary / "song.mp3")
    feats = temporary / "feats"
    feats.mkdir()
    run = ("extract_features.py", "-i", mp3, "-o", feats / "song.csv")
    killed(world, "program", "trompa-lld.", *run)  # converted wav and openSMILE's folder left
    killed(world, "rename", feats / "song.csv", *run)  # the CSV's temporary file left
    leftovers = [*temporary.glob("trompa-*"), *feats.glob(".song.csv.*.tmp")]
    assert sorted(p.name.split(".")[0] for p in leftovers) == ["", "trompa-lld", "trompa-wav"]
    long_ago(*leftovers)

    live = run_interrupted("stop", "program", "trompa-lld.", "extract_features.py", "-i", mp3, "-o",
                           feats / "live.csv", env=world["env"])
    try:
        wait_stopped(live)
        held = [p for p in temporary.glob("trompa-*") if p not in leftovers]
        assert len(held) == 2
        long_ago(*held)
        script(world, *run, check=True)
        assert_only_stale_removed(leftovers, held)
    finally:
        finish(live)
    assert list(temporary.glob("trompa-*")) == []
    assert sorted(p.name for p in feats.iterdir()) == ["live.csv", "song.csv"]


def test_half_written_files_of_killed_queries_and_predictions_go(world: dict) -> None:
    script(world, "create_user.py", "-i", "q", check=True)
    state = world["user"] / "q" / "pool_data.json"
    killed(world, "rename", state, "get_hard_tracks.py", "-i", "q", "-q", 2)
    out = world["root"] / "song.json"
    predict = ("predict_emotion.py", "-i", song_csv(world), "-o", out, "-m", "default")
    killed(world, "rename", out, *predict)
    leftovers = [*state.parent.glob(".pool_data.json.*.tmp"), *out.parent.glob(".song.json.*.tmp")]
    assert len(leftovers) == 2
    long_ago(*leftovers)
    assert query(world, "q", 2)
    script(world, *predict, check=True)
    assert [p for p in leftovers if p.exists()] == []


# --- 18: the shipped committee is safe from a casual run, and an import can be undone -------------------


def test_pretraining_never_replaces_the_pretrained_committee_without_asking(world: dict) -> None:
    pretrained = world["pretrained"]
    before = folder_digest(pretrained)
    result = script(world, "deam_classifier.py", *world["corpus"], *SMALL_RUN, check=True)
    deam = world["root"] / "models" / "deam"
    assert f"to {deam}" in result.stdout
    assert [p.name for p in committees.member_paths(deam)] == ["classifier_gnb.it_0.pkl",
                                                               "classifier_gnb.it_1.pkl"]
    assert folder_digest(pretrained) == before
    refused = script(world, "deam_classifier.py", *world["corpus"], *SMALL_RUN, "-o", pretrained)
    assert "--replace-pretrained" in error_line(refused) and folder_digest(pretrained) == before
    script(world, "deam_classifier.py", *world["corpus"], *SMALL_RUN, "--replace-pretrained", check=True)
    assert [p.name for p in committees.member_paths(pretrained)] == ["classifier_gnb.it_0.pkl",
                                                                     "classifier_gnb.it_1.pkl"]


def test_an_imported_pretrained_committee_can_be_undone(world: dict, shared: Path) -> None:
    pretrained = world["pretrained"]
    before = folder_digest(pretrained)
    src = legacy_committee(world, shared)
    imported = script(world, "import_legacy.py", src, "--pretrained", check=True)
    assert "--undo-pretrained" in imported.stdout
    assert [p.name for p in committees.member_paths(pretrained)] == ["classifier_gnb.it_0.pkl"]
    undone = script(world, "import_legacy.py", "--undo-pretrained", check=True)
    assert f"restored {pretrained}" in undone.stdout
    assert folder_digest(pretrained) == before
    assert sorted(p.name for p in pretrained.parent.iterdir()) == ["pretrained"]
    assert "nothing to restore" in error_line(script(world, "import_legacy.py", "--undo-pretrained"))

    script(world, "import_legacy.py", src, "--pretrained", check=True)
    script(world, "deam_classifier.py", *world["corpus"], *SMALL_RUN, "--replace-pretrained", check=True)
    trained = folder_digest(pretrained)
    assert "was not installed by import_legacy.py" in error_line(
        script(world, "import_legacy.py", "--undo-pretrained"))
    assert folder_digest(pretrained) == trained
