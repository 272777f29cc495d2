"""A user's folder: their committee, query state (`pool_data.json`) and annotation history
(`annotations.jsonl`, one answered batch a line). The only module that writes those two files."""

import contextlib
import json
import re
import reprlib
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BeforeValidator,
    Field,
    Strict,
    StrictBool,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
)

from trompa_mer import storage
from trompa_mer.committee import files as committee
from trompa_mer.committee.model import Committee
from trompa_mer.errors import TooManyUsersError, UnknownUserError, UserError, UserExistsError
from trompa_mer.names import (
    DEFAULT_STRATEGY,
    DEFAULT_UPDATE_RULE,
    STRATEGIES,
    UPDATE_ORIGINAL,
    UPDATE_RULES,
    quadrant_index,
    timestamp,
)

USER_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""A user id, matched whole (`fullmatch`: `$` would accept a trailing newline)."""
STATE_FILE = "pool_data.json"
ANNOTATIONS_FILE = "annotations.jsonl"


Strategy = Literal[STRATEGIES]
"""A query strategy's name, as `names.STRATEGIES` lists them."""
Number = Annotated[float, Strict()]
"""A JSON number: an int is a float, a bool or a numeric string is not."""


def _none_for_empty(value: object) -> object:
    """A state written before `query_strategy` could be null said "" for no query yet."""
    return None if value == "" else value


@dataclass
class UserState:
    """What `pool_data.json` holds, each field checked by type when it is read (`read_state`)."""

    iteration: Annotated[StrictInt, Field(ge=0)] = 0
    """Answered batches so far: the next answers are iteration `iteration`'s."""
    queried: list[StrictStr] = field(default_factory=list)
    """The last query's songs, best first; pending while `pending`."""
    next_pool: list[StrictStr] | None = None
    """The pool songs the original tool's last query left, as a legacy state holds them; a query
    leaves it None: the pool is the features folder, and copying it into every user's state cost a
    query O(pool songs)."""
    pending: StrictBool = False
    answered: list[StrictStr] = field(default_factory=list)
    strategy: Strategy = DEFAULT_STRATEGY
    """The user's own query strategy, chosen when they were created: what a query uses unless it asks
    for another."""
    query_strategy: Annotated[Strategy | None, BeforeValidator(_none_for_empty)] = None
    """The strategy that made the last query: `strategy`, or the one that query asked for instead
    (get_hard_tracks.py --strategy, the service's `strategy`); None before the first query."""
    scores: dict[StrictStr, Number] = field(default_factory=dict)
    """The last query's songs → their scores under `query_strategy`."""
    time: StrictStr = ""
    update_rule: Literal[UPDATE_RULES] = UPDATE_ORIGINAL
    """How the user's answers update their committee. Not DEFAULT_UPDATE_RULE (shift), the default of
    a new user, on purpose: a state file without this field was written before rules existed, when
    every user was updated by the original rule, and must go on being so."""

    def asked(self) -> set[str]:
        """Every song queried so far: answered batches and the pending one."""
        return set(self.answered) | (set(self.queried) if self.pending else set())


def check_user_id(user_id: str) -> str:
    """`user_id`, or UserError unless it is 1-64 characters of A-Z a-z 0-9 _ -."""
    if not USER_ID_PATTERN.fullmatch(user_id):
        raise UserError(f"invalid user id {user_id!r}: use 1-64 characters of A-Z a-z 0-9 _ -")
    return user_id


def user_folder(users_dir: Path, user_id: str) -> Path:
    return users_dir / check_user_id(user_id)


def count_users(users_dir: Path) -> int:
    """The user folders in `users_dir` (staging and deleted ones, hidden, are not users)."""
    if not users_dir.is_dir():
        return 0
    return sum(1 for path in users_dir.iterdir() if USER_ID_PATTERN.fullmatch(path.name) and path.is_dir())


@contextlib.contextmanager
def _room_for_one_more(users_dir: Path, max_users: int | None) -> Iterator[None]:
    """Hold `users_dir`'s lock while a user is created, and TooManyUsersError when it holds
    `max_users` already; nothing without a limit."""
    if max_users is None:
        yield
        return
    users_dir.mkdir(parents=True, exist_ok=True)
    with storage.folder_lock(users_dir):
        if count_users(users_dir) >= max_users:
            raise TooManyUsersError(f"there are {max_users} users already, the most allowed")
        yield


def create_user(users_dir: Path, user_id: str, pretrained: Path, strategy: str = DEFAULT_STRATEGY,
                update_rule: str = DEFAULT_UPDATE_RULE, max_users: int | None = None
                ) -> tuple[Path, Committee]:
    """Copy the pretrained committee (members, scaler, manifest) into a new user folder, atomically;
    `strategy` is how their queries are chosen, `update_rule` how their answers update the committee,
    both names the caller checked (argparse choices, the service's request model; `strategies.load_crowd`,
    which both faces call first, refuses a strategy that cannot run here). With `max_users`, a user
    beyond that many is a TooManyUsersError. Returns the user's folder and the committee they start from."""
    folder = user_folder(users_dir, user_id)
    if folder.exists():
        raise UserExistsError(f"user {user_id} already exists: {folder}")
    try:
        with _room_for_one_more(users_dir, max_users), storage.reading_folder(pretrained), \
                storage.build_folder(folder) as staging:
            start = committee.load_committee(pretrained)  # refuse to copy a committee that cannot be used
            for path in [*committee.member_paths(pretrained), pretrained / committee.MANIFEST_FILE,
                         pretrained / committee.SCALER_FILE]:
                if path.is_file():
                    shutil.copy2(path, staging / path.name)
            write_state(staging, UserState(strategy=strategy, time=timestamp(), update_rule=update_rule))
    except FileExistsError:
        raise UserExistsError(f"user {user_id} already exists: {folder}") from None
    return folder, start


@contextlib.contextmanager
def open_user(users_dir: Path, user_id: str, wait: bool = True, read_only: bool = False) -> Iterator[Path]:
    """Lock an existing user's folder for one command, finishing any interrupted update first and
    removing what killed commands left; a symlink in the folder (its `.lock` too) is refused, never
    followed, and so is anything but a plain file (a folder where a file goes). Unless `wait`, a
    folder another command holds is a BusyError at once.

    `read_only`: for a command that only reads the folder, which then needs no write access to it:
    it shares the lock with other readers, and writes only to finish an update a killed process
    committed (whose files are part old, part new until then).
    """
    folder = user_folder(users_dir, user_id)
    if not folder.is_dir():
        raise UnknownUserError(f"unknown user {user_id}: no folder {folder}")
    _refuse_symlink(folder)
    if read_only:
        with storage.folder_lock(folder, wait, shared=True):
            _check_still_there(folder, user_id)
            if not storage.committed(folder):
                _check_entries(folder)
                yield folder
                return
    with storage.folder_lock(folder, wait):
        _check_still_there(folder, user_id)
        _check_entries(folder)
        storage.recover(folder)
        storage.remove_stale_writes(folder, "*")  # files a killed command was writing
        yield folder


HistorySignature = list[int] | None
"""An `annotations.jsonl`'s size, mtime (ns) and inode; None when the user has none: it changes
whenever the history is replaced (`commit_files` renames a new file into place)."""


def history_signature(folder: Path) -> HistorySignature:
    """The signature of a user folder's `annotations.jsonl`."""
    try:
        status = (folder / ANNOTATIONS_FILE).stat()
    except FileNotFoundError:
        return None
    return [status.st_size, status.st_mtime_ns, status.st_ino]


@dataclass(frozen=True)
class Removed:
    """What a deleted user had answered: their history's signature then, and the answers (None when
    the history could not be read)."""

    history: HistorySignature
    answers: dict[str, int] | None


def delete_user(users_dir: Path, user_id: str, wait: bool = True) -> Removed:
    """Remove a user's folder: renamed aside under the user's lock (so no command sees half of it),
    then deleted; a command that was waiting for the lock then finds no user. Returns what they had
    answered, for the crowd's counts (`crowd_counts.remove_user`)."""
    with open_user(users_dir, user_id, wait) as folder:
        try:
            removed = Removed(history_signature(folder), read_answers(folder))
        except UserError:  # an unreadable history never stops a delete; the counts are redone instead
            removed = Removed(history_signature(folder), None)
        aside = users_dir / f".deleted-{user_id}-{uuid.uuid4().hex}"
        folder.rename(aside)
    shutil.rmtree(aside)
    return removed


def _check_still_there(folder: Path, user_id: str) -> None:
    """UnknownUserError for a user deleted while this command waited for their lock."""
    if not folder.is_dir():
        raise UnknownUserError(f"unknown user {user_id}: no folder {folder} (it was just deleted)")


def _check_entries(folder: Path) -> None:
    """UserError for a symlink, a folder (but the staging one) or any other non-file in the folder."""
    for path in _entries(folder):
        _refuse_symlink(path)
        if not path.is_file() and path != folder / storage.STAGING_NAME:
            raise UserError(f"{path} is not a file: a user folder holds only files (move it away)")


def _entries(folder: Path) -> list[Path]:
    """Every file of a user's folder, those of an unfinished commit's staging folder too."""
    staging = folder / storage.STAGING_NAME
    inside = list(staging.iterdir()) if staging.is_dir() and not staging.is_symlink() else []
    return sorted([*folder.iterdir(), *inside])


def _refuse_symlink(path: Path) -> None:
    """UserError for a symlink in (or as) a user's folder: the commands never follow one, lest an
    input make them read or write a file outside the users folder."""
    if path.is_symlink():
        raise UserError(f"refusing to follow the symlink {path}")


def read_state(folder: Path) -> UserState:
    """The user's state; a missing `pool_data.json` is an error, never a fresh start: the iteration,
    the answered songs, the strategy and the update rule it records cannot all be recovered from
    `annotations.jsonl`, and guessing them would silently re-ask songs or change the experiment."""
    path = folder / STATE_FILE
    if not path.is_file():
        raise UserError(f"{path} is missing: the user's state (iteration, answered songs, strategy, "
                        f"update rule) cannot be guessed; restore it from a backup, or start again "
                        f"with a new user")
    try:
        data = storage.read_json(path)
    except ValueError as exc:
        raise UserError(f"malformed {path}: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"malformed {path}: not a JSON object")
    try:
        return _STATE.validate_python(data)
    except ValidationError as exc:
        raise UserError(f"malformed {path}: {_first_problem(exc, data)}") from None


_STATE = TypeAdapter(UserState)
"""Validates a state read from JSON, so that no command runs on a hand-edited state it would misread;
keys UserState lacks are ignored."""


def _first_problem(exc: ValidationError, data: dict) -> str:
    """The first bad field of a state `data` in words: its name, its value, what it should be."""
    problem = exc.errors(include_url=False)[0]
    name, *inner = problem["loc"]
    where = "".join(f", at item {key}" if isinstance(key, int) else f", at {key!r}" for key in inner)
    return f"{name} is {reprlib.repr(data[name])}: {problem['msg'][0].lower()}{problem['msg'][1:]}{where}"


def write_state(folder: Path, state: UserState) -> None:
    storage.write_json(folder / STATE_FILE, asdict(state))


def _history_lines(records: list[dict]) -> str:
    return "".join(json.dumps(record) + "\n" for record in records)


def write_history(folder: Path, records: list[dict]) -> None:
    """A whole annotation history (an imported user's), oldest batch first."""
    with storage.atomic_open(folder / ANNOTATIONS_FILE, encoding="utf-8") as handle:
        handle.write(_history_lines(records))


def answer_writers(folder: Path, state: UserState, record: dict) -> dict[str, Callable[[Path], None]]:
    """Writers, for `storage.commit_files`, of the state after an answered batch and of the history
    with that batch's `record` appended, to be replaced together with the retrained members."""
    history = folder / ANNOTATIONS_FILE
    previous = history.read_text(encoding="utf-8") if history.exists() else ""
    return {STATE_FILE: lambda path: storage.write_json(path, asdict(state)),
            ANNOTATIONS_FILE: lambda path: path.write_text(previous + _history_lines([record]),
                                                           encoding="utf-8")}


def read_answers(folder: Path) -> dict[str, int]:
    """Every answer in the user's history: song → class index, a song answered twice its last."""
    path = folder / ANNOTATIONS_FILE
    if not path.is_file():
        return {}
    answers: dict[str, int] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            labels = storage.parse_json(line)["labels"]
            answers.update({song: quadrant_index(label) for song, label in labels.items()})
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise UserError(f"{path}, line {number}: not an answered batch ({exc})") from None
    return answers
