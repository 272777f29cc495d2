"""The song pool: every song's feature CSV in `data/feats`, cached as one float32 array.

The cache is rebuilt when the set of CSVs, or any CSV's size or modification time, changes.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trompa_mer import storage
from trompa_mer.columns import FEATURE_NAMES
from trompa_mer.errors import FeatureError
from trompa_mer.features import read_feature_csv

SAMPLE_SUFFIX = "-sample"
CACHE_ARRAY = "pool.npy"
CACHE_INDEX = "pool.json"


def song_id_of(path: Path) -> str:
    """File name without `.csv` and without a `-sample` suffix, lower-cased."""
    stem = path.stem
    if stem.lower().endswith(SAMPLE_SUFFIX):
        stem = stem[: -len(SAMPLE_SUFFIX)]
    return stem.lower()


@dataclass
class Pool:
    """Songs in id order; the windows of song i are rows offsets[i]:offsets[i+1] of `features`."""

    song_ids: list[str]
    offsets: np.ndarray
    features: np.ndarray

    def __post_init__(self) -> None:
        self._position = {song: i for i, song in enumerate(self.song_ids)}

    def __contains__(self, song_id: str) -> bool:
        return song_id in self._position

    def windows(self, song_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Rows (n_windows, 260) float64 of the given songs, in that order, and their offsets
        (n_songs + 1,): song i owns rows offsets[i]:offsets[i+1]."""
        positions = [self._position[s] for s in song_ids]
        blocks = [self.features[self.offsets[p]:self.offsets[p + 1]] for p in positions]
        offsets = np.concatenate([[0], np.cumsum([len(b) for b in blocks], dtype=np.int64)])
        if not blocks:
            return np.empty((0, self.features.shape[1])), offsets
        return np.concatenate(blocks).astype(np.float64), offsets


def feature_files(feats_dir: Path) -> dict[str, Path]:
    """Song id → its CSV; two files for one id is an error."""
    found: dict[str, Path] = {}
    for path in sorted(feats_dir.glob("*.csv")):
        song = song_id_of(path)
        if song in found:
            raise FeatureError(f"two feature files for song {song}: {found[song].name}, {path.name}")
        found[song] = path
    return found


def _signature(files: dict[str, Path]) -> dict[str, list[int]]:
    signature = {}
    for song, path in files.items():
        stat = path.stat()
        signature[song] = [path.name, stat.st_size, stat.st_mtime_ns]
    return signature


def load_pool(feats_dir: Path, cache_dir: Path) -> Pool:
    """The pool of `feats_dir`, from the cache in `cache_dir` when it is current, else rebuilt."""
    if not feats_dir.is_dir():
        raise FeatureError(f"features folder not found: {feats_dir}")
    files = feature_files(feats_dir)
    signature = _signature(files)
    cached = _read_cache(cache_dir, signature)
    if cached is not None:
        return cached
    song_ids = sorted(files)
    tables = [read_feature_csv(files[s], FEATURE_NAMES).astype(np.float32) for s in song_ids]
    offsets = np.concatenate([[0], np.cumsum([len(t) for t in tables])]).astype(np.int64)
    features = np.concatenate(tables) if tables else np.empty((0, len(FEATURE_NAMES)), np.float32)
    pool = Pool(song_ids, offsets, features)
    _write_cache(cache_dir, pool, signature)
    return pool


def _read_cache(cache_dir: Path, signature: dict) -> Pool | None:
    try:
        index = storage.read_json(cache_dir / CACHE_INDEX)
        if index.get("signature") != signature:
            return None
        features = np.load(cache_dir / CACHE_ARRAY, mmap_mode="r")
    except (OSError, ValueError):
        return None
    offsets = np.asarray(index["offsets"], dtype=np.int64)
    if features.shape != (offsets[-1], len(FEATURE_NAMES)):
        return None
    return Pool(index["song_ids"], offsets, features)


def _write_cache(cache_dir: Path, pool: Pool, signature: dict) -> None:
    cache_dir.mkdir(parents=True, exist_ok=True)
    with storage.atomic_path(cache_dir / CACHE_ARRAY) as tmp, open(tmp, "wb") as handle:
        np.save(handle, pool.features)
    storage.write_json(cache_dir / CACHE_INDEX, {
        "signature": signature, "song_ids": pool.song_ids, "offsets": pool.offsets.tolist(),
    })
