"""Atomic file writes, per-folder locks and JSON helpers: everything that writes goes through here."""

import contextlib
import errno
import fcntl
import glob
import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from itertools import takewhile
from pathlib import Path
from typing import IO, Any

from trompa_mer.errors import BusyError, OutputError

LOCK_NAME = ".lock"
"""File in a folder whose flock serialises commands on that folder."""
REPLACED_SUFFIX = ".old"
"""A replaced folder's hidden name while its successor moves in: `.<folder>.<random>.old`."""
TEMPORARY_SUFFIX = ".tmp"
"""Staging folders and files being written: `.<name>.<random>.tmp` beside what they become."""
TEMPORARY_PREFIX = "trompa-"
"""Our entries in the system's temporary folder: `trompa-<kind>.<random>`."""
RANDOM_GLOB = "[a-z0-9_]" * 8
"""The random part tempfile gives a name (8 of a-z 0-9 _): cleaning matches it exactly."""
STALE_SECONDS = 60.0
"""A leftover younger than this is never removed: its creator may not have locked it yet."""


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


def _hold(fd: int) -> None:
    """Lock a new entry we created for as long as `fd` stays open: the kernel drops the lock when
    this process ends however it ends, which is how `is_stale` tells a dead run's leftover."""
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def is_stale(path: Path) -> bool:
    """True for a leftover of a dead run: older than STALE_SECONDS and locked by no live process
    (every temporary entry is locked by its creator while it runs: `_hold`). Only plain files and
    folders are ours: a symlink, a fifo or a device is never opened, let alone removed."""
    try:
        status = path.lstat()
        if not (stat.S_ISREG(status.st_mode) or stat.S_ISDIR(status.st_mode)) \
                or time.time() - status.st_mtime < STALE_SECONDS:
            return False
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def remove_stale(folder: Path, pattern: str) -> list[Path]:
    """Remove the entries of `folder` matching the glob `pattern` that are stale (`is_stale`), and
    return them: what killed runs left, never what a live run is writing."""
    removed = []
    for path in sorted(Path(folder).glob(pattern)):
        if is_stale(path):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def remove_stale_writes(folder: Path, name_glob: str) -> list[Path]:
    """Remove the stale temporaries (`.<name>.<random>.tmp`: `atomic_path`, `build_folder`) of the
    entries of `folder` matching `name_glob` (a glob: escape a plain name with glob.escape)."""
    return remove_stale(folder, f".{name_glob}.{RANDOM_GLOB}{TEMPORARY_SUFFIX}")


def remove_stale_temporaries() -> list[Path]:
    """Remove the stale `trompa-<kind>.<random>…` entries (`temporary_folder`, `temporary_file`) of
    the system's temporary folder."""
    return remove_stale(Path(tempfile.gettempdir()), f"{TEMPORARY_PREFIX}*.{RANDOM_GLOB}*")


@contextlib.contextmanager
def temporary_folder(kind: str) -> Iterator[Path]:
    """A new folder `trompa-<kind>.<random>` in the system's temporary folder, removed after the
    block, and locked during it so that `remove_stale_temporaries` leaves it alone."""
    folder = Path(tempfile.mkdtemp(prefix=f"{TEMPORARY_PREFIX}{kind}."))
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _hold(fd)
        yield folder
    finally:
        os.close(fd)
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def temporary_file(kind: str, suffix: str) -> Iterator[Path]:
    """A new empty file `trompa-<kind>.<random><suffix>` in the system's temporary folder, removed
    after the block and locked during it (see `temporary_folder`)."""
    fd, name = tempfile.mkstemp(prefix=f"{TEMPORARY_PREFIX}{kind}.", suffix=suffix)
    try:
        _hold(fd)
        yield Path(name)
    finally:
        os.close(fd)
        Path(name).unlink(missing_ok=True)


def _replaced_leftovers(dest: Path) -> list[Path]:
    return sorted(dest.parent.glob(f".{glob.escape(dest.name)}.{RANDOM_GLOB}{REPLACED_SUFFIX}"))


def _recover_replaced(dest: Path) -> None:
    """Tidy after a process killed while replacing `dest` (call with the parent's lock held
    exclusively, `_open_parent`): between its two renames the old folder is the only copy and goes
    back into place; after them, the old folder is stale and removed."""
    for old in _replaced_leftovers(dest):
        if not dest.exists():
            try:
                os.replace(old, dest)
            except OSError as exc:
                raise OutputError(f"cannot put {old} back as {dest}: {exc.strerror}") from None
        else:
            shutil.rmtree(old, ignore_errors=True)


def _open_parent(folder: Path) -> int:
    """A descriptor of `folder`'s parent, whose flock guards `folder`: replacing it (`build_folder`)
    holds it exclusively around the two renames, reading it (`reading_folder`) shared."""
    return os.open(folder.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


@contextlib.contextmanager
def reading_folder(folder: str | os.PathLike) -> Iterator[None]:
    """Hold `folder` whole while the block reads it: a replace that a kill interrupted between its
    two renames is undone first (the old folder goes back), and no replace swaps it meanwhile."""
    folder = Path(folder)
    try:
        parent = _open_parent(folder)
    except OSError:  # no parent, or not ours to read: nothing to hold or repair
        parent = None
    if parent is None:
        yield
        return
    try:
        if not folder.exists() and _replaced_leftovers(folder):
            fcntl.flock(parent, fcntl.LOCK_EX)
            _recover_replaced(folder)
        fcntl.flock(parent, fcntl.LOCK_SH)
        yield
    finally:
        os.close(parent)


@contextlib.contextmanager
def build_folder(dest: Path, *, replace: bool = False) -> Iterator[Path]:
    """Yield a new hidden staging folder beside `dest`; when the block succeeds, it is renamed onto
    `dest`, and whatever is left of it after a failure is removed.

    A `dest` that exists (an empty folder aside) is refused with FileExistsError, unless `replace`:
    then the old `dest` is renamed to the hidden `.<dest>.<random>.old`, which is deleted once the
    new folder is in place. Should a kill come between those two renames, the next command that
    reads `dest` (`reading_folder`) or replaces it puts the old folder back. Staging folders that
    killed runs left beside `dest` (`.<dest>.<random>.tmp`) are removed when stale (`is_stale`).
    Unlike a bare mkdtemp (mode 0700) the folder gets the permissions any new folder would get.
    """
    created = list(takewhile(lambda folder: not folder.exists(), (dest.parent, *dest.parent.parents)))
    dest.parent.mkdir(parents=True, exist_ok=True)
    parent = _open_parent(dest)
    try:
        if replace:
            fcntl.flock(parent, fcntl.LOCK_EX)
            _recover_replaced(dest)
            fcntl.flock(parent, fcntl.LOCK_UN)
        elif not is_free(dest):
            raise FileExistsError(dest)
        remove_stale_writes(dest.parent, glob.escape(dest.name))
        with naming(dest):
            staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=TEMPORARY_SUFFIX,
                                            dir=dest.parent))
        held = os.open(staging, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            _hold(held)  # until renamed: `remove_stale` leaves it alone
            staging.chmod(0o777 & ~_umask())
            yield staging
            if is_free(dest):
                os.replace(staging, dest)
            elif not replace:
                raise FileExistsError(dest)
            else:
                old = staging.with_suffix(REPLACED_SUFFIX)
                fcntl.flock(parent, fcntl.LOCK_EX)
                os.replace(dest, old)
                os.replace(staging, dest)
                fcntl.flock(parent, fcntl.LOCK_UN)
                shutil.rmtree(old, ignore_errors=True)
        finally:
            os.close(held)
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        for folder in created:  # innermost first: a failed build leaves no empty folders behind
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    finally:
        os.close(parent)


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
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMPORARY_SUFFIX, dir=target.parent)
    tmp = Path(tmp_name)
    try:
        _hold(fd)  # until renamed: `remove_stale_writes` leaves it alone
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would make every output private
        with naming(target):
            yield tmp
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, target)
    finally:
        os.close(fd)
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
def folder_lock(folder: str | os.PathLike, wait: bool = True, shared: bool = False) -> Iterator[None]:
    """Hold an exclusive flock on `folder/.lock` so commands on the same folder never interleave.
    A `.lock` that is a symlink is refused (OutputError), never followed. Unless `wait`, a lock
    another command holds is a BusyError at once (the service answers 409 rather than queueing).

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
        operation = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        try:
            fcntl.flock(handle.fileno(), operation if wait else operation | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BusyError(f"{folder} is busy: another command is working on it; try again when it is "
                            "done") from None
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
