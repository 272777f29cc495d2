"""storage.build_folder: a folder appears whole or not at all, and a killed replace is tidied."""

import os
import tempfile
import time
from pathlib import Path

import pytest

from trompa_mer import storage
from trompa_mer.errors import OutputError


def _folder(path: Path, text: str) -> Path:
    path.mkdir()
    (path / "member").write_text(text)
    return path


def test_a_new_folder_appears_only_when_its_block_succeeds(tmp_path: Path) -> None:
    dest = tmp_path / "committee"
    with pytest.raises(RuntimeError), storage.build_folder(dest) as staging:
        (staging / "member").write_text("half")
        raise RuntimeError("killed halfway")
    assert list(tmp_path.iterdir()) == []
    with storage.build_folder(dest) as staging:
        (staging / "member").write_text("whole")
    assert (dest / "member").read_text() == "whole"
    assert [p.name for p in tmp_path.iterdir()] == ["committee"]


def test_an_existing_folder_is_refused_unless_replaced(tmp_path: Path) -> None:
    dest = _folder(tmp_path / "committee", "old")
    with pytest.raises(FileExistsError), storage.build_folder(dest):
        pass
    with storage.build_folder(dest, replace=True) as staging:
        (staging / "member").write_text("new")
    assert (dest / "member").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["committee"]


def test_a_reader_puts_back_the_folder_a_kill_left_aside(tmp_path: Path) -> None:
    """The state a kill leaves between a replace's two renames: only `.committee.<random>.old`."""
    _folder(tmp_path / ".committee.k1ll3d00.old", "old")
    with storage.reading_folder(tmp_path / "committee"):
        assert (tmp_path / "committee" / "member").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["committee"]


def test_only_unlocked_leftovers_older_than_the_bound_are_removed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temporary"))
    (tmp_path / "temporary").mkdir()
    old = time.time() - 2 * storage.STALE_SECONDS
    with storage.build_folder(tmp_path / "committee") as live:
        dead = _folder(tmp_path / ".committee.d3ad0000.tmp", "a killed run's")
        fresh = _folder(tmp_path / ".committee.fr35h000.tmp", "maybe not locked yet")
        for path in (dead, live):
            os.utime(path, (old, old))
        assert storage.remove_stale_writes(tmp_path, "committee") == [dead]
        assert live.is_dir() and fresh.is_dir() and not dead.exists()
    with storage.temporary_folder("lld") as temporary:
        os.utime(temporary, (old, old))
        dead = _folder(tmp_path / "temporary" / "trompa-lld.d3ad0000", "a killed run's")
        os.utime(dead, (old, old))
        assert storage.remove_stale_temporaries() == [dead] and temporary.is_dir()


def test_a_replace_killed_between_its_renames_gets_the_old_folder_back(tmp_path: Path) -> None:
    """The state a kill leaves after `dest` was moved aside and before the new folder moved in."""
    _folder(tmp_path / ".committee.k1ll3d00.old", "old")
    with pytest.raises(RuntimeError), storage.build_folder(tmp_path / "committee", replace=True):
        raise RuntimeError("this run fails too")
    assert (tmp_path / "committee" / "member").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["committee"]


def test_a_replace_killed_after_its_renames_leaves_nothing_stale(tmp_path: Path) -> None:
    _folder(tmp_path / ".committee.k1ll3d00.old", "older")
    _folder(tmp_path / "committee", "old")
    with storage.build_folder(tmp_path / "committee", replace=True) as staging:
        (staging / "member").write_text("new")
    assert [p.name for p in tmp_path.iterdir()] == ["committee"]
    assert (tmp_path / "committee" / "member").read_text() == "new"


def test_recover_refuses_a_commit_mark_naming_a_path_outside_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "users" / "u"
    staging = folder / storage.STAGING_NAME
    staging.mkdir(parents=True)
    victim = tmp_path / "users" / "victim.txt"
    victim.write_text("victim")
    (staging / storage.COMMIT_MARK).write_text("../../victim.txt")
    with pytest.raises(OutputError, match=r"victim\.txt"):
        storage.recover(folder)
    assert victim.read_text() == "victim" and not (tmp_path / "victim.txt").exists()
