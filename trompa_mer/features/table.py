"""The feature CSV, the one module that writes and reads it: a `;`-separated table per song,
`frameTime`, the 260 IS13 features, then any other descriptor family's columns (columns.FAMILIES), matched
by name (ours or DEAM's), never position.

A plain CSV (one header line of unquoted names, then numbers) is parsed by numpy; anything else, and
every malformed file, goes to pandas, whose reading decides the message. pandas is imported only then:
writing a CSV, as extraction does, and reading our own CSVs do without its 0.5 s import.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from trompa_mer import storage
from trompa_mer.errors import FeatureError, MissingFamilyError
from trompa_mer.features.columns import EXTRA_FAMILIES, FAMILIES, FEATURE_NAMES, TIME_COLUMN, deam_name
from trompa_mer.features.smilextract import CSV_SEPARATOR  # the original's: SMILExtract's own

FEATURE_SUFFIX = ".csv"
SAMPLE_SUFFIX = "-sample"
"""The original tool's feature files end in `-sample.csv`; the song id leaves it out."""


def feature_file(folder: Path, stem: str) -> Path:
    """Where the features of the audio file or song named `stem` go in `folder`."""
    return folder / f"{stem}{FEATURE_SUFFIX}"


def feature_entries(folder: Path) -> dict[str, os.DirEntry]:
    """Song id (`song_id_of`) → the directory entry of its feature CSV directly in `folder`, in song
    id order: every file named `*.csv` in any case (`A.CSV` too, as song ids ignore case), hidden
    files skipped. Two files of one song (`a.csv` and `A.CSV`, or `a-sample.csv`) are a FeatureError."""
    found: dict[str, os.DirEntry] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(".") or not entry.name.lower().endswith(FEATURE_SUFFIX) \
                    or not entry.is_file():
                continue
            song = _song_of(entry.name[:-len(FEATURE_SUFFIX)])
            if song in found:
                first, second = sorted([found[song].name, entry.name])
                raise FeatureError(f"two feature files for song {song} in {folder}: {first}, {second}")
            found[song] = entry
    return dict(sorted(found.items()))


def feature_files(folder: Path) -> dict[str, Path]:
    """Song id → the path of its feature CSV directly in `folder` (`feature_entries`)."""
    return {song: Path(entry.path) for song, entry in feature_entries(folder).items()}


def song_id_of(path: Path) -> str:
    """File name without `.csv` and without a `-sample` suffix, lower-cased."""
    return _song_of(path.stem)


def _song_of(stem: str) -> str:
    if stem.lower().endswith(SAMPLE_SUFFIX):
        stem = stem[: -len(SAMPLE_SUFFIX)]
    return stem.lower()


def write_feature_csv(path: Path, times: np.ndarray, features: np.ndarray,
                      names: Sequence[str] = FEATURE_NAMES) -> None:
    """`frameTime` then the columns `names` of features (n_windows, len(names)), no index; written
    atomically."""
    cells = np.column_stack([times, features]).astype(str)
    lines = [CSV_SEPARATOR.join((TIME_COLUMN, *names))]
    lines.extend(CSV_SEPARATOR.join(row) for row in cells)
    with storage.atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def select_features(table: pd.DataFrame, names: Sequence[str] = FEATURE_NAMES,
                    source: str = "features") -> np.ndarray:
    """(n_rows, len(names)) float64 of `table`'s columns `names`, also under DEAM's names.

    Extra columns are ignored; missing ones and non-numeric values raise FeatureError naming them.
    """
    import pandas as pd

    columns = []
    missing = []
    for name in names:
        if name in table.columns:
            columns.append(name)
        elif deam_name(name) in table.columns:
            columns.append(deam_name(name))
        else:
            missing.append(name)
    absent = [family for family in EXTRA_FAMILIES if set(FAMILIES[family]) & set(missing)]
    if absent and set(missing) <= {name for family in absent for name in FAMILIES[family]}:
        raise MissingFamilyError(f"{source} lacks the {' and '.join(absent)} descriptors the committee needs")
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise FeatureError(f"{source} lacks {len(missing)} feature columns: {shown}")
    selected = table[columns]
    try:
        values = selected.to_numpy(dtype=np.float64)
    except (ValueError, TypeError):
        bad = next(c for c in columns if pd.to_numeric(selected[c], errors="coerce").isna().any())
        raise FeatureError(f"{source} has non-numeric values in column {bad}") from None
    if not np.isfinite(values).all():
        bad = columns[int(np.where(~np.isfinite(values))[1][0])]
        raise FeatureError(f"{source} has missing or infinite values in column {bad}")
    return values


def read_table(path: Path | BinaryIO, source: str) -> pd.DataFrame:
    """Every column of a feature CSV, at least one row."""
    import pandas as pd

    try:
        table = pd.read_csv(path, sep=CSV_SEPARATOR)
    except FileNotFoundError:
        raise FeatureError(f"features file not found: {source}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise FeatureError(f"cannot read features file {source}: {exc}") from None
    if table.empty:
        raise FeatureError(f"features file has no rows: {source}")
    return table


def read_feature_csv(path: Path | BinaryIO, names: Sequence[str] = FEATURE_NAMES,
                     source: str | None = None) -> np.ndarray:
    """(n_windows, len(names)) features of one song's CSV (ours or DEAM's distributed format), read
    from a path or an open binary file; `source` names it in messages (default: the path)."""
    source = source or str(path)
    if isinstance(path, Path):
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise FeatureError(f"features file not found: {source}") from None
    else:
        data = path.read()
    plain = _plain_columns(data, names)
    if plain is not None:
        return plain
    return select_features(read_table(io.BytesIO(data), source), names, source)


def _plain_columns(data: bytes, names: Sequence[str]) -> np.ndarray | None:
    """The columns `names` (or DEAM's names) of a plain CSV, parsed by numpy to the same float64 as
    pandas; None when it is not plain or not clean (a name missing or repeated, a quoted name, a row
    of another width, a value that is no finite number, no rows), so that pandas reads it and says
    what is wrong."""
    header, _, body = data.partition(b"\n")
    try:
        columns = header.decode("utf-8").rstrip("\r").split(CSV_SEPARATOR)
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    position = {column: i for i, column in enumerate(columns)}
    if len(position) != len(columns):
        return None
    wanted = [position.get(name, position.get(deam_name(name))) for name in names]
    if None in wanted:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an empty body is a warning to numpy, a FeatureError to us
            values = np.loadtxt(io.StringIO(text), delimiter=CSV_SEPARATOR, comments=None, ndmin=2,
                                dtype=np.float64)
    except ValueError:
        return None
    if values.shape[0] == 0 or values.shape[1] != len(columns) or not np.isfinite(values).all():
        return None
    return np.ascontiguousarray(values[:, wanted])


def read_all_columns(path: Path) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Window start times (n,), the names of every other column, and their values (n, len(names)) of
    one feature CSV: what adding a family to it keeps."""
    table = read_table(path, str(path))
    names = [str(name) for name in table.columns if name != TIME_COLUMN]
    values = select_features(table, [TIME_COLUMN, *names], str(path))
    return values[:, 0], names, values[:, 1:]


def feature_columns(features: np.ndarray, columns: Sequence[str], names: Sequence[str],
                    source: str = "features") -> np.ndarray:
    """(n_windows, len(names)): the columns `names` of features (n_windows, len(columns)) whose
    columns are `columns`, as a committee trained on `names` takes them."""
    if list(names) == list(columns):
        return features
    import pandas as pd

    return select_features(pd.DataFrame(features, columns=list(columns)), names, source)


def read_timed_features(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Window start times (n,) s and features (n, 260) of one feature CSV (ours or DEAM's)."""
    values = read_feature_csv(path, (TIME_COLUMN, *FEATURE_NAMES))
    return values[:, 0], values[:, 1:]
