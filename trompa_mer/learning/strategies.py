"""Query strategies: one score per candidate song, higher means ask sooner.

Each strategy is a small function of one `QueryContext`, registered in STRATEGY_SCORES under its
name from `names.STRATEGIES`: `mc` machine consensus (the committee's consensus entropy; with the
crowd as a member, the entropy of the committee updated by other listeners' answers), `hc` human
consensus (entropy of the crowd's quadrant frequencies, the user's own annotations left out), `mix`
the larger of the two, `rand` seeded random numbers. `choose_songs` ranks the candidates by one of
them; `select_top` breaks ties towards the smaller song id.
"""

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trompa_mer.committee import consensus
from trompa_mer.committee.margins import MarginMemo
from trompa_mer.committee.model import Committee
from trompa_mer.errors import CrowdError, MissingCrowdError, QueryError
from trompa_mer.features.pool import Pool
from trompa_mer.learning import catalogue
from trompa_mer.learning.crowd import Crowd, frequencies, quadrant_counts, read_crowd
from trompa_mer.learning.personal import UserView
from trompa_mer.learning.scoring import consensus_scores, quadrant_probabilities
from trompa_mer.names import CROWD_STRATEGIES, HC, MC, MIX, RAND, STRATEGIES

NO_CROWD_SCORE = -1.0
"""`hc` score of a song no other user annotated: below every entropy (≥ 0), so it ranks last."""


@dataclass(frozen=True)
class QueryContext:
    """What a strategy may look at to score one query's candidates. Only mc and mix ask the committee
    and pool (through `memo` when given, on `jobs` threads, `chunk_songs` songs at a time), so hc and
    rand may go without; only hc and mix read the crowd; rand draws from (user_id, iteration, seed).
    `view`: the user's view of the committee (`personal.UserView`), whose other listeners' answers mc
    and mix then count as a member, and hc as the other users' answers; None for the committee alone
    and the crowd file alone."""

    committee: Committee | None
    pool: Pool | None
    candidates: list[str]
    scaling: str
    user_id: str
    iteration: int
    crowd: Crowd | None = None
    seed: int = 0
    memo: MarginMemo | None = None
    jobs: int | None = None
    chunk_songs: int | None = None
    view: UserView | None = None


def hc_scores(counts: np.ndarray) -> np.ndarray:
    """Human-consensus entropy (n_songs,) of quadrant counts (n_songs, 4); NO_CROWD_SCORE for a song
    without annotations."""
    annotated = counts.sum(axis=1) > 0
    return np.where(annotated, consensus.entropy(frequencies(counts)), NO_CROWD_SCORE)


def stable_seed(*parts: object) -> int:
    """A 64-bit seed from the parts' text, the same in every process (unlike Python's `hash`)."""
    text = "\x1f".join(str(part) for part in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def mc(context: QueryContext) -> np.ndarray:
    """The committee's consensus entropy on each candidate; with a view, the entropy of the
    committee's probabilities updated by the other listeners' answers. A committee whose members
    are catalogued (`catalogue.catalogued`) is read from the catalogue, unless a `memo` is given."""
    shared = context.memo is None and catalogue.catalogued(context.committee, context.scaling)
    if shared:
        heard = catalogue.heard_probabilities(context.committee, context.pool, context.candidates,
                                              context.scaling, context.chunk_songs, context.jobs)
    elif context.view is None:
        return consensus_scores(context.committee, context.pool, context.candidates, context.scaling,
                                context.chunk_songs, context.jobs, memo=context.memo)
    else:
        heard = quadrant_probabilities(context.committee, context.pool, context.candidates, context.scaling,
                                       context.chunk_songs, context.jobs, memo=context.memo)
    return consensus.entropy(heard if context.view is None else context.view.crowd(context.candidates, heard))


def hc(context: QueryContext) -> np.ndarray:
    """The entropy of the other users' quadrants of each candidate: the view's other listeners when
    there is a view (every other user's answers and the crowd file's), else the crowd file's."""
    if context.view is not None and context.view.others is not None:
        return hc_scores(context.view.counts(context.candidates))
    return hc_scores(quadrant_counts(context.crowd, context.candidates, context.user_id))


def mix(context: QueryContext) -> np.ndarray:
    """The larger of mc and hc, per candidate."""
    return np.maximum(mc(context), hc(context))


def rand(context: QueryContext) -> np.ndarray:
    """Uniform numbers from a generator seeded by (user, iteration, seed), reproducible anywhere."""
    seed = stable_seed(context.user_id, context.iteration, context.seed)
    return np.random.default_rng(seed).random(len(context.candidates))


STRATEGY_SCORES: dict[str, Callable[[QueryContext], np.ndarray]] = {MC: mc, HC: hc, MIX: mix, RAND: rand}
"""Strategy name → its scores (n_candidates,) of a context's candidates."""
assert tuple(STRATEGY_SCORES) == STRATEGIES, "every strategy in names.STRATEGIES needs scores, in order"


def check_strategy(strategy: str, crowd: Crowd | None) -> None:
    """QueryError for an unknown strategy, CrowdError for hc/mix without crowd annotations."""
    if strategy not in STRATEGY_SCORES:
        raise QueryError(f"unknown query strategy {strategy!r} (expected one of {', '.join(STRATEGIES)})")
    if strategy in CROWD_STRATEGIES and crowd is None:
        raise CrowdError(f"strategy {strategy} needs crowd annotations")


def load_crowd(strategy: str, crowd_file: Path | None) -> Crowd | None:
    """The crowd annotations `strategy` needs (hc, mix), or None; QueryError for an unknown strategy."""
    if strategy not in CROWD_STRATEGIES:
        check_strategy(strategy, None)
        return None
    if crowd_file is None or not crowd_file.is_file():
        raise MissingCrowdError(f"strategy {strategy} needs crowd annotations, but {crowd_file} does not "
                                "exist")
    return read_crowd(crowd_file)


def choose_songs(strategy: str, context: QueryContext, n: int) -> dict[str, float]:
    """The `n` candidates `strategy` ranks highest, in rank order, with their scores."""
    check_strategy(strategy, context.crowd)
    scores = STRATEGY_SCORES[strategy](context)
    by_song = dict(zip(context.candidates, scores.tolist(), strict=True))
    return {song: by_song[song] for song in select_top(context.candidates, scores, n)}


def select_top(song_ids: Sequence[str], scores: np.ndarray, n: int) -> list[str]:
    """The `n` songs of highest score; ties go to the smaller song id, whatever numpy's sort does.
    Only the songs scoring at least the `n`-th highest are sorted (all of them when a score is NaN)."""
    scores = np.asarray(scores, dtype=np.float64)
    contenders = np.arange(len(song_ids))
    if 0 < n < len(song_ids) and not np.isnan(scores).any():
        contenders = np.flatnonzero(scores >= np.partition(scores, len(scores) - n)[len(scores) - n])
    order = sorted(contenders.tolist(), key=lambda i: (-float(scores[i]), song_ids[i]))
    return [song_ids[i] for i in order[:n]]
