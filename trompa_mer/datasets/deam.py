"""DEAM's folder layout → labelled windows: dynamic annotations, quadrant labels, window features.

Features come from DEAM's own `features/<song_id>.csv` or from `DEAM_audio/MEMD_audio/<song_id>.<ext>`
through our extractor (1 s windows, 0.5 s hop), cached in a folder so re-runs extract nothing.
"""

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from trompa_mer.datasets.deam_layout import AUDIO_DIR, DYNAMIC_DIR
from trompa_mer.datasets.windows import LabelledWindows
from trompa_mer.errors import DeamError
from trompa_mer.features import extract, smile, table
from trompa_mer.features.columns import IS13
from trompa_mer.names import quadrant_of
from trompa_mer.progress import progress_bar

FEATURES_DIR = "features"
"""DEAM's own openSMILE features, `<song_id>.csv`, relative to the DEAM folder."""
CACHE_DIR = "features_trompa"
"""Default cache of our extractor's CSVs of DEAM's audio, relative to the DEAM folder."""
AROUSAL_FILE = "arousal.csv"
VALENCE_FILE = "valence.csv"
SONG_COLUMN = "song_id"
SAMPLE_COLUMN = re.compile(r"^sample_(?P<ms>\d+)ms$")
"""Annotation columns: `sample_<t·1000>ms` holds the value at t seconds."""

SOURCE_FEATURES = "features"
SOURCE_AUDIO = "audio"
SOURCES = (SOURCE_FEATURES, SOURCE_AUDIO)

HOP_MS = 500
"""DEAM's annotation grid (2 Hz), which is also the hop of the windows we label."""
WINDOW_SECONDS = 1.0
HOP_SECONDS = HOP_MS / 1000
"""Our extractor's windows on DEAM audio: the original's 1 s windows with 50 % overlap."""

NOTE = "DEAM (MediaEval Database for Emotional Analysis in Music)"
"""The manifest's default description of the corpus."""

SKIP_NO_ANNOTATIONS = "no annotations"
SKIP_NO_WINDOWS = "no annotated window"
SKIP_EXTRACTION = "extraction failed"
"""Why a song with features (or audio) is left out; counted in the manifest."""


# --- annotations --------------------------------------------------------------------------------


@dataclass
class Annotations:
    """Dynamic annotations aligned on one time grid.

    songs (n_songs,) ids as text; times_ms (n_times,) int; valence and arousal (n_songs, n_times)
    floats, NaN where a song's series has no value (it ended, or the song is absent from one file).
    """

    songs: tuple[str, ...]
    times_ms: np.ndarray
    valence: np.ndarray
    arousal: np.ndarray

    def __post_init__(self) -> None:
        self._row = {song: i for i, song in enumerate(self.songs)}

    def __contains__(self, song: str) -> bool:
        return song in self._row

    def of(self, song: str) -> tuple[np.ndarray, np.ndarray]:
        """(valence, arousal) of one song, each (n_times,) with NaN where absent."""
        row = self._row[song]
        return self.valence[row], self.arousal[row]


def dynamic_folder(deam: Path) -> Path:
    return deam / DYNAMIC_DIR


def read_dynamic(path: Path) -> pd.DataFrame:
    """One DEAM dynamic annotation file → (n_songs, n_times) floats, index song id (str),
    columns the annotation times in ms (int). Short rows are padded with NaN."""
    if not path.is_file():
        raise DeamError(f"DEAM annotations not found: {path}")
    try:
        table = pd.read_csv(path, dtype={SONG_COLUMN: str}, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise DeamError(f"cannot read DEAM annotations {path}: {exc}") from None
    if SONG_COLUMN not in table.columns:
        raise DeamError(f"{path} has no {SONG_COLUMN} column")
    times = {}
    for column in table.columns.drop(SONG_COLUMN):
        match = SAMPLE_COLUMN.match(str(column).strip())
        if match is None:
            raise DeamError(f"{path}: unexpected column {column!r} (expected sample_<ms>ms)")
        times[column] = int(match["ms"])
    songs = table.pop(SONG_COLUMN).str.strip()
    if songs.isna().any() or songs.duplicated().any():
        raise DeamError(f"{path}: missing or repeated song ids")
    try:
        values = table.apply(pd.to_numeric, errors="raise").astype(np.float64)
    except (ValueError, TypeError):
        raise DeamError(f"{path} has non-numeric annotation values") from None
    values.index = pd.Index(songs, name=SONG_COLUMN)
    return values.rename(columns=times)


def read_annotations(deam: Path) -> Annotations:
    """Arousal and valence of a DEAM folder, aligned on the union of their songs and times."""
    folder = dynamic_folder(deam)
    arousal = read_dynamic(folder / AROUSAL_FILE)
    valence = read_dynamic(folder / VALENCE_FILE)
    valence, arousal = valence.align(arousal, join="outer")
    valence, arousal = valence.sort_index(axis=1), arousal.sort_index(axis=1)
    return Annotations(tuple(valence.index), valence.columns.to_numpy(np.int64),
                       valence.to_numpy(), arousal.to_numpy())


def annotation_digests(deam: Path) -> dict[str, str]:
    """sha256 of the two annotation files, so a manifest names the exact corpus it learnt from."""
    folder = dynamic_folder(deam)
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
            for name in (AROUSAL_FILE, VALENCE_FILE)}


def corpus_record(deam: Path, source: str) -> dict:
    """What a manifest says about the DEAM folder a committee learnt from (the default note first)."""
    record = {"note": NOTE, "deam": str(deam), "source": source,
              "annotations_sha256": annotation_digests(deam)}
    if source == SOURCE_AUDIO:
        record["extraction"] = {"window_seconds": WINDOW_SECONDS, "hop_seconds": HOP_SECONDS}
    return record


# --- labels (pure) ------------------------------------------------------------------------------


def grid_ms(times: np.ndarray, hop_ms: int = HOP_MS) -> np.ndarray:
    """Window start times (n,) s → the nearest point of the annotation grid, (n,) int ms."""
    return (np.rint(np.asarray(times, dtype=np.float64) * 1000 / hop_ms) * hop_ms).astype(np.int64)


def window_labels(window_ms: np.ndarray, annotation_ms: np.ndarray, valence: np.ndarray,
                  arousal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which windows are annotated, and their quadrants, as the original: the window starting at
    t ms takes `sample_<t>ms` of both series.

    window_ms (n_windows,) int; annotation_ms (n_times,) int; valence, arousal (n_times,) with NaN
    where a series has no value. A window without both values is dropped, so where the two series
    differ in length the shorter wins. Returns the kept window indices (n_kept,) and their class
    indices (n_kept,) (quadrant_of: 0 counts as positive).
    """
    column = {int(ms): i for i, ms in enumerate(annotation_ms)}
    both = ~(np.isnan(valence) | np.isnan(arousal))
    kept, labels = [], []
    for index, ms in enumerate(np.asarray(window_ms, dtype=np.int64)):
        at = column.get(int(ms))
        if at is not None and both[at]:
            kept.append(index)
            labels.append(quadrant_of(valence[at], arousal[at]))
    return np.array(kept, dtype=np.int64), np.array(labels, dtype=np.int64)


# --- features -----------------------------------------------------------------------------------


def song_order(song: str) -> tuple:
    """Numeric ids in numeric order (2 before 10), then any others by name."""
    return (0, int(song), "") if song.isdigit() else (1, 0, song)


def check_folder(deam: Path) -> None:
    if not deam.is_dir():
        raise DeamError(f"DEAM folder not found: {deam} (see --deam)")


def choose_source(deam: Path, requested: str | None) -> tuple[str, bool]:
    """The feature source to use and whether both exist. Default: DEAM's `features/` when present."""
    present = {SOURCE_FEATURES: (deam / FEATURES_DIR).is_dir(), SOURCE_AUDIO: (deam / AUDIO_DIR).is_dir()}
    both = all(present.values())
    if requested is not None:
        if not present[requested]:
            where = FEATURES_DIR if requested == SOURCE_FEATURES else AUDIO_DIR
            raise DeamError(f"--source {requested}: {deam / where} not found")
        return requested, both
    for source in SOURCES:
        if present[source]:
            return source, both
    raise DeamError(f"{deam} has neither {FEATURES_DIR}/ nor {AUDIO_DIR}/")


def stale(audio: Path, cached: Path) -> bool:
    """The cached CSV is missing or older than its audio file."""
    return not cached.is_file() or cached.stat().st_mtime < audio.stat().st_mtime


def extract_audio(sources: Iterable[Path], cache: Path, command: smile.SmileCommand, jobs: int,
                  progress: bool) -> dict[Path, str]:
    """Extract every audio file whose cached `<stem>.csv` is missing or stale; failures by file."""
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DeamError(f"cannot create the feature cache {cache}: {exc.strerror} (see --cache)") from None
    todo = [s for s in sources if stale(s, table.feature_file(cache, s.stem))]
    if not todo:
        return {}
    report = extract.extract_batch(todo, cache, command, WINDOW_SECONDS, HOP_SECONDS, jobs=jobs,
                                   overwrite=True, progress=progress, families=(IS13,))
    return report.failed


def load_windows(deam: Path, source: str, cache: Path | None = None,
                 command: smile.SmileCommand | None = None, jobs: int = 1,
                 progress: bool = True) -> LabelledWindows:
    """Labelled windows of a DEAM folder from `source` ('features' or 'audio').

    Window times. DEAM's own files: `frameTime`, on its exact 0.5 s grid, snapped to the nearest grid
    point. Our extractor's files: window i starts at i × 0.5 s. The times our extractor writes drift
    off the grid when openSMILE rounds its 10 ms frame step to whole samples (22050 Hz: 14.03, 43.1),
    so they are not looked up; window i nominally starts at frame 50·i, i.e. i × 0.5 s.
    `cache`: folder of our extractor's CSVs (default `<deam>/features_trompa`; a CSV older than its
    audio is extracted again); `command`: the SMILExtract to run (needed for 'audio'); `progress`:
    tqdm bars on stderr.
    """
    check_folder(deam)
    annotations = read_annotations(deam)
    skipped: dict[str, list[str]] = {}
    if source == SOURCE_FEATURES:
        files = {p.stem: p for p in (deam / FEATURES_DIR).glob(f"*{table.FEATURE_SUFFIX}")}
    else:
        if command is None:
            raise DeamError("extracting features from DEAM's audio needs a SMILExtract command")
        audio = {p.stem: p for p in extract.audio_files([deam / AUDIO_DIR])}
        skipped[SKIP_NO_ANNOTATIONS] = sorted((s for s in audio if s not in annotations), key=song_order)
        cache = cache or deam / CACHE_DIR
        failed = extract_audio((audio[s] for s in sorted(audio, key=song_order) if s in annotations),
                               cache, command, jobs, progress)
        skipped[SKIP_EXTRACTION] = sorted((p.stem for p in failed), key=song_order)
        files = {s: table.feature_file(cache, s) for s in audio
                 if s in annotations and audio[s] not in failed}
    X, y, songs = [], [], []
    for song in progress_bar("song", "reading features", progress, items=sorted(files, key=song_order)):
        if song not in annotations:
            skipped.setdefault(SKIP_NO_ANNOTATIONS, []).append(song)
            continue
        times, features = table.read_timed_features(files[song])
        window_ms = grid_ms(times) if source == SOURCE_FEATURES else np.arange(len(times)) * HOP_MS
        kept, labels = window_labels(window_ms, annotations.times_ms, *annotations.of(song))
        if not len(kept):
            skipped.setdefault(SKIP_NO_WINDOWS, []).append(song)
            continue
        X.append(features[kept])
        y.append(labels)
        songs.append(np.full(len(kept), song, dtype=object))
    if not X:
        raise DeamError(f"no song in {deam} has both {source} and annotated windows")
    song_of_window = np.concatenate(songs)
    return LabelledWindows(np.concatenate(X), np.concatenate(y), song_of_window, song_of_window, source,
                           skipped={reason: ids for reason, ids in skipped.items() if ids})

