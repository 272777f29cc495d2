"""Query strategies: one score per candidate song, higher means ask sooner.

`mc` machine consensus (the committee's consensus entropy), `hc` human consensus (entropy of the
crowd's quadrant frequencies, the user's own annotations left out), `mix` the larger of the two,
`rand` seeded random numbers. `select_top` then picks, ties going to the smaller song id.
Crowd annotations are read and counted in `crowd`.
"""

import hashlib
from collections.abc import Sequence

import numpy as np

from trompa_mer.committee import consensus
from trompa_mer.committee.folder import Committee
from trompa_mer.committee.margins import MarginMemo
from trompa_mer.errors import CrowdError, QueryError
from trompa_mer.learning.crowd import Crowd, frequencies, quadrant_counts
from trompa_mer.learning.pool import Pool
from trompa_mer.learning.scoring import consensus_scores
from trompa_mer.names import CROWD_STRATEGIES, HC, MC, RAND, STRATEGIES

NO_CROWD_SCORE = -1.0
"""`hc` score of a song no other user annotated: below every entropy (≥ 0), so it ranks last."""


def hc_scores(counts: np.ndarray) -> np.ndarray:
    """Human-consensus entropy (n_songs,) of quadrant counts (n_songs, 4); NO_CROWD_SCORE for a song
    without annotations."""
    annotated = counts.sum(axis=1) > 0
    return np.where(annotated, consensus.entropy(frequencies(counts)), NO_CROWD_SCORE)


def stable_seed(*parts: object) -> int:
    """A 64-bit seed from the parts' text, the same in every process (unlike Python's `hash`)."""
    text = "\x1f".join(str(part) for part in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def rand_scores(n_songs: int, user_id: str, iteration: int, seed: int = 0) -> np.ndarray:
    """(n_songs,) uniform numbers drawn from a generator seeded by (user, iteration, seed)."""
    return np.random.default_rng(stable_seed(user_id, iteration, seed)).random(n_songs)


def check_strategy(strategy: str, crowd: Crowd | None) -> None:
    """QueryError for an unknown strategy, CrowdError for hc/mix without crowd annotations."""
    if strategy not in STRATEGIES:
        raise QueryError(f"unknown query strategy {strategy!r} (expected one of {', '.join(STRATEGIES)})")
    if strategy in CROWD_STRATEGIES and crowd is None:
        raise CrowdError(f"strategy {strategy} needs crowd annotations")


def strategy_scores(strategy: str, committee: Committee, pool: Pool, candidates: list[str], scaling: str,
                    crowd: Crowd | None, user_id: str, iteration: int, seed: int = 0, *,
                    memo: MarginMemo | None = None, jobs: int | None = None,
                    chunk_songs: int | None = None) -> np.ndarray:
    """One score (n_candidates,) per candidate song under `strategy`; the committee is only asked
    for mc and mix (through `memo` when given), the crowd only for hc and mix."""
    check_strategy(strategy, crowd)
    if strategy == RAND:
        return rand_scores(len(candidates), user_id, iteration, seed)
    if strategy == MC:
        return consensus_scores(committee, pool, candidates, scaling, chunk_songs, jobs, memo=memo)
    human = hc_scores(quadrant_counts(crowd, candidates, user_id))
    if strategy == HC:
        return human
    machine = consensus_scores(committee, pool, candidates, scaling, chunk_songs, jobs, memo=memo)
    return np.maximum(machine, human)


def select_top(song_ids: Sequence[str], scores: np.ndarray, n: int) -> list[str]:
    """The `n` songs of highest score; ties go to the smaller song id, whatever numpy's sort does."""
    order = sorted(range(len(song_ids)), key=lambda i: (-float(scores[i]), song_ids[i]))
    return [song_ids[i] for i in order[:n]]
