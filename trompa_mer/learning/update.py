"""Update rules: how a user's answers change their committee.

Each rule is a small function registered in RULES under its name from `names.UPDATE_RULES`, like
the query strategies (strategies.py) and the member kinds (committee/members.py): `original` trains
every member on the newest answers, as the original tool; `layer` leaves the members as pretrained and
refits the user's listener layer (committee/layer.py) on all their answers so far; `shift` leaves them
too and refits the user's label-prior shift (committee/shift.py). A rule name reaches
`learn_answers` already checked (argparse choices, the service's request model, the state file's
validation), so an unknown one here is a bug, not bad input.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from trompa_mer.committee import consensus
from trompa_mer.committee.layer import fit_confusion
from trompa_mer.committee.model import Committee
from trompa_mer.committee.shift import fit_shift
from trompa_mer.features.pool import Pool
from trompa_mer.learning import catalogue
from trompa_mer.learning.personal import CROWD_PRIOR_ANSWERS, OtherAnswers, with_crowd
from trompa_mer.learning.scoring import scaled_windows
from trompa_mer.names import UPDATE_LAYER, UPDATE_ORIGINAL, UPDATE_RULES, UPDATE_SHIFT
from trompa_mer.progress import progress_bar


@dataclass(frozen=True)
class Answers:
    """What a rule learns from: the newest answers and every earlier one (song id → class index),
    the scaling, the xgb rounds and seed of member updates, whether to show members learning, and the
    other listeners' answers the user's probabilities draw on (None: the crowd is off)."""

    newest: dict[str, int]
    previous: dict[str, int]
    scaling: str
    rounds: int
    seed: int
    progress: bool = False
    crowd: OtherAnswers | None = None
    alpha: float = CROWD_PRIOR_ANSWERS


def update_members(committee: Committee, X: np.ndarray, y: np.ndarray, rounds: int,
                   seed: int, progress: bool = False) -> Committee:
    """A new committee whose every member learnt from rows X (n, len(feature_names), scaled) with
    labels y (n,), each from its own columns."""
    from trompa_mer.committee import members

    updated = {}
    for name, member in progress_bar("member", "learning", progress, items=committee.members.items()):
        kind = members.KINDS[members.kind_of(member)]
        updated[name] = kind.update(member, X[:, committee.member_columns(name)], y, rounds, seed)
    return replace(committee, members=updated, digest=None)


def original(committee: Committee, pool: Pool, answers: Answers) -> Committee:
    """Every member trains on every window of the newest answers, each window labelled with its
    song's quadrant (`rounds` more trees for xgb), as the original tool."""
    songs = list(answers.newest)
    X, offsets = scaled_windows(committee, pool, songs, answers.scaling)
    y = np.repeat([answers.newest[s] for s in songs], np.diff(offsets))
    return update_members(committee, X, y, answers.rounds, answers.seed, answers.progress)


def answered_probabilities(committee: Committee, pool: Pool,
                           answers: Answers) -> tuple[np.ndarray, np.ndarray]:
    """What a per-user fit sees on every song answered so far, the previous answers and the newest:
    the members' song probabilities (without a layer; from the catalogue when the committee has one,
    `catalogue.catalogued`) updated by the other listeners' answers on those songs
    (`personal.with_crowd`), (n_songs, 4); and the user's answers (n_songs,)."""
    everything = {**answers.previous, **answers.newest}
    songs = list(everything)
    if catalogue.catalogued(committee, answers.scaling):
        song_proba = catalogue.member_probabilities(committee, pool, songs, answers.scaling)
    else:
        X, offsets = scaled_windows(committee, pool, songs, answers.scaling)
        member_proba = replace(committee, layer=None).proba(X)
        song_proba = consensus.committee_probabilities(consensus.song_probabilities(member_proba, offsets))
    if answers.crowd is not None:
        song_proba = with_crowd(song_proba, answers.crowd.of(songs), alpha=answers.alpha)
    return song_proba, np.array([everything[s] for s in songs])


def layer(committee: Committee, pool: Pool, answers: Answers) -> Committee:
    """The members stay as they are and the listener layer is refitted on all the answers over what
    it sees (`answered_probabilities`)."""
    return replace(committee, layer=fit_confusion(*answered_probabilities(committee, pool, answers)))


def shift(committee: Committee, pool: Pool, answers: Answers) -> Committee:
    """The members stay as they are and the label-prior shift is refitted on all the answers over
    what it applies to (`answered_probabilities`): the committee after the other listeners' answers."""
    return replace(committee, shift=fit_shift(*answered_probabilities(committee, pool, answers)))


@dataclass(frozen=True)
class Rule:
    """An update rule: what it does to a committee, and a phrase saying so in reports."""

    learn: Callable[[Committee, Pool, Answers], Committee]
    does: str
    trains_members: bool
    """Whether it trains the members (xgb ones by boosting rounds): if not, they stay as pretrained,
    so a user's song scores are the catalogue's (`users.personalize.user_committee`)."""


RULES: dict[str, Rule] = {
    UPDATE_ORIGINAL: Rule(original, "every member trains on each new batch", trains_members=True),
    UPDATE_LAYER: Rule(layer, "the members stay as pretrained; a per-user layer over their probabilities "
                              "is refitted on all the answers so far", trains_members=False),
    UPDATE_SHIFT: Rule(shift, "the members stay as pretrained; a per-user shift of the quadrants' "
                              "log-probabilities, after the other listeners' answers, is refitted on all "
                              "the answers so far", trains_members=False),
}
"""Update rule name → the rule."""
assert tuple(RULES) == UPDATE_RULES, "every rule in names.UPDATE_RULES needs an entry, in order"


def learn_answers(committee: Committee, pool: Pool, answers: dict[str, int], scaling: str, rounds: int,
                  seed: int, *, rule: str = UPDATE_ORIGINAL,
                  previous: dict[str, int] | None = None, progress: bool = False,
                  crowd: OtherAnswers | None = None) -> Committee:
    """A new committee that has learnt the newest answers (song id → class index) by `rule` (a name
    of RULES), which may also look at the `previous` ones and the other listeners' answers `crowd`;
    `progress` shows members learning."""
    return RULES[rule].learn(committee, pool,
                             Answers(answers, previous or {}, scaling, rounds, seed, progress, crowd))


def describe(rule: str, kinds: set[str], rounds: int) -> str:
    """`rule` in a report's words: what it does, with the xgb rounds only where they are used."""
    text = f"{rule} ({RULES[rule].does}"
    if RULES[rule].trains_members and "xgb" in kinds:
        text += f", xgb members adding {rounds} boosting rounds"
    return text + ")"
