"""A features folder and a labels CSV → labelled windows: every window of a song gets the song's quadrant.

The labels CSV has a `song_id` and a `quadrant` column (Q1..Q4, any case), any other columns, and
optionally a group column (e.g. `artist`) whose songs folds never split. Song ids match the feature
files as the pool matches them (features/table.py: song_id_of): `MT0001.csv` is song `mt0001`.
"""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from trompa_mer.datasets.windows import GROUP_SONG, LabelledWindows
from trompa_mer.errors import LabelsError
from trompa_mer.features import table
from trompa_mer.features.columns import FEATURE_NAMES
from trompa_mer.names import N_CLASSES, QUADRANTS, quadrant_index
from trompa_mer.progress import progress_bar

SONG_COLUMN = "song_id"
QUADRANT_COLUMN = "quadrant"
REQUIRED_COLUMNS = (SONG_COLUMN, QUADRANT_COLUMN)
SOURCE = "features"
"""LabelledWindows.source of a labelled folder: the features are read, never extracted."""

SKIP_NO_FEATURES = "no features"
SKIP_NO_LABELS = "no labels"
"""Why a song is left out: labelled without a feature file, or a feature file without a label."""

FIRST_DATA_LINE = 2
"""Line of the first label in the file (line 1 is the header), for messages."""


@dataclass(frozen=True)
class SongLabel:
    """One song's label: quadrant index, group (its song id when there is no group column) and the
    line that gave it."""

    quadrant: int
    group: str
    line: int


def read_labels(path: Path, group_column: str | None = None) -> dict[str, SongLabel]:
    """Song id (as song_id_of names it) → its label. A song may be listed again with the same
    quadrant and group; anything else about the file is a LabelsError naming the file and line."""
    if not path.is_file():
        raise LabelsError(f"labels file not found: {path} (see --labels)")
    try:
        rows = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise LabelsError(f"cannot read labels file {path}: {exc}") from None
    rows.columns = [str(c).strip() for c in rows.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in rows.columns]
    if missing:
        raise LabelsError(f"{path} lacks the column(s) {', '.join(missing)} "
                          f"(expected {','.join(REQUIRED_COLUMNS)} and any others)")
    if group_column is not None and group_column not in rows.columns:
        raise LabelsError(f"{path} has no column {group_column!r} (see --group-column; its columns: "
                          f"{', '.join(rows.columns)})")
    groups = rows[group_column if group_column is not None else SONG_COLUMN]
    labels: dict[str, SongLabel] = {}
    for line, raw_song, name, raw_group in zip(range(FIRST_DATA_LINE, len(rows) + FIRST_DATA_LINE),
                                               rows[SONG_COLUMN], rows[QUADRANT_COLUMN], groups, strict=True):
        song = raw_song.strip()
        if not song:
            raise LabelsError(f"{path}, line {line}: empty {SONG_COLUMN}")
        key = table.song_id_of(Path(song + table.FEATURE_SUFFIX))
        group = raw_group.strip() if group_column is not None else key
        if not group:
            raise LabelsError(f"{path}, line {line}: empty {group_column} of song {song}")
        try:
            quadrant = quadrant_index(name.strip().upper())
        except ValueError:
            raise LabelsError(f"{path}, line {line}: unknown quadrant {name!r} of song {song} "
                              f"(expected one of {', '.join(QUADRANTS)}, any case)") from None
        first = labels.setdefault(key, SongLabel(quadrant, group, line))
        if first.quadrant != quadrant:
            raise LabelsError(f"{path}, line {line}: song {song} labelled {QUADRANTS[quadrant]}, but "
                              f"{QUADRANTS[first.quadrant]} on line {first.line}")
        if first.group != group:
            raise LabelsError(f"{path}, line {line}: song {song} has {group_column} {group!r}, but "
                              f"{first.group!r} on line {first.line}")
    return labels


def load_windows(labels_file: Path, feats: Path, group_column: str | None = None,
                 progress: bool = True, names: Sequence[str] = FEATURE_NAMES) -> LabelledWindows:
    """Labelled windows (the columns `names`) of every song with both a label and a feature file, in
    song-id order.

    `group_column`: the labels' column whose value groups songs for the folds (default: each song is
    its own group); groups compare exactly, after trimming spaces. `progress`: a tqdm bar on stderr.
    """
    labels = read_labels(labels_file, group_column)
    if not feats.is_dir():
        raise LabelsError(f"features folder not found: {feats} (see --feats)")
    files = table.feature_files(feats)
    skipped = {SKIP_NO_FEATURES: sorted(set(labels) - set(files)),
               SKIP_NO_LABELS: sorted(set(files) - set(labels))}
    songs = sorted(set(labels) & set(files))
    if not songs:
        raise LabelsError(f"no song of {labels_file} has a feature file in {feats} "
                          f"(feature files are named <song_id>{table.FEATURE_SUFFIX})")
    X, y, song_of_window, group_of_window = [], [], [], []
    for song in progress_bar("song", "reading features", progress, items=songs):
        features = table.read_feature_csv(files[song], names)
        label = labels[song]
        X.append(features)
        y.append(np.full(len(features), label.quadrant, dtype=np.int64))
        song_of_window.append(np.full(len(features), song, dtype=object))
        group_of_window.append(np.full(len(features), label.group, dtype=object))
    return LabelledWindows(np.concatenate(X), np.concatenate(y), np.concatenate(song_of_window),
                           np.concatenate(group_of_window), SOURCE, group_by=group_column or GROUP_SONG,
                           label_name="labels",
                           skipped={reason: ids for reason, ids in skipped.items() if ids})


def trained_songs(trained_on: dict, candidates: list[Path]) -> set[str] | None:
    """The songs a committee learnt from, by its manifest's `trained_on` (`corpus_record`): the labels
    of the first of `candidates` whose sha256 is the one recorded; None when none is (or the committee
    did not learn from a labelled folder)."""
    recorded = trained_on.get("labels_sha256")
    for path in candidates:
        if recorded and path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == recorded:
            return set(read_labels(path))
    return None


def corpus_record(data: LabelledWindows, labels_file: Path, feats: Path, group_column: str | None) -> dict:
    """What a manifest says about the labelled folder a committee learnt from (the default note first)."""
    _, first_window = np.unique(data.songs, return_index=True)
    return {
        "note": f"songs labelled by quadrant in {labels_file.name}",
        "labels": str(labels_file),
        "labels_sha256": hashlib.sha256(labels_file.read_bytes()).hexdigest(),
        "features": str(feats),
        "source": data.source,
        "group_column": group_column,
        "groups": data.n_groups,
        "songs_per_quadrant": dict(zip(QUADRANTS, np.bincount(data.y[first_window], minlength=N_CLASSES)
                                       .tolist(), strict=True)),
    }
