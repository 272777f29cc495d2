"""Every user's answers counted per song, kept up to date for the whole users folder: the crowd member.

`.crowd_counts.json` in the users folder holds, per song, how many of all users' answers fall in each
quadrant, and per user the signature (size, mtime, inode) of the `annotations.jsonl` it counted. A
retrain adds its batch (`add_batch`) and a deleted user's answers are taken away (`remove_user`),
each under the counts' own lock (`<users>/.lock`) after the user's files are committed. A reader
(`read_counts`) lists the users folder (names only) and counts everything again when a user it
counted has gone (a folder deleted by hand), a user it did not count has answers, or the reading
user's own history is not the one counted (their retrain was killed between its commit and the
count, or their history was restored from a backup): what a request pays is one listing and a few
stats, never one stat per user. A user's answers are their last per song, as `account.read_answers`
reads them.

`other_answers` is what a user's predictions read, once per call: these counts minus the user's own
answers, plus a crowd file's (TPL_CROWD_ANNOTATIONS), the user's rows left out. A process parses a
counts file once per content (`_read_counted`, by its digest): the service's requests then pay the
file's read and the listing, not its parse.
"""

import contextlib
import errno
import glob
import hashlib
import json
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

from trompa_mer import storage
from trompa_mer.errors import UserError
from trompa_mer.learning.crowd import read_crowd
from trompa_mer.learning.personal import OtherAnswers
from trompa_mer.names import N_CLASSES
from trompa_mer.users import account

COUNTS_FILE = ".crowd_counts.json"
"""In the users folder: songs → quadrant counts of every user's answers, users → what was counted."""


def user_ids(users_dir: Path) -> set[str]:
    """Every entry of `users_dir` named as a user id (not `.deleted-…`, nor the counts' own files):
    names only, no stat, so that listing 10,000 users stays cheap."""
    if not users_dir.is_dir():
        return set()
    return {name for name in os.listdir(users_dir) if account.USER_ID_PATTERN.fullmatch(name)}


def _add(songs: dict[str, list[int]], answers: dict[str, int], sign: int) -> None:
    for song, quadrant in answers.items():
        row = songs.setdefault(song, [0] * N_CLASSES)
        row[quadrant] += sign
        if not any(row):
            del songs[song]


def count_all(users_dir: Path) -> dict:
    """The counts document, counted from every user's history."""
    songs: dict[str, list[int]] = {}
    users: dict[str, account.HistorySignature] = {}
    for user_id in sorted(user_ids(users_dir)):
        users[user_id] = account.history_signature(users_dir / user_id)
        try:
            _add(songs, account.read_answers(users_dir / user_id), +1)
        except UserError:  # a history this tool cannot read counts for nothing; its own commands say why
            continue
    return {"songs": songs, "users": users}


def _document(raw: bytes) -> dict | None:
    """The counts document in `raw`, None unless it is one."""
    try:
        document = storage.parse_json(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(document, dict) or not isinstance(document.get("songs"), dict) \
            or not isinstance(document.get("users"), dict):
        return None
    return document


def _read_document(users_dir: Path) -> dict | None:
    """The counts file's document, parsed anew: what a writer changes."""
    try:
        return _document((users_dir / COUNTS_FILE).read_bytes())
    except OSError:
        return None


@dataclass(frozen=True)
class Counted:
    """A counts document and its songs' counts as arrays: `index` song → row of `counts` (n_songs, 4),
    both read only."""

    document: dict
    index: Mapping[str, int]
    counts: np.ndarray

    @classmethod
    def of(cls, document: dict) -> "Counted":
        songs = document["songs"]
        counts = np.array(list(songs.values()), dtype=np.float64).reshape(-1, N_CLASSES)
        counts.flags.writeable = False
        return cls(document, MappingProxyType({song: i for i, song in enumerate(songs)}), counts)


_parsed: dict[Path, tuple[bytes, Counted]] = {}
"""The counts file last parsed by this process, by its content's digest: a long-running process (the
service) reads the counts on every request, and parsing them costs more than reading them (10,000
users: a 2 MB file, a third of a second)."""
_parsed_lock = threading.Lock()


def _read_counted(users_dir: Path) -> Counted | None:
    """The counts file as `Counted`, parsed only when its content differs from the last parse's."""
    try:
        raw = (users_dir / COUNTS_FILE).read_bytes()
    except OSError:
        return None
    digest = hashlib.blake2b(raw, digest_size=16).digest()
    with _parsed_lock:
        held = _parsed.get(users_dir)
    if held is not None and held[0] == digest:
        return held[1]
    document = _document(raw)
    if document is None:
        return None
    counted = Counted.of(document)
    with _parsed_lock:
        _parsed.clear()  # one users folder per process, as a rule: keep only the last
        _parsed[users_dir] = (digest, counted)
    return counted


READ_ONLY_ERRORS = (errno.EROFS, errno.EACCES, errno.EPERM)
"""Why a users folder may refuse a write: a read-only mount, a folder of someone else's."""


def _write_document(users_dir: Path, document: dict) -> None:
    """Write the counts; a users folder this process may not write (a read-only mount) keeps none."""
    try:
        with storage.atomic_open(users_dir / COUNTS_FILE, encoding="utf-8") as handle:
            json.dump(document, handle, separators=(",", ":"))
    except OSError as exc:
        if exc.errno not in READ_ONLY_ERRORS:
            raise


@contextlib.contextmanager
def _writing(users_dir: Path) -> Iterator[None]:
    """The counts' exclusive lock; without it where the folder is read-only (nothing is written then)."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(storage.folder_lock(users_dir))
        except OSError as exc:
            if exc.errno not in READ_ONLY_ERRORS:
                raise
        else:
            storage.remove_stale_writes(users_dir, glob.escape(COUNTS_FILE))  # what killed writers left
        yield


def _recount(users_dir: Path) -> dict:
    """Count every user's history again and write it down."""
    document = count_all(users_dir)
    _write_document(users_dir, document)
    return document


def _current(users_dir: Path, reader: str | None = None) -> Counted | None:
    """The counts file when it still counts every user's answers, as far as a listing of the users
    folder and the `reader`'s own history tell (see above), else None."""
    found = _read_counted(users_dir)
    if found is None:
        return None
    counted, present = found.document["users"], user_ids(users_dir)
    if not counted.keys() <= present:
        return None
    if any(account.history_signature(users_dir / user) is not None for user in present - counted.keys()):
        return None
    if reader in counted and counted[reader] != account.history_signature(users_dir / reader):
        return None
    return found


def read_counts(users_dir: Path, reader: str | None = None) -> Counted:
    """Every user's answers counted per song, recounted first if the file is stale (`_current`;
    `reader`: the user whose request reads them). Read only: it may be shared with later calls."""
    if not users_dir.is_dir():
        return Counted.of({"songs": {}, "users": {}})
    with storage.folder_lock(users_dir, shared=True):
        counted = _current(users_dir, reader)
    if counted is None:
        with _writing(users_dir):
            counted = _current(users_dir, reader) or Counted.of(_recount(users_dir))
    return counted


def add_batch(users_dir: Path, user_id: str, before: account.HistorySignature, answers_before: dict[str, int],
              answers_after: dict[str, int]) -> None:
    """Count a user's newly committed batch: their answers went from `answers_before` (their history's
    signature then `before`) to `answers_after`. Call after the commit, with the user's lock held."""
    with _writing(users_dir):
        document = _read_document(users_dir)
        now = account.history_signature(users_dir / user_id)
        if document is not None and document["users"].get(user_id) == before:
            _add(document["songs"], answers_before, -1)
            _add(document["songs"], answers_after, +1)
            document["users"][user_id] = now
            _write_document(users_dir, document)
        elif document is None or document["users"].get(user_id) != now:  # else: already counted
            _recount(users_dir)


def remove_user(users_dir: Path, user_id: str, removed: account.Removed) -> None:
    """Take a deleted user's answers (`account.delete_user`'s report) out of the counts."""
    with _writing(users_dir):
        document = _read_document(users_dir)
        if document is None or user_id not in document["users"]:
            return
        if document["users"][user_id] == removed.history and removed.answers is not None:
            _add(document["songs"], removed.answers, -1)
            del document["users"][user_id]
            _write_document(users_dir, document)
        else:
            _recount(users_dir)


def other_answers(users_dir: Path, user_id: str, own: dict[str, int],
                  crowd_file: Path | None = None) -> OtherAnswers:
    """The answers of everyone but `user_id` per song: every other user's (the counts above, less the
    user's `own` answers, as their history holds them) and a crowd file's when `crowd_file` exists,
    its rows of `user_id` left out."""
    counted = read_counts(users_dir, user_id)
    index: Mapping[str, int] = counted.index
    extra = []
    if crowd_file is not None and crowd_file.is_file():
        crowd = read_crowd(crowd_file)
        keep = crowd.user_ids != str(user_id)
        extra = list(zip(crowd.song_ids[keep].tolist(), crowd.quadrants[keep].tolist(), strict=True))
        index = dict(index)
        for song, _ in extra:
            index.setdefault(song, len(index))
    counts = np.zeros((len(index), N_CLASSES))
    counts[:len(counted.counts)] = counted.counts
    for song, quadrant in own.items():
        if song in counted.index:
            counts[index[song], quadrant] -= 1
    if extra:
        rows, quadrants = zip(*((index[song], quadrant) for song, quadrant in extra), strict=True)
        np.add.at(counts, (np.array(rows), np.array(quadrants)), 1.0)
    return OtherAnswers(index, counts)
