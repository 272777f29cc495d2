"""Atomic file writes, per-folder locks and JSON helpers: everything that writes goes through here."""

import contextlib
import errno
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
REPLACED_SUFFIX = ".old"
"""A replaced folder's hidden name while its successor moves in: `.<folder>.<random>.old`."""


def check_output_file(path: Path, suffix: str) -> None:
    """OutputError unless `path` ends in `suffix` (any case), is not a folder, and its folder exists."""
    if path.suffix.lower() != suffix:
        raise OutputError(f"output file must end in {suffix}: {path}")
    if path.is_dir():
        raise OutputError(f"the output file {path} is a folder: name a file")
    if not path.parent.is_dir():
        raise OutputError(f"output folder does not exist: {path.parent}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def is_free(folder: Path) -> bool:
    """True when `folder` does not exist or is an empty folder (which a rename replaces)."""
    return not folder.exists() or (folder.is_dir() and not any(folder.iterdir()))


def _replaced_leftovers(dest: Path) -> list[Path]:
    return sorted(dest.parent.glob(f".{dest.name}.*{REPLACED_SUFFIX}"))


def _recover_replaced(dest: Path) -> None:
    """Tidy after a process killed while replacing `dest`: between its two renames the old folder
    is the only copy and goes back into place; after them, the old folder is stale and removed."""
    for old in _replaced_leftovers(dest):
        if not dest.exists():
            os.replace(old, dest)
        else:
            shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def build_folder(dest: Path, *, replace: bool = False, keep_old: Path | None = None) -> Iterator[Path]:
    """Yield a new hidden staging folder beside `dest`; when the block succeeds, it is renamed onto
    `dest`, and whatever is left of it after a failure is removed.

    A `dest` that exists (an empty folder aside) is refused with FileExistsError, unless `replace`:
    then the old `dest` is renamed to `keep_old`, or to the hidden `.<dest>.<random>.old`, which is
    deleted once the new folder is in place (and by the next replace, should a kill leave it).
    Unlike a bare mkdtemp (mode 0700) the folder gets the permissions any new folder would get.
    """
    if replace:
        _recover_replaced(dest)
    elif not is_free(dest):
        raise FileExistsError(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with naming(dest):
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        staging.chmod(0o777 & ~_umask())
        yield staging
        if is_free(dest):
            os.replace(staging, dest)
        elif not replace:
            raise FileExistsError(dest)
        else:
            old = keep_old or staging.with_suffix(REPLACED_SUFFIX)
            os.replace(dest, old)
            os.replace(staging, dest)
            if keep_old is None:
                shutil.rmtree(old)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def naming(path: Path, *stand_ins: Path) -> Iterator[None]:
    """Make an OSError raised inside name `path` when it names no file (a failed write or flush:
    a full disk) or only a file standing in for `path` (one of `stand_ins`, or a temporary file
    `.<name>.*` beside it), so that its message says which file could not be written."""
    try:
        yield
    except OSError as exc:
        named = None if exc.filename is None else Path(os.fsdecode(exc.filename))
        if named is None or named in stand_ins \
                or (named.parent == path.parent and named.name.startswith(f".{path.name}.")):
            exc.filename, exc.filename2 = str(path), None
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is fsynced and renamed onto `path`.

    On any failure the temporary file is removed and `path` is left as it was; an OSError names
    `path`, not the temporary file.
    """
    target = Path(path)
    with naming(target):
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would make every output private
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with naming(target):
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


def parse_json(text: str | bytes) -> Any:
    """json.loads, but JSON nested too deep for Python's recursion limit is a ValueError too."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; ValueError on malformed content (undecodable or nested too deeply), OSError
    when missing or unreadable."""
    with open(path, encoding="utf-8") as handle:
        return parse_json(handle.read())


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, shared: bool = False) -> Iterator[None]:
    """Hold an exclusive flock on `folder/.lock` so commands on the same folder never interleave.
    A `.lock` that is a symlink is refused (OutputError), never followed.

    `shared`: a reader's lock, which many readers hold at once; it opens `.lock` read-only, so a
    folder the reader may not write can be read. A writer creates `.lock` before it writes, so when
    there is none and the reader may not create it, there is no writer to wait for: it reads unlocked.
    """
    path = Path(folder) / LOCK_NAME
    mode = os.O_RDONLY if shared else os.O_WRONLY | os.O_APPEND
    try:
        fd = os.open(path, mode | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OutputError(f"refusing to follow the symlink {path}") from None
        if not (shared and exc.errno in (errno.EROFS, errno.EACCES) and not os.path.lexists(path)):
            raise
        fd = None
    if fd is None:
        yield
        return
    with open(fd, "rb" if shared else "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
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
            with naming(folder / name, staging / name):
                write(staging / name)
                with open(staging / name, "rb+") as handle:
                    os.fsync(handle.fileno())
        with atomic_open(staging / COMMIT_MARK) as mark:
            mark.write("\n".join(writers))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    recover(folder)


def committed(folder: str | os.PathLike) -> bool:
    """True when a killed process left a committed transaction in `folder` for `recover` to finish:
    until then the folder's files are part old, part new."""
    mark = Path(folder) / STAGING_NAME / COMMIT_MARK
    return mark.is_file() and not mark.is_symlink()


def recover(folder: str | os.PathLike) -> None:
    """Finish a committed transaction left by a killed process, or drop an uncommitted one; a commit
    mark naming anything but a plain file name of `folder` is refused (OutputError)."""
    staging = Path(folder) / STAGING_NAME
    if not staging.is_dir():
        return
    mark = staging / COMMIT_MARK
    if committed(folder):
        for name in mark.read_text().splitlines():
            if name in ("", ".", "..") or Path(name).name != name:
                raise OutputError(f"{mark} names {name!r}, not a file of {folder}")
            if (staging / name).exists():
                os.replace(staging / name, Path(folder) / name)
    shutil.rmtree(staging, ignore_errors=True)
