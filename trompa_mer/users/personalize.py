"""The personalization loop on a user's folder: query by strategy, then learn from the answers.

`strategies.choose_songs` and `update.learn_answers` work in memory; the CLI wraps them with the user's
folder, lock and state, and `simulate` calls them as they are.
"""

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from trompa_mer import storage
from trompa_mer.committee import files as committees
from trompa_mer.committee.model import Committee
from trompa_mer.committee.shift import SHIFT_FILE, write_shift
from trompa_mer.errors import (
    AnnotationError,
    CommitteeError,
    EmptyPoolError,
    NoPendingQueryError,
    PendingQueryError,
    QueryError,
    TooManySongsError,
    TrainingError,
)
from trompa_mer.learning import catalogue, strategies, update
from trompa_mer.learning.crowd import Crowd
from trompa_mer.learning.personal import UserView
from trompa_mer.learning.scoring import quadrant_probabilities
from trompa_mer.names import (
    QUADRANTS,
    RAND,
    UPDATE_SHIFT,
    song_quadrants,
    timestamp,
)
from trompa_mer.users import account as user
from trompa_mer.users import crowd_counts
from trompa_mer.users.pool_view import HeldScores, open_pool, skipped_warnings


@dataclass
class QueryResult:
    songs: list[str]
    scores: dict[str, float]
    state: user.UserState
    warnings: list[str]
    """What the user should know although the query was made (a crowd file naming none of the songs)."""
    files: dict[str, Path]
    """Each queried song's feature CSV, as the pool found it."""


def crowd_warnings(crowd: Crowd | None, crowd_file: Path | None, candidates: list[str]) -> list[str]:
    """A warning when the crowd annotations name none of the candidates: hc then scores them all
    alike, and the query falls back to song-id order (mix to the committee's disagreement alone)."""
    if crowd is None or not set(candidates).isdisjoint(crowd.song_ids.tolist()):
        return []
    return [f"the crowd annotations in {crowd_file} name none of the {len(candidates)} songs left in the "
            "pool, so every song scores alike on human consensus: check that their song ids are the "
            "feature CSVs' names"]


def view_of(users_dir: Path, user_id: str, folder: Path, committee: Committee, crowd_file: Path | None,
            crowd: bool) -> UserView:
    """The user's view of their committee: their answers (read from `folder`, whose lock the caller
    holds), their layer or shift, and unless `crowd` is False the other listeners' answers (the users
    folder's and `crowd_file`'s), read once."""
    own = user.read_answers(folder)
    others = crowd_counts.other_answers(users_dir, user_id, own, crowd_file) if crowd else None
    return UserView(others, own, _confusion(committee), shift=committee.shift)


def user_committee(folder: Path, state: user.UserState) -> Committee:
    """The committee in a user's folder. The members of a `layer`- or `shift`-rule user stay as
    pretrained (`update.Rule.trains_members`), so their song scores are the catalogue's
    (`learning.catalogue`), their layer or shift applied over them; an `original`-rule user's members
    are their own and keep no digest, so they are always scored anew. The members are unpickled at
    their first use (`files.LazyMembers`): a query the catalogue answers imports no model library.
    A `shift`-rule user who has answered has a shift file (written with their first answers): a
    CommitteeError when it is gone."""
    committee = committees.load_committee(folder, lazy=True)
    if state.update_rule == UPDATE_SHIFT and state.answered and committee.shift is None:
        raise CommitteeError(f"{folder / SHIFT_FILE} is missing, yet user {folder.name} has answered "
                             f"{len(state.answered)} songs by the shift rule")
    return replace(committee, digest=None) if update.RULES[state.update_rule].trains_members else committee


def load_user(users_dir: Path, user_id: str, crowd_file: Path | None,
              crowd: bool = True) -> tuple[Committee, UserView]:
    """The user's committee (`user_committee`) and their view of it (`view_of`), read under their
    shared lock: reading needs no write access to their folder."""
    with user.open_user(users_dir, user_id, read_only=True) as folder:
        committee = user_committee(folder, user.read_state(folder))
        return committee, view_of(users_dir, user_id, folder, committee, crowd_file, crowd)


def delete_user(users_dir: Path, user_id: str, wait: bool = True) -> None:
    """Remove the user's folder (`account.delete_user`) and their answers from the crowd's counts."""
    crowd_counts.remove_user(users_dir, user_id, user.delete_user(users_dir, user_id, wait))


def personal_prediction(result: dict, song_id: str, view: UserView) -> dict:
    """A prediction JSON of the user's committee (`committee.predict`) made the user's: `mean_probs`
    and `highest_prob_quad` with the other listeners' answers on the song and the user's own answer;
    `committee_probs` the committee's (through the layer); `crowd` how many other answers it drew on
    (null with the crowd off); `own_answer` the user's quadrant of the song, null if not answered."""
    heard = np.array([result["mean_probs"]])
    counts = view.counts([song_id])[0]
    proba = view.probabilities([song_id], heard)[0]
    own = view.own.get(song_id)
    return {**result, "committee_probs": result["mean_probs"], "mean_probs": proba.tolist(),
            "highest_prob_quad": QUADRANTS[int(proba.argmax())],
            "crowd": None if view.others is None else
            {"answers": int(counts.sum()), "counts": dict(zip(QUADRANTS, counts.astype(int).tolist(),
                                                                strict=True)),
             "prior_answers": view.alpha},
            "own_answer": None if own is None else QUADRANTS[own]}


def make_query(users_dir: Path, user_id: str, feats_dir: Path, cache_dir: Path, n_tracks: int,
               scaling: str | None = None, requery: bool = False, strategy: str | None = None,
               crowd_file: Path | None = None, jobs: int | None = None,
               chunk_songs: int | None = None, wait: bool = True, progress: bool = False,
               crowd: bool = True) -> QueryResult:
    """Pick the `n_tracks` pool songs the strategy (default: the user's) ranks highest and record
    them as pending; `jobs` cores score `chunk_songs` songs at a time (defaults: every core, and
    scoring's DEFAULT_CHUNK_SONGS). Unless `wait`, a user another command holds is a BusyError;
    `progress` shows the pool's update when CSVs are new. mc and mix count the other listeners'
    answers as a member of the committee, hc their disagreement: every other user's and
    `crowd_file`'s; with `crowd` False, mc the committee's alone and hc `crowd_file`'s alone. mc and
    mix read a `shift`-rule user's probabilities through their shift, crowd or not."""
    if n_tracks < 1:
        raise QueryError(f"the number of tracks must be at least 1, not {n_tracks}")
    with user.open_user(users_dir, user_id, wait) as folder:
        state = user.read_state(folder)
        if state.pending and not requery:
            raise PendingQueryError(f"user {user_id} has a query waiting for annotations "
                                    f"({', '.join(state.queried)})")
        strategy = strategy or state.strategy
        hc_crowd = strategies.load_crowd(strategy, crowd_file)
        state.pending = False
        committee = user_committee(folder, state)
        view = view_of(users_dir, user_id, folder, committee, crowd_file, crowd) \
            if strategy != RAND and (crowd or committee.shift is not None) else None
        with open_pool(feats_dir, cache_dir, committee, jobs, progress) as pool:
            if not pool.song_ids:
                raise EmptyPoolError(f"there are no feature CSVs in {feats_dir}")
            asked = state.asked()
            candidates = [song for song in pool.song_ids if song not in asked]
            if not candidates:
                raise QueryError(f"the pool is empty: every song in {feats_dir} has been queried already")
            if n_tracks > len(candidates):
                raise TooManySongsError(f"{n_tracks} songs asked for, more than the {len(candidates)} left "
                                        f"in the pool (at most {len(candidates)} can be asked for)")
            scaling = scaling or committee.default_scaling()
            context = strategies.QueryContext(committee, pool, candidates, scaling, user_id, state.iteration,
                                              crowd=hc_crowd, jobs=jobs, chunk_songs=chunk_songs, view=view)
            chosen = strategies.choose_songs(strategy, context, n_tracks)
            warnings = skipped_warnings(pool.update.skipped)
            warnings += crowd_warnings(hc_crowd, crowd_file, candidates)
            files = {song: pool.csv_path(song) for song in chosen}
        state.queried = list(chosen)
        state.pending = True
        state.next_pool = None  # the original's copy of the pool minus the asked: O(pool) per query
        state.scores = chosen
        state.query_strategy = strategy
        state.time = timestamp()
        user.write_state(folder, state)
    return QueryResult(state.queried, state.scores, state, warnings, files)


def read_annotations(path: Path) -> dict[str, int]:
    """The annotations JSON file `path` → song id (lower-cased) → class index (`parse_annotations`)."""
    try:
        data = storage.read_json(path)
    except FileNotFoundError:
        raise AnnotationError(f"annotations file not found: {path}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise AnnotationError(f"malformed annotations JSON {path}: {exc}") from None
    return parse_annotations(data, str(path))


def parse_annotations(data: object, source: str = "the annotations") -> dict[str, int]:
    """`{"song_id": "Q1", …}` (quadrants in any case) → song id (lower-cased) → class index;
    `source` names the annotations in errors."""
    try:
        return song_quadrants(data, source)
    except ValueError as exc:
        raise AnnotationError(str(exc)) from None


def check_answers(state: user.UserState, labels: dict[str, int]) -> None:
    """The annotations must answer exactly the pending query."""
    if not state.pending:
        raise NoPendingQueryError("there is no pending query for this user: run get_hard_tracks first")
    missing = [song for song in state.queried if song not in labels]
    extra = sorted(set(labels) - set(state.queried))
    if missing or extra:
        problems = ([f"not annotated: {', '.join(missing)}"] if missing else []) + \
                   ([f"not queried: {', '.join(extra)}"] if extra else [])
        raise AnnotationError(f"the annotations must answer exactly the queried songs "
                              f"({', '.join(state.queried)}); {'; '.join(problems)}")


@dataclass(frozen=True)
class Retrained:
    """What a retrain changed for the user: their state after it; how far their layer moved (the
    largest change of a cell of its confusion matrix; None when the update rule has no layer) or
    their shift (the largest change of a quadrant's log-probability shift; None when the rule has
    no shift); how many of the pool's songs the user's prediction now puts in another quadrant, of
    how many, and the largest change of a song's probability of a quadrant."""

    state: user.UserState
    layer_moved: float | None
    shift_moved: float | None
    songs_changed: int
    pool_songs: int
    largest_change: float


def _confusion(committee: Committee) -> np.ndarray | None:
    return None if committee.layer is None else committee.layer.confusion


def _user_probabilities(committee: Committee, unlayered: np.ndarray, songs: list[str],
                        view: UserView) -> np.ndarray:
    """(n_songs, 4) the user's probabilities of `songs` from their members' `unlayered` ones."""
    heard = unlayered if committee.layer is None else committee.layer.apply(unlayered)
    return replace(view, confusion=_confusion(committee), shift=committee.shift).probabilities(songs, heard)


def apply_annotations(users_dir: Path, user_id: str, annotations: Path | dict[str, int], feats_dir: Path,
                      cache_dir: Path, rounds: int, scaling: str | None = None,
                      jobs: int | None = None, wait: bool = True, progress: bool = False,
                      crowd_file: Path | None = None, crowd: bool = True) -> Retrained:
    """Learn the answers by the user's update rule, then replace the committee (or its layer), state
    and history together, and count the answers in the crowd's counts (`crowd_counts.add_batch`).
    `annotations`: a JSON file (`read_annotations`) or its labels, as `parse_annotations` returns
    them. The layer learns over the committee updated by the other listeners' answers (theirs and
    `crowd_file`'s) unless `crowd` is False. Unless `wait`, a user another command holds is a
    BusyError; `progress` shows the slow steps (the pool's update, members learning). Returns what
    changed for the user (`Retrained`), measured on every song of the pool."""
    if rounds < 1:
        raise TrainingError(f"the boosting rounds of an update must be at least 1, not {rounds}")
    labels = read_annotations(annotations) if isinstance(annotations, Path) else annotations
    with user.open_user(users_dir, user_id, wait) as folder:
        state = user.read_state(folder)
        check_answers(state, labels)
        history = user.history_signature(folder)
        committee = user_committee(folder, state)
        view = view_of(users_dir, user_id, folder, committee, crowd_file, crowd)
        with open_pool(feats_dir, cache_dir, committee, jobs, progress) as pool:
            lacking = [song for song in state.queried if song not in pool]
            if lacking:
                raise AnnotationError(f"no features for annotated songs: {', '.join(lacking)}")
            scaling = scaling or committee.default_scaling()
            songs = list(state.queried)
            updated = update.learn_answers(committee, pool, {s: labels[s] for s in songs}, scaling, rounds,
                                           seed=state.iteration, rule=state.update_rule,
                                           previous=view.own, progress=progress, crowd=view.others)
            pool_songs = pool.song_ids
            before = catalogue.heard_probabilities(replace(committee, layer=None), pool, pool_songs,
                                                   scaling, jobs=jobs)
            after = before if updated.members is committee.members else \
                quadrant_probabilities(replace(updated, layer=None), pool, pool_songs, scaling, jobs=jobs)
        answered = {**view.own, **{song: labels[song] for song in songs}}
        before = _user_probabilities(committee, before, pool_songs, view)
        after = _user_probabilities(updated, after, pool_songs, replace(view, own=answered))
        record = {"iteration": state.iteration, "time": timestamp(),
                  "labels": {song: QUADRANTS[labels[song]] for song in songs}}
        state.answered = sorted(set(state.answered) | set(songs))
        state.pending = False
        state.iteration += 1
        state.time = record["time"]
        if updated.layer is not None:  # only what changed is written
            writers = {committees.LAYER_FILE: lambda path: committees.write_layer(path, updated.layer)}
        elif updated.shift is not None:
            writers = {SHIFT_FILE: lambda path: write_shift(path, updated.shift)}
        else:
            import joblib

            writers = {name: (lambda path, m=member: joblib.dump(m, path))
                       for name, member in updated.members.items()}
        writers.update(user.answer_writers(folder, state, record))
        storage.commit_files(folder, writers)
        crowd_counts.add_batch(users_dir, user_id, history, view.own, answered)
    old, new = _confusion(committee), _confusion(updated)
    moved = None if new is None else float(np.abs(new - (np.eye(len(new)) if old is None else old)).max())
    shift_moved = None if updated.shift is None else \
        float(np.abs(updated.shift.shift - (0.0 if committee.shift is None else committee.shift.shift)).max())
    changed = int((before.argmax(axis=1) != after.argmax(axis=1)).sum())
    return Retrained(state, moved, shift_moved, changed, len(pool_songs),
                     float(np.abs(after - before).max(initial=0.0)))


def recommend(users_dir: Path, user_id: str, feats_dir: Path, cache_dir: Path, quadrant: int, n: int,
              scaling: str | None = None, jobs: int | None = None,
              chunk_songs: int | None = None, crowd_file: Path | None = None,
              crowd: bool = True, held: HeldScores | None = None
              ) -> tuple[list[tuple[str, float]], list[str]]:
    """The `n` pool songs to which the user's probabilities (`personal.UserView`: the committee,
    the other listeners' answers unless `crowd` is False, their layer, their own answers) give the
    highest probability of `quadrant` (a class index), with that probability, highest first (ties to
    the smaller song id); and the warnings of the pool's load (`skipped_warnings`). The committee and
    the counts are read under the user's lock, the pool scored after; `held` keeps the pool's scores
    for the next call (a long-running process's)."""
    if n < 1:
        raise QueryError(f"the number of songs must be at least 1, not {n}")
    committee, view = load_user(users_dir, user_id, crowd_file, crowd)
    pool, heard = (held or HeldScores()).heard(committee, feats_dir, cache_dir,
                                               scaling or committee.default_scaling(), jobs, chunk_songs)
    proba = view.probabilities(pool.song_ids, heard, pool.positions)[:, quadrant]
    chosen = strategies.select_top(pool.song_ids, proba, n)
    ranked = [(song, float(proba[pool.positions[song]])) for song in chosen]
    return ranked, skipped_warnings(pool.update.skipped)
