"""The song pool: every song's feature CSV in `data/feats`, kept as float32 rows in a binary store.

A pool reads the columns a committee reads (260 IS13 features by default); each set of columns has
its own store: the pool cache folder for IS13 alone, a subfolder named by the families otherwise
(`is13+vibenet`). A store holds segments, raw little-endian float32 files of (n_rows, n_columns)
rows that are never changed once written, and an index: a sha256 line, then JSON naming, for each
song, its CSV (name, size, mtime_ns), its segment, row range and the crc32 of its rows, and for each
segment its file identity (inode, size, mtime_ns, ctime_ns). Loading reads only the CSVs that are
new or whose size or mtime changed, into one new segment; a removed CSV just drops its song.

Checking every CSV's size and mtime costs a stat each (10 µs here: a second on 100,000 songs), so
the index also records the features folder as the last full check found it (inode, mtime) and when
that check began. Adding, removing or renaming a CSV changes the folder's mtime; while it has not
changed, the folder was last changed well before that check (`RACY_NS`, as git guards its index) and
the check is under `FULL_CHECK_SECONDS` old, a load takes the songs from the index without looking
at the CSVs. A CSV rewritten in place (not written to a temporary file and renamed over, as
extraction does) is therefore noticed at the next full check, at most `FULL_CHECK_SECONDS` (an
hour) later, or at once by a load asked for a `full_check`.

Nothing in the store is trusted on its word: an index whose digest is wrong is ignored (every CSV
is read again); a segment whose file identity differs from the index has each song's crc32
checked, and songs that fail are read from their CSVs again; every read of a song's rows checks
its crc32 too, falls back to the CSV, and deletes the damaged segment so the next load rebuilds it.

Segments that have become small next to the new one, or mostly dead, are merged into it, so there
are O(log n) segments and each row is copied O(log n) times over the pool's growth.
"""

import hashlib
import json
import os
import re
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import MappingProxyType

import numpy as np

from trompa_mer import storage
from trompa_mer.cores import available_cores
from trompa_mer.errors import FeatureError, MissingFamilyError
from trompa_mer.features import table
from trompa_mer.features.columns import FEATURE_NAMES, families_of, family_names
from trompa_mer.progress import progress_bar

INDEX_FILE = "pool.index"
"""The store's index: a sha256 hex line, then the JSON it digests."""
SEGMENT_PREFIX = "seg-"
SEGMENT_SUFFIX = ".f32"
STORE_VERSION = 1
DTYPE = np.dtype("<f4")
MERGE_FACTOR = 2
"""Walking back from the newest, an older segment is merged into the new one unless it holds
MERGE_FACTOR times the songs carried so far."""
PARALLEL_READ_MIN = 64
"""Below this many CSVs to read, processes cost more than they save."""


FULL_CHECK_SECONDS = 3600.0
"""How old the last look at every CSV may be before a load looks again (see the module's text): a
full check costs seconds on 100,000 songs, and only a CSV rewritten in place needs it."""
RACY_NS = 1_000_000_000
"""The folder's mtime must be older than the full check that recorded it by this much to be trusted:
a change in the same clock tick as an earlier one leaves the mtime as it was."""


SEGMENT_PATTERN = re.compile(r"seg-[0-9]{6,}\.f32")
"""A segment's file name, matched whole: an index naming any other file is not followed."""


def store_folder(cache_dir: Path, names: Sequence[str]) -> Path:
    """Where the store of the columns `names` lies: `cache_dir` for IS13 alone, else a subfolder
    named by their families (or by a digest of the names, when they are not whole families)."""
    names = tuple(names)
    if names == FEATURE_NAMES:
        return cache_dir
    families = families_of(names)
    if family_names(families) == names:
        return cache_dir / "+".join(families)
    return cache_dir / ("columns-" + hashlib.sha256("\n".join(names).encode()).hexdigest()[:16])


def segment_name(number: int) -> str:
    """The file name of segment `number`."""
    return f"{SEGMENT_PREFIX}{number:06d}{SEGMENT_SUFFIX}"


@dataclass(frozen=True)
class CsvFile:
    """A song's feature CSV as last seen: its name in the features folder, size and mtime."""

    name: str
    size: int
    mtime_ns: int


def csv_files(feats_dir: Path) -> dict[str, CsvFile]:
    """Song id → its CSV as it is now (`table.feature_files`: any case of `.csv`, hidden files
    skipped, two files for one song an error)."""
    found = {}
    for song, entry in table.feature_entries(feats_dir).items():
        stat = entry.stat()
        found[song] = CsvFile(entry.name, stat.st_size, stat.st_mtime_ns)
    return found


def _read_csv(path: Path, names: tuple[str, ...]) -> np.ndarray:
    """(n_windows, len(names)) float32 rows of one song's CSV."""
    return np.ascontiguousarray(table.read_feature_csv(path, names), dtype=DTYPE)


def _read_fresh(path: Path, names: tuple[str, ...]) -> np.ndarray | FeatureError:
    """`_read_csv`, or the FeatureError saying why the CSV cannot be read: an empty, half-copied or
    unreadable CSV leaves its song out of the pool instead of failing every load. A CSV that lacks a
    family the committee reads is not skipped: it is a MissingFamilyError, whose fix (adding the family
    from the audio) is the operator's, for the whole catalogue."""
    try:
        return _read_csv(path, names)
    except MissingFamilyError:
        raise
    except FeatureError as exc:
        return exc
    except OSError as exc:
        return FeatureError(f"cannot read features file {path}: {exc.strerror or exc}")


def _file_identity(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]


@dataclass
class Location:
    """Where a song's rows are: a segment, the first row, the row count and their crc32."""

    segment: str
    start: int
    rows: int
    crc: int


@dataclass
class Update:
    """What a load did to the store: songs whose CSV it read, songs it dropped, segments written."""

    read: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    distrusted: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    """Songs left out because their CSV cannot be read (yet: it may be a copy in progress), with why;
    the next load tries them again."""


@dataclass(frozen=True)
class StoredSongs:
    """A pool's songs in id order, as columns: each one's CSV name, its segment (an index into
    `segments`), its first row, row count and rows' crc32."""

    ids: list[str]
    csv: list[str]
    segments: list[str]
    segment: np.ndarray
    start: np.ndarray
    rows: np.ndarray
    crc: np.ndarray

    @classmethod
    def of_index(cls, index: dict) -> "StoredSongs":
        """The songs an index names, straight from its columns."""
        columns = _song_columns(index)
        ids = columns["id"]
        return cls(ids, columns["csv"], [s["name"] for s in index["segments"]],
                   np.array(columns["segment"], dtype=np.int64), np.array(columns["start"], dtype=np.int64),
                   np.array(columns["rows"], dtype=np.uint64), np.array(columns["crc"], dtype=np.uint64))

    @classmethod
    def of(cls, files: dict[str, CsvFile], locations: dict[str, Location]) -> "StoredSongs":
        """The songs of `files` (in song id order), each where `locations` says."""
        ids = list(files)
        segments = sorted({locations[s].segment for s in ids})
        number = {name: i for i, name in enumerate(segments)}
        return cls(ids, [files[s].name for s in ids], segments,
                   np.array([number[locations[s].segment] for s in ids], dtype=np.int64),
                   np.array([locations[s].start for s in ids], dtype=np.int64),
                   np.array([locations[s].rows for s in ids], dtype=np.uint64),
                   np.array([locations[s].crc for s in ids], dtype=np.uint64))

    def location(self, i: int) -> Location:
        """Where the `i`-th song's rows are."""
        return Location(self.segments[self.segment[i]], int(self.start[i]), int(self.rows[i]),
                        int(self.crc[i]))


_SONG_COLUMNS = ("csv", "size", "mtime_ns", "segment", "start", "rows", "crc")


def _song_columns(index: dict) -> dict[str, list]:
    """The index's columns of its songs ("id" and _SONG_COLUMNS); ValueError when their lengths differ."""
    columns = index["songs"]
    if {len(columns[key]) for key in _SONG_COLUMNS} != {len(columns["id"])}:
        raise ValueError("the index's song columns differ in length")
    return columns


class Pool:
    """Songs in id order, each with its windows (rows of the columns `names`).

    Rows are read from the store on demand (`windows`), a song at a time, each checked by its crc32.
    The pool holds its segments open until `close` (or the end of a `with` block).
    """

    def __init__(self, feats_dir: Path, cache_dir: Path, songs: "StoredSongs", update: Update,
                 names: tuple[str, ...], checked: dict) -> None:
        self.song_ids = songs.ids
        self.names = names
        self.update = update
        self._checked = checked
        self._index = _file_identity(cache_dir / INDEX_FILE)  # under the store's lock: the one just left
        self._feats_dir, self._cache_dir = feats_dir, cache_dir
        self._songs = songs
        self._position = dict(zip(songs.ids, range(len(songs.ids)), strict=True))
        # Open now, under the store's lock: a later update may delete a segment we still read.
        self._files = {songs.segments[i]: open(cache_dir / songs.segments[i], "rb", buffering=0)
                       for i in np.unique(songs.segment).tolist()}
        self.closed = False

    def close(self) -> None:
        """Close the segment files; reading rows afterwards is an error. Closing twice is harmless."""
        self.closed = True
        files, self._files = self._files, {}
        for handle in files.values():
            handle.close()

    def __enter__(self) -> "Pool":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __contains__(self, song_id: str) -> bool:
        return song_id in self._position

    @property
    def store(self) -> Path:
        """The folder of this pool's store (`store_folder`): what is derived from its rows lies there."""
        return self._cache_dir

    def current(self) -> bool:
        """Whether a load now would give this pool without looking at a CSV: the store's index is
        still the one this load left, and its full check still holds (see the module's text). What a
        long-running process derived from the pool stays good while this holds."""
        try:
            index, folder = _file_identity(self._cache_dir / INDEX_FILE), _folder_identity(self._feats_dir)
        except FileNotFoundError:
            return False
        return index == self._index and _checked(self._checked, folder)

    @property
    def positions(self) -> Mapping[str, int]:
        """Song id → its index in `song_ids` (read only)."""
        return MappingProxyType(self._position)

    def csv_path(self, song_id: str) -> Path:
        """The song's feature CSV, as the pool's load found it."""
        return self._feats_dir / self._songs.csv[self._position[song_id]]

    def _where(self, song_ids: Iterable[str]) -> np.ndarray:
        """Each song's position in the pool's columns."""
        if song_ids is self.song_ids:
            return np.arange(len(song_ids))
        return np.array([self._position[s] for s in song_ids], dtype=np.int64)

    def fingerprints(self, song_ids: Iterable[str]) -> np.ndarray:
        """(n_songs,) uint64 of each song's rows as stored: their crc32 and row count. Equal
        fingerprints mean equal rows, but for a crc32 collision (one chance in 2**32 per change)."""
        where = self._where(song_ids)
        return (self._songs.crc[where] << np.uint64(32)) | self._songs.rows[where]

    def n_windows(self, song_ids: Iterable[str]) -> np.ndarray:
        """(n_songs,) window count of each song."""
        return self._songs.rows[self._where(song_ids)].astype(np.int64)

    def storage_order(self, song_ids: Iterable[str]) -> list[str]:
        """`song_ids` sorted by where their rows lie in the store, for sequential reads."""
        song_ids = list(song_ids)
        where = self._where(song_ids)
        order = np.lexsort((self._songs.start[where], self._songs.segment[where]))
        return [song_ids[i] for i in order.tolist()]

    def rows(self, song_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Rows (n_windows, len(names)) float32 of the given songs, in that order, and their offsets
        (n_songs + 1,): song i owns rows offsets[i]:offsets[i+1]."""
        if self.closed:
            raise ValueError("the pool is closed")
        offsets = np.concatenate([[0], np.cumsum(self.n_windows(song_ids))]).astype(np.int64)
        out = np.empty((offsets[-1], len(self.names)), DTYPE)
        for i, song in enumerate(song_ids):
            self._fill(song, out[offsets[i]:offsets[i + 1]])
        return out, offsets

    def windows(self, song_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Rows (n_windows, len(names)) float64 of the given songs, in that order, and their offsets
        (n_songs + 1,): song i owns rows offsets[i]:offsets[i+1]."""
        rows, offsets = self.rows(song_ids)
        return rows.astype(np.float64), offsets

    def _fill(self, song: str, block: np.ndarray) -> None:
        """Read a song's rows into `block`; a failed crc32 reads its CSV instead and deletes the
        damaged segment, which the next load rebuilds."""
        location = self._songs.location(self._position[song])
        if _read_block(self._files[location.segment].fileno(), location, block):
            return
        (self._cache_dir / location.segment).unlink(missing_ok=True)
        csv = self.csv_path(song)
        fresh = _read_csv(csv, self.names)
        if fresh.shape != block.shape:
            raise FeatureError(f"{csv.name} changed while the pool was read: run again")
        block[:] = fresh


def _read_index(cache_dir: Path, width: int) -> dict | None:
    """The index if present, intact and of this version; None means: trust nothing."""
    try:
        raw = (cache_dir / INDEX_FILE).read_bytes()
    except FileNotFoundError:
        return None
    digest, _, body = raw.partition(b"\n")
    if hashlib.sha256(body).hexdigest().encode() != digest:
        return None
    try:
        index = storage.parse_json(body)
    except ValueError:
        return None
    if not isinstance(index, dict) or index.get("version") != STORE_VERSION \
            or index.get("features") != width or not _names_own_segments(index):
        return None
    return index


def _names_own_segments(index: dict) -> bool:
    """True when every segment the index names is a plain name of this store's pattern, so that no
    hand-edited index can make a load read or delete a file outside the store."""
    segments, next_segment = index.get("segments"), index.get("next_segment")
    if not isinstance(segments, list) or type(next_segment) is not int or next_segment < 0:
        return False
    return all(isinstance(s, dict) and isinstance(s.get("name"), str) and SEGMENT_PATTERN.fullmatch(s["name"])
               for s in segments)


def _write_index(cache_dir: Path, index: dict) -> None:
    body = json.dumps(index, separators=(",", ":")).encode()
    with storage.atomic_open(cache_dir / INDEX_FILE, "wb") as handle:
        handle.write(hashlib.sha256(body).hexdigest().encode() + b"\n" + body)


def _index_songs(index: dict) -> tuple[dict[str, CsvFile], dict[str, Location]]:
    """Song id → its CSV and its location, in song id order, from the index's columns."""
    columns = _song_columns(index)
    segments = [s["name"] for s in index["segments"]]
    ids = columns["id"]
    songs = dict(zip(ids, map(CsvFile, columns["csv"], columns["size"], columns["mtime_ns"]), strict=True))
    locations = dict(zip(ids, map(Location, map(segments.__getitem__, columns["segment"]), columns["start"],
                                  columns["rows"], columns["crc"]), strict=True))
    return songs, locations


def _folder_identity(feats_dir: Path) -> list[int]:
    stat = feats_dir.stat()
    return [stat.st_ino, stat.st_mtime_ns]


def _checked(check: object, folder: list[int]) -> bool:
    """Whether a full check (an index's record of it) still holds for the features folder (`folder`,
    its identity now): the folder is as that check found it, had not changed for RACY_NS before it,
    the check is under FULL_CHECK_SECONDS old and left no song to retry."""
    if not isinstance(check, dict) or check.get("folder") != folder or check.get("retry") is not False:
        return False
    began = check.get("began_ns")
    return type(began) is int and folder[1] + RACY_NS < began \
        and time.time_ns() - began < FULL_CHECK_SECONDS * 1e9


def _index_of(songs: dict[str, CsvFile], locations: dict[str, Location], identities: dict[str, list],
              next_segment: int, width: int, checked: dict) -> dict:
    order = sorted(songs)
    names = sorted(identities)
    number = {name: i for i, name in enumerate(names)}
    return {
        "version": STORE_VERSION, "features": width, "next_segment": next_segment, "checked": checked,
        "segments": [{"name": n, "file": identities[n]} for n in names],
        "songs": {
            "id": order,
            "csv": [songs[s].name for s in order],
            "size": [songs[s].size for s in order],
            "mtime_ns": [songs[s].mtime_ns for s in order],
            "segment": [number[locations[s].segment] for s in order],
            "start": [locations[s].start for s in order],
            "rows": [locations[s].rows for s in order],
            "crc": [locations[s].crc for s in order],
        },
    }


def _read_block(fd: int, location: Location, block: np.ndarray) -> bool:
    """Read a song's rows from an open segment into `block`; False if short or failing the crc32."""
    got = os.preadv(fd, [block], location.start * block.shape[1] * DTYPE.itemsize)
    return got == block.nbytes and zlib.crc32(block) == location.crc


def _stored_block(fd: int, location: Location, width: int) -> np.ndarray | None:
    """A song's rows from an open segment, or None if they are missing or fail their crc32."""
    block = np.empty((location.rows, width), DTYPE)
    return block if _read_block(fd, location, block) else None


def _segments_intact(cache_dir: Path, index: dict) -> bool:
    """Whether every segment the index names is the file it recorded."""
    try:
        return all(_file_identity(cache_dir / s["name"]) == s["file"] for s in index["segments"])
    except FileNotFoundError:
        return False


def _trusted_segments(cache_dir: Path, index: dict, locations: dict[str, Location],
                      update: Update, width: int) -> dict[str, list]:
    """Segment → identity of each segment the songs may keep using. A segment whose file is not
    the one the index names keeps only the songs whose rows pass their crc32 check."""
    trusted = {}
    for segment in index["segments"]:
        name, path = segment["name"], cache_dir / segment["name"]
        try:
            identity = _file_identity(path)
        except FileNotFoundError:
            continue
        if identity != segment["file"]:
            update.distrusted.append(name)
            with open(path, "rb", buffering=0) as handle:
                for song, location in list(locations.items()):
                    if location.segment == name and _stored_block(handle.fileno(), location, width) is None:
                        del locations[song]
        trusted[name] = identity
    for song in [s for s, loc in locations.items() if loc.segment not in trusted]:
        del locations[song]
    return trusted


def _fresh_blocks(feats_dir: Path, files: list[str], jobs: int,
                  names: tuple[str, ...]) -> Iterator[np.ndarray | FeatureError]:
    """Rows (the columns `names`) of each CSV in `files` (or why it cannot be read), in order;
    several processes parse when there are many."""
    paths = [feats_dir / name for name in files]
    read = partial(_read_fresh, names=names)
    if jobs < 2 or len(paths) < PARALLEL_READ_MIN:
        yield from map(read, paths)
        return
    executor = ProcessPoolExecutor(max_workers=jobs)
    try:
        yield from executor.map(read, paths, chunksize=16)
    finally:
        executor.shutdown(cancel_futures=True)


def _merged_segments(locations: dict[str, Location], identities: dict[str, list],
                     new_songs: int, row_bytes: int) -> set[str]:
    """Older segments to fold into the new one: walking from the newest, each holding fewer than
    MERGE_FACTOR times the songs carried so far; and any whose rows are mostly dead."""
    songs, rows = dict.fromkeys(identities, 0), dict.fromkeys(identities, 0)
    for location in locations.values():
        songs[location.segment] += 1
        rows[location.segment] += location.rows
    merged, carried = set(), new_songs
    for name in sorted(identities, reverse=True):
        if songs[name] >= MERGE_FACTOR * carried:
            break
        merged.add(name)
        carried += songs[name]
    merged.update(name for name, (_, size, _, _) in identities.items() if 2 * rows[name] * row_bytes < size)
    return merged


def _write_segment(feats_dir: Path, cache_dir: Path, name: str, songs: dict[str, CsvFile],
                   moved: dict[str, Location], fresh: list[str], jobs: int,
                   progress: bool, names: tuple[str, ...], skipped: dict[str, str]) -> dict[str, Location]:
    """One segment file holding the `moved` songs' stored rows and the `fresh` songs' CSV rows,
    in song id order; returns where each song now is. Fresh songs whose CSV cannot be read go
    into `skipped`, with why."""
    written: dict[str, Location] = {}
    fresh_blocks = _fresh_blocks(feats_dir, [songs[s].name for s in fresh], jobs, names)
    sources = {segment: open(cache_dir / segment, "rb", buffering=0)
               for segment in {location.segment for location in moved.values()}}
    start = 0
    try:
        with storage.atomic_open(cache_dir / name, "wb") as out:
            for song in progress_bar("song", "storing the pool", progress, items=sorted([*moved, *fresh])):
                if song in moved:
                    block = _stored_block(sources[moved[song].segment].fileno(), moved[song], len(names))
                    if block is None:  # damaged since the index was checked: the CSV is the truth
                        block = _read_csv(feats_dir / songs[song].name, names)
                else:
                    block = next(fresh_blocks)
                    if isinstance(block, FeatureError):
                        skipped[song] = str(block)
                        continue
                out.write(block.data)
                written[song] = Location(name, start, len(block), zlib.crc32(block))
                start += len(block)
    finally:
        for handle in sources.values():
            handle.close()
        fresh_blocks.close()
    return written


def _collect_garbage(cache_dir: Path, keep: Iterable[str]) -> None:
    """Delete segments no index names and temporary files of killed writers."""
    keep = set(keep)
    for path in cache_dir.iterdir():
        name = path.name
        stale_segment = name.startswith(SEGMENT_PREFIX) and name.endswith(SEGMENT_SUFFIX) and name not in keep
        stale_temporary = name.endswith(".tmp") and name.startswith((f".{SEGMENT_PREFIX}", f".{INDEX_FILE}."))
        if stale_segment or stale_temporary:
            path.unlink(missing_ok=True)


def load_pool(feats_dir: Path, cache_dir: Path, jobs: int | None = None, progress: bool = False,
              names: Sequence[str] = FEATURE_NAMES, full_check: bool = False) -> Pool:
    """The pool of `feats_dir` (the columns `names`), its store under `cache_dir` (store_folder)
    brought up to date: only CSVs that are new or changed (size, mtime) are read, with `jobs`
    processes (default: every core); `progress` shows it. Every CSV is looked at when `full_check`
    or when the last full check no longer holds (see the module's text)."""
    if not feats_dir.is_dir():
        raise FeatureError(f"features folder not found: {feats_dir}")
    names = tuple(names)
    width = len(names)
    cache_dir = store_folder(cache_dir, names)
    cache_dir.mkdir(parents=True, exist_ok=True)
    update = Update()
    with storage.folder_lock(cache_dir):
        index = _read_index(cache_dir, width)
        folder = _folder_identity(feats_dir)
        trusted = not full_check and index is not None and _checked(index.get("checked"), folder)
        if trusted and _segments_intact(cache_dir, index):  # nothing to look at, nothing to change
            return Pool(feats_dir, cache_dir, StoredSongs.of_index(index), update, names, index["checked"])
        known, locations = _index_songs(index) if index else ({}, {})
        if trusted:
            files, checked = known, index["checked"]
        else:
            checked = {"folder": folder, "began_ns": time.time_ns()}
            files = csv_files(feats_dir)
        identities = _trusted_segments(cache_dir, index, locations, update, width) if index else {}
        if files is not known:
            update.removed = sorted(s for s in known if s not in files)
            for song in list(locations):
                if files.get(song) != known[song]:
                    del locations[song]
        update.read = [s for s in files if s not in locations]  # files are in song id order
        next_segment = index["next_segment"] if index else 0
        if update.read:
            name = segment_name(next_segment)
            next_segment += 1
            merged = _merged_segments(locations, identities, len(update.read), width * DTYPE.itemsize)
            moved = {s: loc for s, loc in locations.items() if loc.segment in merged}
            locations.update(_write_segment(feats_dir, cache_dir, name, files, moved, update.read,
                                            jobs or available_cores(), progress, names, update.skipped))
            for song in update.skipped:  # not indexed: the next load reads them again
                del files[song]
            identities = {n: i for n, i in identities.items() if n not in merged}
            identities[name] = _file_identity(cache_dir / name)
            update.written.append(name)
        checked = {**checked, "retry": bool(update.skipped)}
        changed = update.read or update.removed or update.distrusted
        if index is None or changed or checked != index.get("checked"):
            _write_index(cache_dir, _index_of(files, locations, identities, next_segment, width, checked))
        _collect_garbage(cache_dir, identities)
        return Pool(feats_dir, cache_dir, StoredSongs.of(files, locations), update, names, checked)
