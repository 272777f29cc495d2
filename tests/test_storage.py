"""storage.build_folder: a folder appears whole or not at all, and a killed replace is tidied."""

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


def test_a_replace_can_keep_the_old_folder(tmp_path: Path) -> None:
    dest = _folder(tmp_path / "committee", "old")
    with storage.build_folder(dest, replace=True, keep_old=tmp_path / "kept") as staging:
        (staging / "member").write_text("new")
    assert (tmp_path / "kept" / "member").read_text() == "old"
    assert (dest / "member").read_text() == "new"


def test_a_replace_killed_between_its_renames_gets_the_old_folder_back(tmp_path: Path) -> None:
    """The state a kill leaves after `dest` was moved aside and before the new folder moved in."""
    _folder(tmp_path / ".committee.k1ll3d.old", "old")
    with pytest.raises(RuntimeError), storage.build_folder(tmp_path / "committee", replace=True):
        raise RuntimeError("this run fails too")
    assert (tmp_path / "committee" / "member").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["committee"]


def test_a_replace_killed_after_its_renames_leaves_nothing_stale(tmp_path: Path) -> None:
    _folder(tmp_path / ".committee.k1ll3d.old", "older")
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
