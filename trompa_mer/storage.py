"""Atomic file writes, per-folder locks and JSON helpers: everything that writes goes through here."""

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from trompa_mer.errors import OutputError

LOCK_NAME = ".lock"
"""File in a folder whose flock serialises commands on that folder."""


def check_output_file(path: Path, suffix: str) -> None:
    """OutputError unless `path` ends in `suffix` (any case) and its folder exists."""
    if path.suffix.lower() != suffix:
        raise OutputError(f"output file must end in {suffix}: {path}")
    if not path.parent.is_dir():
        raise OutputError(f"output folder does not exist: {path.parent}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def staging_folder(parent: Path, prefix: str) -> Iterator[Path]:
    """A new hidden temporary folder in `parent`, to be renamed into place once complete; whatever
    is left of it afterwards (a failure) is removed.

    Unlike a bare mkdtemp (mode 0700) it gets the permissions any new folder would get.
    """
    parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{prefix}.", suffix=".tmp", dir=parent))
    try:
        folder.chmod(0o777 & ~_umask())
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is fsynced and renamed onto `path`.

    On any failure the temporary file is removed and `path` is left as it was.
    """
    target = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would make every output private
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    """Open a temporary file beside `path` for writing; it replaces `path` only if the block succeeds."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as handle:
        yield handle


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write strict JSON (NaN refused) atomically."""
    with atomic_open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, allow_nan=False)
        handle.write("\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; ValueError on malformed content, OSError when missing."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive flock on `folder/.lock` so commands on the same folder never interleave."""
    with open(Path(folder) / LOCK_NAME, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


STAGING_NAME = ".staging"
"""Folder where a transaction's new files wait until they are all written."""
COMMIT_MARK = "COMMITTED"
"""Written last into the staging folder: from then on the transaction must be rolled forward."""


def commit_files(folder: str | os.PathLike, writers: dict[str, Callable[[Path], None]]) -> None:
    """Replace several files of `folder` all at once: each writer writes its file into a staging
    folder, a commit mark follows, then the files are renamed into place.

    Killed before the mark, the folder is as before; killed after it, `recover` finishes the job.
    """
    folder = Path(folder)
    staging = folder / STAGING_NAME
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        for name, write in writers.items():
            write(staging / name)
            with open(staging / name, "rb+") as handle:
                os.fsync(handle.fileno())
        with atomic_open(staging / COMMIT_MARK) as mark:
            mark.write("\n".join(writers))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    recover(folder)


def recover(folder: str | os.PathLike) -> None:
    """Finish a committed transaction left by a killed process, or drop an uncommitted one."""
    staging = Path(folder) / STAGING_NAME
    if not staging.is_dir():
        return
    mark = staging / COMMIT_MARK
    if mark.is_file():
        for name in mark.read_text().splitlines():
            if (staging / name).exists():
                os.replace(staging / name, Path(folder) / name)
    shutil.rmtree(staging, ignore_errors=True)
