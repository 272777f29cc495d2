"""Bring the original TROMPA-MER's folders into this port: its committees and its users' state.

The original's layouts (all read-only here):
- a committee: `classifier_<kind>.it_<k>.pkl` pickles of xgboost 1.3.3 / scikit-learn 0.24.1;
- a seed-era user: the models beside `pool_data.json` {"iteration", "next_pool", "queried"};
- a later-era user: the same in a subfolder named after its query strategy (`mc/`, `hc/`, `mix/`,
  `rand/`, names this port's strategies keep), whose `pool_data.json` adds
  "log": [{"<iteration>": {song: "Q1", ...}}, ...] (every answered batch), beside `last_anno.json`
  (the last answers sent) and, for hc and mix, `consensus.csv`.

The original's `iteration` numbers queries: it is the iteration of the last query. Ours counts
answered batches, i.e. it is the iteration the next answers will be recorded under.

The imported committee has no scaler.pkl: its manifest says `original` scaling, so every command
standardises as the original did (per input file for prediction, per pool for queries and retraining).
"""

import glob
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import xgboost

from trompa_mer import storage
from trompa_mer.committee import files as committees
from trompa_mer.committee import members
from trompa_mer.committee.model import Committee
from trompa_mer.errors import LegacyError, UserError
from trompa_mer.legacy.pickles import LegacyModel, load_legacy_model
from trompa_mer.names import (
    CROWD_STRATEGIES,
    DEFAULT_STRATEGY,
    QUADRANTS,
    SCALING_ORIGINAL,
    STRATEGIES,
    song_quadrants,
    timestamp,
)
from trompa_mer.users import account as user

ORIGINAL_VERSIONS = {"python": "3.6-3.8", "xgboost": "1.3.3", "scikit-learn": "0.24.1"}
"""The library versions that wrote the original pickles."""
LEGACY_STATE_FILE = "pool_data.json"
LAST_ANNOTATIONS_FILE = "last_anno.json"
CONSENSUS_FILE = "consensus.csv"
"""Crowd quadrant frequencies per song (s_id, Q1..Q4, log); kept as is in an imported user's folder."""
CONSENSUS_COLUMNS = ("Q1", "Q2", "Q3", "Q4", "log")
IMPORTED_PROVENANCE = "the original TROMPA-MER (imported by import_legacy.py)"
"""`trained_on.provenance` in the manifest of an imported committee."""
ASIDE_INFIX = ".before-import-"
"""A replaced pretrained committee is kept as `<folder>.before-import-<timestamp>`."""


@dataclass
class ImportResult:
    """What an import wrote, and what the user should know about it (`notes`)."""

    folder: Path
    members: list[str]
    state: user.UserState | None = None
    history: list[dict] = field(default_factory=list)
    aside: Path | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class LegacyFolder:
    """An original folder read and converted in memory: nothing is written until all of it is valid."""

    models_folder: Path
    committee: Committee
    state: user.UserState | None
    history: list[dict]
    notes: list[str]


def locate_models(src: Path) -> tuple[Path, str]:
    """The folder holding SRC's pickles, and the user's strategy (its name, or `mc` for the seed era)."""
    if not src.is_dir():
        raise LegacyError(f"not a folder: {src}")
    if any(path.suffix == ".pkl" for path in src.iterdir()):
        return src, src.name if src.name in STRATEGIES else DEFAULT_STRATEGY
    found = [src / name for name in STRATEGIES if (src / name).is_dir()]
    if len(found) > 1:
        raise LegacyError(f"{src} holds several strategy folders ({', '.join(p.name for p in found)}): "
                          "import one of them")
    if not found:
        raise LegacyError(f"no classifier_<kind>.it_<k>.pkl files in {src} nor in a "
                          f"{'/'.join(STRATEGIES)} subfolder")
    return found[0], found[0].name


def _load(path: Path) -> LegacyModel:
    try:
        return load_legacy_model(path)
    except LegacyError as exc:  # legacy.py names the file by its name alone: give the whole path
        message = str(exc)
        raise LegacyError(f"{path}{message[len(path.name):]}" if message.startswith(path.name)
                          else f"{path}: {message}") from exc


def _use_this_machines_cores(model: xgboost.XGBClassifier) -> None:
    """Forget the original machine's thread count (nthread 4): with more threads than cores, xgboost
    slows down many times over. Like this port's own members, use every core (nthread 0)."""
    model.set_params(n_jobs=None)
    model.get_booster().set_param({"nthread": 0})


def convert_members(folder: Path) -> dict[str, LegacyModel]:
    """Every `.pkl` of `folder` as a current estimator, by file name; LegacyError naming any other
    pickle, or a member whose class is not the kind its name says."""
    converted = {}
    for path in sorted(folder.glob("*.pkl")):
        match = committees.MEMBER_PATTERN.match(path.name)
        if not match or match["kind"] not in members.KINDS:
            raise LegacyError(f"{path}: not a classifier_{{{','.join(members.KINDS)}}}.it_<k>.pkl model file")
        model = _load(path)
        if members.kind_of(model) != match["kind"]:
            raise LegacyError(f"{path}: holds a {members.kind_of(model)} model, not {match['kind']}")
        if isinstance(model, xgboost.XGBClassifier):
            _use_this_machines_cores(model)
        converted[path.name] = model
    if not converted:
        raise LegacyError(f"no classifier_<kind>.it_<k>.pkl files in {folder}")
    return converted


def legacy_manifest(src: Path) -> dict:
    """A manifest saying where the committee came from and that it scales as the original did."""
    return committees.new_manifest(
        trained_on={"provenance": IMPORTED_PROVENANCE,
                    "source": str(src.resolve()), "original_versions": dict(ORIGINAL_VERSIONS),
                    "imported": timestamp()},
        scaling=SCALING_ORIGINAL)


def _read_json(path: Path) -> Any:
    try:
        return storage.read_json(path)
    except (ValueError, UnicodeDecodeError) as exc:
        raise LegacyError(f"{path}: malformed JSON: {exc}") from None
    except OSError as exc:
        raise LegacyError(f"{path}: cannot read: {exc.strerror}") from None


def _songs(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(song, str) and song for song in value):
        raise LegacyError(f"{where} must be a list of song ids")
    return [song.lower() for song in value]


def _labels(value: Any, where: str) -> dict[str, str]:
    """{song: "Q1".."Q4"}, song ids lower-cased as this port's pool names them."""
    try:
        return {song: QUADRANTS[quadrant] for song, quadrant in song_quadrants(value, where).items()}
    except ValueError as exc:
        raise LegacyError(str(exc)) from None


def _log_batches(log: Any, path: Path) -> dict[int, dict[str, str]]:
    """pool_data.json's `log`: [{"<iteration>": {song: label}}, ...] → iteration → labels."""
    if not isinstance(log, list):
        raise LegacyError(f"{path}: `log` must be a list of answered batches")
    batches = {}
    for entry in log:
        if not isinstance(entry, dict) or len(entry) != 1:
            raise LegacyError(f"{path}: `log` entry {entry!r:.60} is not {{\"<iteration>\": {{...}}}}")
        (key, labels), = entry.items()
        if not str(key).isdigit():
            raise LegacyError(f"{path}: `log` entry for iteration {key!r} is not a number")
        batches[int(key)] = _labels(labels, f"{path}: `log` iteration {key}")
    return batches


def _mtime(path: Path) -> str:
    return timestamp(path.stat().st_mtime)


def _check_consensus(path: Path) -> None:
    try:
        table = pd.read_csv(path, index_col=0)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise LegacyError(f"{path}: cannot read: {exc}") from None
    lacking = [column for column in CONSENSUS_COLUMNS if column not in table.columns]
    if lacking:
        raise LegacyError(f"{path}: lacks the columns {', '.join(lacking)}")


def read_legacy_state(folder: Path, strategy: str) -> tuple[user.UserState, list[dict], list[str]]:
    """The user's state in this port's terms, their answered batches as annotation-history records
    (oldest first), and notes for the user.

    The last query counts as answered when the original recorded its answers: a later-era
    pool_data.json `log` holding a batch for the query's iteration (the original's retrain_model
    logs the answers before it retrains), or, where pool_data.json keeps no log (seed era),
    last_anno.json labelling exactly the queried songs. Otherwise it is pending.
    """
    path = folder / LEGACY_STATE_FILE
    data = _read_json(path)
    if not isinstance(data, dict):
        raise LegacyError(f"{path}: not an object with iteration, next_pool and queried")
    iteration = data.get("iteration")
    if isinstance(iteration, bool) or not isinstance(iteration, int) or iteration < 0:
        raise LegacyError(f"{path}: iteration is {iteration!r}, expected a whole number ≥ 0")
    queried = _songs(data.get("queried", []), f"{path}: queried")
    next_pool = _songs(data.get("next_pool", []), f"{path}: next_pool")
    has_log = "log" in data
    batches = _log_batches(data.get("log", []), path)
    times: dict[int, str] = {}
    notes = []

    last_path = folder / LAST_ANNOTATIONS_FILE
    if last_path.is_file():
        last = _labels(_read_json(last_path), str(last_path))
        logged = [k for k, labels in batches.items() if set(labels) == set(last)]
        if logged and batches[logged[-1]] != last:
            raise LegacyError(f"{last_path} and the log of {path} give different answers for "
                              f"iteration {logged[-1]}")
        if logged:
            times[logged[-1]] = _mtime(last_path)
        elif not has_log and set(last) == set(queried):
            batches[iteration] = last
            times[iteration] = _mtime(last_path)
        else:
            notes.append(f"{last_path} answers songs the original never recorded as answered: "
                         "not imported")

    answered_last = bool(queried) and set(batches.get(iteration, {})) == set(queried)
    pending = bool(queried) and not answered_last
    answered = set().union(*batches.values()) - (set(queried) if pending else set())
    if not has_log and iteration > 0:
        notes.append(f"{path} keeps no record of the songs asked in iterations 0 to {iteration - 1}: "
                     "they may be asked again")
    if pending:
        notes.append(f"the original's last query (iteration {iteration}) has no recorded answers: it "
                     "is pending; answer it with retrain_model.py")
    if (folder / CONSENSUS_FILE).is_file():
        _check_consensus(folder / CONSENSUS_FILE)
    if strategy in CROWD_STRATEGIES:
        notes.append(f"strategy {strategy} asks the crowd annotations (TPL_CROWD_ANNOTATIONS, e.g. the "
                     f"TROMPA study's JSON); the original's {CONSENSUS_FILE} is kept in the user's folder")
    state = user.UserState(iteration=iteration + 1 if answered_last else iteration, queried=queried,
                           next_pool=next_pool, pending=pending, answered=sorted(answered),
                           strategy=strategy, query_strategy=strategy if queried else None,
                           time=timestamp())
    history = [{"iteration": k, "time": times.get(k), "labels": batches[k],
                "source": str(last_path if k in times else path)} for k in sorted(batches)]
    return state, history, notes


def read_legacy_folder(src: Path, with_state: bool) -> LegacyFolder:
    """Convert SRC's models and (with_state) read its user state, all in memory."""
    folder, strategy = locate_models(src)
    committee = Committee(convert_members(folder), None, legacy_manifest(folder))
    state, history, notes = None, [], []
    if (folder / LEGACY_STATE_FILE).is_file():
        if with_state:
            state, history, notes = read_legacy_state(folder, strategy)
        else:
            notes.append(f"the user state in {folder} is not imported (use --user to import it)")
    elif with_state:
        state = user.UserState(strategy=strategy, time=timestamp())
    return LegacyFolder(folder, committee, state, history, notes)


def _write_user_files(folder: Path, legacy: LegacyFolder) -> None:
    user.write_state(folder, legacy.state)
    if legacy.history:
        user.write_history(folder, legacy.history)
    if (legacy.models_folder / CONSENSUS_FILE).is_file():
        shutil.copyfile(legacy.models_folder / CONSENSUS_FILE, folder / CONSENSUS_FILE)


def import_committee(src: Path, dest: Path) -> ImportResult:
    """Write SRC's models as a committee folder `dest` (which must not exist, or be empty)."""
    try:
        with storage.build_folder(dest) as staging:
            legacy = read_legacy_folder(src, with_state=False)
            committees.save_committee(staging, legacy.committee)
    except FileExistsError:
        raise LegacyError(f"{dest} already exists: choose a new folder") from None
    return ImportResult(dest, list(legacy.committee.members), notes=legacy.notes)


def import_user(src: Path, users_dir: Path, user_id: str) -> ImportResult:
    """Create user `user_id` from an original user folder: committee, state, answers, consensus.csv."""
    dest = user.user_folder(users_dir, user_id)
    if dest.exists():
        raise UserError(f"user {user_id} already exists: {dest}")
    legacy = read_legacy_folder(src, with_state=True)
    try:
        with storage.build_folder(dest) as staging:
            committees.save_committee(staging, legacy.committee)
            _write_user_files(staging, legacy)
    except FileExistsError:
        raise UserError(f"user {user_id} already exists: {dest}") from None
    return ImportResult(dest, list(legacy.committee.members), legacy.state, legacy.history,
                        notes=legacy.notes)


def _aside_name(folder: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = folder.with_name(f"{folder.name}{ASIDE_INFIX}{stamp}")
    number = 1
    while aside.exists():
        number += 1
        aside = folder.with_name(f"{folder.name}{ASIDE_INFIX}{stamp}-{number}")
    return aside


def _copy_folder(src: Path, dest: Path) -> None:
    """Copy the files of folder `src` into the existing folder `dest` (symlinks are refused)."""
    for path in sorted(src.iterdir()):
        if path.is_symlink() or not path.is_file():
            raise LegacyError(f"{path} is not a plain file: refusing to copy the committee {src}")
        shutil.copy2(path, dest / path.name)


def install_pretrained(src: Path, pretrained_dir: Path) -> ImportResult:
    """Make SRC's models the committee new users start from. The current one is first copied
    whole to `<folder>.before-import-<timestamp>` (what `restore_pretrained` puts back), then
    replaced (storage.build_folder): a kill at any point leaves a whole committee in place."""
    legacy = read_legacy_folder(src, with_state=False)
    aside = None
    storage.remove_stale_writes(pretrained_dir.parent, f"{glob.escape(pretrained_dir.name)}{ASIDE_INFIX}*")
    with storage.reading_folder(pretrained_dir):
        if not storage.is_free(pretrained_dir):
            aside = _aside_name(pretrained_dir)
            with storage.build_folder(aside) as staging:
                _copy_folder(pretrained_dir, staging)
    with storage.build_folder(pretrained_dir, replace=True) as staging:
        committees.save_committee(staging, legacy.committee)
    return ImportResult(pretrained_dir, list(legacy.committee.members), aside=aside, notes=legacy.notes)


def _is_imported(folder: Path) -> bool:
    return committees.read_manifest(folder).get("trained_on", {}).get("provenance") == IMPORTED_PROVENANCE


def restore_pretrained(pretrained_dir: Path) -> Path:
    """Undo the last `install_pretrained`: the newest `<folder>.before-import-*` becomes the
    pretrained committee again, replacing the imported one (which SRC can give again); returns the
    folder put back. A pretrained committee that import_legacy.py did not write is never replaced."""
    asides = sorted(pretrained_dir.parent.glob(f"{glob.escape(pretrained_dir.name)}{ASIDE_INFIX}*"),
                    key=lambda path: path.stat().st_mtime_ns)
    asides = [path for path in asides if path.is_dir() and not path.is_symlink()]
    if not asides:
        raise LegacyError(f"nothing to restore: no {pretrained_dir.name}{ASIDE_INFIX}<timestamp> folder "
                          f"beside {pretrained_dir}")
    aside = asides[-1]
    committees.load_committee(aside)  # refuse to restore a committee that cannot be used
    with storage.reading_folder(pretrained_dir):
        replaced = pretrained_dir.exists() and not storage.is_free(pretrained_dir)
        if replaced and not _is_imported(pretrained_dir):
            raise LegacyError(f"{pretrained_dir} was not installed by import_legacy.py --pretrained: "
                              f"refusing to replace it with {aside} (move it away first)")
    with storage.build_folder(pretrained_dir, replace=True) as staging:
        _copy_folder(aside, staging)
    shutil.rmtree(aside)
    return aside
