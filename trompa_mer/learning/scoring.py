"""Committee scores of pool songs: scale their windows, let every member predict, average per song.

The pool is streamed in chunks of songs, so peak memory follows the chunk, not the pool. Chunks run
on all cores, one thread each with single-threaded members. A song's score depends only on its own
windows, so chunk size and thread count never change a result.
"""

import ctypes
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

from trompa_mer import names
from trompa_mer.committee import consensus
from trompa_mer.committee.margins import MarginMemo
from trompa_mer.committee.model import Committee, scale
from trompa_mer.cores import available_cores
from trompa_mer.defaults import CHUNK_SONGS as DEFAULT_CHUNK_SONGS
from trompa_mer.features.pool import Pool

if TYPE_CHECKING:
    from sklearn.preprocessing import StandardScaler

MIN_CHUNK_WINDOWS = 4096
"""A chunk holds at least this many windows: OpenBLAS multiplies matrices of up to ~300 rows (by the
SGD members' 260×4 weights) with a small-matrix kernel that rounds differently, which would make a
song's score depend on the chunk it falls in."""


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
"""glibc's mallopt parameters."""
MMAP_THRESHOLD_BYTES = 32 << 20
"""The most glibc allows on 64-bit: above a chunk's temporaries (6,000 windows × 260 × 8 B)."""


def keep_freed_memory() -> None:
    """Make glibc keep freed blocks for reuse instead of handing them back to the kernel.

    Members allocate several chunk-sized temporaries per chunk (GaussianNB a dozen); by default
    each comes fresh from the kernel, which zeroes its pages: a third of a query's time went there.
    Memory then stays at its high-water mark, which the chunk bounds. No-op off glibc.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    mallopt(M_TRIM_THRESHOLD, 4 * MMAP_THRESHOLD_BYTES)


def chunks(pool: Pool, song_ids: list[str], songs: int) -> list[list[str]]:
    """`song_ids` cut into consecutive lists of `songs` songs, each grown to MIN_CHUNK_WINDOWS
    windows at least; a short tail joins the chunk before it."""
    found: list[list[str]] = []
    start, windows = 0, 0
    counts = pool.n_windows(song_ids)
    for i, count in enumerate(counts):
        windows += count
        if i + 1 - start >= songs and windows >= MIN_CHUNK_WINDOWS:
            found.append(song_ids[start:i + 1])
            start, windows = i + 1, 0
    if start < len(song_ids):
        tail = song_ids[start:]
        if found and windows < MIN_CHUNK_WINDOWS:
            found[-1] = found[-1] + tail
        else:
            found.append(tail)
    return found


_POOL_SCALERS: "weakref.WeakKeyDictionary[Pool, dict[int, StandardScaler]]" = weakref.WeakKeyDictionary()
"""Each loaded pool's fitted scalers by chunk size: a pool does not change while it is loaded, so
`original` scaling fits once per pool, not on every scoring. Keyed by chunk size too, as the chunks
set the rounding of the fit; dropped with the pool."""


def pool_scaler(pool: Pool, chunk_songs: int | None = None) -> "StandardScaler":
    """A StandardScaler fitted on every window of the pool, as the original tool's `original`
    scaling, streamed over the store chunk by chunk (equal to a fit in memory to rounding).
    Fitted once per pool and chunk size; later calls return the same scaler."""
    from sklearn.preprocessing import StandardScaler

    chunk_songs = chunk_songs or DEFAULT_CHUNK_SONGS
    fitted = _POOL_SCALERS.setdefault(pool, {})
    if chunk_songs not in fitted:
        keep_freed_memory()
        scaler = StandardScaler()
        for chunk in chunks(pool, pool.storage_order(pool.song_ids), chunk_songs):
            scaler.partial_fit(pool.windows(chunk)[0])
        fitted[chunk_songs] = scaler
    return fitted[chunk_songs]


def scaler_of(committee: Committee, pool: Pool, scaling: str,
              chunk_songs: int | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """How rows are standardised: the committee's scaler, or one fitted on the whole pool."""
    if scaling == names.SCALING_ORIGINAL:
        return pool_scaler(pool, chunk_songs).transform
    return lambda X: scale(committee, X, scaling)


def scaled_windows(committee: Committee, pool: Pool, song_ids: list[str], scaling: str,
                   chunk_songs: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Scaled rows (n_windows, 260) of `song_ids` and their offsets; `original` scaling uses a
    StandardScaler fitted on the whole pool, as the original tool did."""
    X, offsets = pool.windows(song_ids)
    return scaler_of(committee, pool, scaling, chunk_songs)(X), offsets


def consensus_scores(committee: Committee, pool: Pool, song_ids: list[str], scaling: str,
                     chunk_songs: int | None = None, jobs: int | None = None, *,
                     memo: MarginMemo | None = None) -> np.ndarray:
    """Consensus entropy (n_songs,) of the committee on each song of `song_ids`, computed
    `chunk_songs` songs at a time (default DEFAULT_CHUNK_SONGS) on `jobs` threads
    (default: every core); a `memo` of the committee's earlier scoring spares its xgb members
    the trees they had then."""
    return per_song(committee, pool, song_ids, scaling, consensus.consensus_entropy, chunk_songs, jobs,
                    memo=memo)


def quadrant_probabilities(committee: Committee, pool: Pool, song_ids: list[str], scaling: str,
                           chunk_songs: int | None = None, jobs: int | None = None, *,
                           memo: MarginMemo | None = None) -> np.ndarray:
    """(n_songs, 4): each song's quadrant probabilities, the mean over its windows and the members,
    as predict_emotion's `mean_probs`; streamed like consensus_scores."""
    return per_song(committee, pool, song_ids, scaling, consensus.committee_probabilities,
                    chunk_songs, jobs, memo=memo)


def per_song(committee: Committee, pool: Pool, song_ids: list[str], scaling: str,
             summary: Callable[[np.ndarray], np.ndarray], chunk_songs: int | None = None,
             jobs: int | None = None, *, memo: MarginMemo | None = None) -> np.ndarray:
    """`summary` of the members' song probabilities (n_members, n_songs, 4) → one row per song,
    for each song of `song_ids` in that order: the pool scored chunk by chunk on `jobs` threads."""
    import sklearn
    import xgboost as xgb
    from threadpoolctl import threadpool_limits

    chunk_songs = chunk_songs or DEFAULT_CHUNK_SONGS
    jobs = jobs or available_cores()
    keep_freed_memory()
    transform = scaler_of(committee, pool, scaling, chunk_songs)
    # xgboost's thread count is per thread, and a new thread starts from "all cores".
    xgb_threads = 1 if jobs > 1 else xgb.get_config()["nthread"]
    order = pool.storage_order(song_ids)

    def score(chunk: list[str]) -> np.ndarray:
        X, offsets = pool.windows(chunk)
        # Pool rows are finite (CSVs with NaN or inf are refused): skip sklearn's checks per member.
        with sklearn.config_context(assume_finite=True), xgb.config_context(nthread=xgb_threads):
            X = transform(X)
            proba = committee.proba(X) if memo is None else memo.proba(committee, X, offsets, chunk)
        return summary(consensus.song_probabilities(proba, offsets))

    # One BLAS thread whatever `jobs`: OpenBLAS rounds differently with more threads on some CPUs.
    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(jobs) as executor:
        scores = list(executor.map(score, chunks(pool, order, chunk_songs)))
    if not scores:
        return np.zeros((0,), dtype=np.float64)
    by_song = dict(zip(order, np.concatenate(scores), strict=True))
    return np.array([by_song[song] for song in song_ids], dtype=np.float64)
