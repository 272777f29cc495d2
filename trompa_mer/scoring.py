"""Committee scores of pool songs: scale their windows, let every member predict, average per song."""

import numpy as np

from trompa_mer import committee as committees
from trompa_mer import query
from trompa_mer.committee import Committee
from trompa_mer.pool import Pool


def scaled_windows(committee: Committee, pool: Pool, song_ids: list[str],
                   scaling: str) -> tuple[np.ndarray, np.ndarray]:
    """Scaled rows (n_windows, 260) of `song_ids` and their offsets; `original` scaling fits a
    StandardScaler on the whole pool, as the original tool did."""
    X, offsets = pool.windows(song_ids)
    original = scaling == committees.SCALING_ORIGINAL
    reference = np.asarray(pool.features, dtype=np.float64) if original else None
    return committees.scale(committee, X, scaling, reference), offsets


def consensus_scores(committee: Committee, pool: Pool, song_ids: list[str], scaling: str) -> np.ndarray:
    """Consensus entropy (n_songs,) of the committee on each song of `song_ids`."""
    X, offsets = scaled_windows(committee, pool, song_ids, scaling)
    return query.consensus_entropy(query.song_probabilities(committee.proba(X), offsets))
