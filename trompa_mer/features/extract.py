"""Audio → openSMILE frames → window statistics (IS13), and any other descriptor family per window
(vibenet, musicnn) from the same decoded audio → feature CSV, for one file or a whole folder."""

import contextlib
import sys
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trompa_mer import storage
from trompa_mer.defaults import DASK_CONNECT_SECONDS
from trompa_mer.errors import AudioError, ClusterError, FeatureError, OutputError, TrompaError
from trompa_mer.features import audio, learned, musicnn, smile, table, vibenet, windows
from trompa_mer.features.columns import EXTRA_FAMILIES, FAMILIES, IS13, MUSICNN, VIBENET, family_names
from trompa_mer.progress import progress_bar

ALL_FAMILIES: tuple[str, ...] = tuple(FAMILIES)
"""What extraction computes unless told otherwise: every family."""
FAMILY_SEGMENTS = {VIBENET: (vibenet.segment_descriptors, vibenet.SEGMENT_SECONDS),
                   MUSICNN: (musicnn.patch_descriptors, musicnn.PATCH_SECONDS)}
"""Family → its descriptors per segment of 16 kHz samples (segment start times in seconds, a row of its
columns per segment) and its segments' length in seconds."""


def check_families(families: tuple[str, ...]) -> tuple[str, ...]:
    """`families` in FAMILIES order; IS13 must be among them (its windows are a CSV's rows)."""
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown:
        raise FeatureError(f"unknown descriptor families {', '.join(unknown)} (known: {', '.join(FAMILIES)})")
    if IS13 not in families:
        raise FeatureError(f"every feature CSV holds the {IS13} family: its windows are the rows")
    return tuple(family for family in FAMILIES if family in families)


def features_of_frames(frame_times: np.ndarray, frames: np.ndarray,
                       window: float, hop: float) -> tuple[np.ndarray, np.ndarray]:
    """Window start times (n_windows,) in seconds and features (n_windows, 260) of 10 ms frames."""
    length, step = windows.window_frames(window), windows.window_frames(hop)
    if length < 1 or step < 1:
        raise FeatureError(f"window ({window} s) and hop ({hop} s) must be at least 10 ms")
    stats = windows.window_statistics(frames, length, step)
    return windows.window_times(frame_times, step), np.nan_to_num(stats, nan=0.0)


@dataclass(frozen=True)
class Extraction:
    """What extract_file wrote: its number of windows, and the seconds of audio openSMILE framed."""

    windows: int
    seconds: float

    def shortfall(self, window: float) -> str | None:
        """A warning when the audio is shorter than one window: every window is then a partial one,
        and a prediction on them looks as confident as one on a whole song."""
        if self.seconds >= window:
            return None
        return (f"the audio lasts {self.seconds:.2f} s, less than one {window:g} s window: its "
                f"{self.windows} window(s) hold only that, so predictions on it rest on {self.seconds:.2f} s")


def family_descriptors(families: tuple[str, ...], wav: Path, times: np.ndarray,
                       window: float) -> list[np.ndarray]:
    """The columns of each family other than IS13 for the windows starting at `times`; the wav is read
    once for them all, and not at all when IS13 is the only family."""
    others = [family for family in families if family != IS13]
    if not others:
        return []
    y = learned.read_16k(wav)
    columns = []
    for family in others:
        segment_descriptors, seconds = FAMILY_SEGMENTS[family]
        starts, values = segment_descriptors(y)
        columns.append(learned.nearest_segments(times, window, starts, seconds, values))
    return columns


def features_of_audio(source: Path, command: smile.SmileCommand, window: float, hop: float,
                      name: str | None = None, families: tuple[str, ...] = ALL_FAMILIES,
                      max_seconds: float | None = None) -> tuple[np.ndarray, np.ndarray, Extraction]:
    """Window start times (n_windows,) in seconds, features (n_windows, len(family_names(families)))
    and what was extracted, of one audio file decoded once, in memory; `name` calls the audio in
    messages (default: its path); audio longer than `max_seconds` is refused (`audio.as_wav`)."""
    name = name or str(source)
    families = check_families(families)
    with audio.as_wav(source, name, max_seconds) as wav, storage.temporary_folder("lld") as tmp:
        lld_csv = Path(tmp, "lld.csv")
        smile.run_smilextract(command, wav, lld_csv, name)
        frame_times, frames = smile.read_lld_csv(lld_csv, name)
        times, features = features_of_frames(frame_times, frames, window, hop)
        others = family_descriptors(families, wav, times, window)
    return times, np.hstack([features, *others]), Extraction(len(times), len(frames) * windows.FRAME_SECONDS)


def extract_file(source: Path, output: Path, command: smile.SmileCommand,
                 window: float, hop: float, families: tuple[str, ...] = ALL_FAMILIES) -> Extraction:
    """Extract one audio file into a feature CSV."""
    audio.check_supported(source)
    storage.check_output_file(output, table.FEATURE_SUFFIX)
    times, features, extraction = features_of_audio(source, command, window, hop, families=families)
    table.write_feature_csv(output, times, features, family_names(check_families(families)))
    return extraction


def add_families(source: Path, output: Path, window: float,
                 families: tuple[str, ...] = ALL_FAMILIES) -> list[str]:
    """Add to the feature CSV `output` the families it lacks, computed from its audio `source` for its
    own windows (`window` seconds long), keeping every column it has; the families added."""
    audio.check_supported(source)
    times, names, values = table.read_all_columns(output)
    present = set(names)
    missing = [family for family in check_families(families)
               if family in EXTRA_FAMILIES and not set(FAMILIES[family]) <= present]
    if not missing:
        return []
    replaced = {name for family in missing for name in FAMILIES[family]}
    kept = [i for i, name in enumerate(names) if name not in replaced]
    with audio.as_wav(source) as wav:
        added = family_descriptors(tuple(missing), wav, times, window)
    table.write_feature_csv(output, times, np.hstack([values[:, kept], *added]),
                            [*(names[i] for i in kept), *family_names(missing)])
    return missing


def extract_missing(source: Path, output: Path, command: smile.SmileCommand, window: float, hop: float,
                    overwrite: bool, families: tuple[str, ...] = ALL_FAMILIES,
                    add: bool = False) -> Extraction | list[str]:
    """extract_file, unless `output` exists and `overwrite` is off: then the families added to it
    with `add` (add_families), none without. On a cluster a task runs again when its worker dies; a
    file that worker already finished is not made twice."""
    if output.exists() and not overwrite:
        return add_families(source, output, window, families) if add else []
    return extract_file(source, output, command, window, hop, families)


@dataclass
class BatchReport:
    """What a batch extraction did, file by file."""

    done: list[Path] = field(default_factory=list)
    added: list[Path] = field(default_factory=list)
    """Existing CSVs completed with the families they lacked."""
    skipped: list[Path] = field(default_factory=list)
    failed: dict[Path, str] = field(default_factory=dict)
    short: dict[Path, str] = field(default_factory=dict)
    """Files shorter than one window, with the warning given."""

    def summary(self) -> str:
        short = f" ({len(self.short)} shorter than one window)" if self.short else ""
        added = f", completed {len(self.added)}" if self.added else ""
        return f"done {len(self.done)}{short}{added}, skipped {len(self.skipped)}, failed {len(self.failed)}"


def audio_files(inputs: Sequence[Path]) -> list[Path]:
    """The audio files named, and those anywhere under the folders named (hidden files and folders
    skipped), sorted per folder; a folder without any audio file and two inputs with one stem are errors."""
    found: list[Path] = []
    for item in inputs:
        if item.is_dir():
            inside = sorted(p for p in item.rglob("*")
                            if p.suffix.lower() in audio.SUPPORTED_SUFFIXES and p.is_file()
                            and not any(part.startswith(".") for part in p.relative_to(item).parts))
            if not inside:
                supported = ", ".join(sorted(audio.SUPPORTED_SUFFIXES))
                raise AudioError(f"no audio files ({supported}) in {item} or its subfolders")
            found.extend(inside)
        else:
            audio.check_supported(item)
            found.append(item)
    stems = [p.stem for p in found]
    duplicates = sorted({s for s in stems if stems.count(s) > 1})
    if duplicates:
        raise AudioError(f"several inputs would write the same CSV: {', '.join(duplicates)}")
    return found


@contextlib.contextmanager
def executor_for(jobs: int, scheduler: str | None,
                 connect_seconds: float = DASK_CONNECT_SECONDS) -> Iterator[Executor]:
    """`jobs` local threads, or the workers of the Dask scheduler at `scheduler` (tcp://host:port),
    which must answer within `connect_seconds`.

    Each thread drives one SMILExtract process, so `jobs` threads keep `jobs` cores busy.
    """
    if scheduler is None:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as executor:
            yield executor
        return
    from distributed import Client
    from distributed.comm import get_address_host_port

    try:
        get_address_host_port(scheduler)
        client = Client(scheduler, timeout=connect_seconds, set_as_default=False)
    except (OSError, ValueError) as exc:  # a connection timeout is an OSError
        raise ClusterError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    try:
        with client.get_executor(pure=False) as executor:
            yield executor
    finally:
        client.close()


def extract_batch(sources: Iterable[Path], out_dir: Path, command: smile.SmileCommand,
                  window: float, hop: float, jobs: int = 1, overwrite: bool = False,
                  progress: bool = True, scheduler: str | None = None,
                  connect_seconds: float = DASK_CONNECT_SECONDS,
                  families: tuple[str, ...] = ALL_FAMILIES, add: bool = False) -> BatchReport:
    """One `<stem>.csv` per audio file in `out_dir`; a failing file is reported, the others go on.
    An existing CSV is skipped, or with `add` completed with the `families` it lacks.

    Files run on `jobs` local threads, or on a Dask cluster when `scheduler` is its address; every
    CSV is written atomically, so a file is either complete or absent and a rerun redoes only those.
    """
    if not out_dir.parent.is_dir():
        raise OutputError(f"output folder's parent does not exist: {out_dir.parent}")
    out_dir.mkdir(exist_ok=True)
    report = BatchReport()
    todo: list[tuple[Path, Path]] = []
    for source in sources:
        target = table.feature_file(out_dir, source.stem)
        if target.exists() and not overwrite and not add:
            report.skipped.append(source)
        else:
            todo.append((source, target))
    with executor_for(jobs, scheduler, connect_seconds) as executor, \
            progress_bar("file", "extracting", progress, total=len(todo)) as bar:
        futures = {executor.submit(extract_missing, s, t, command, window, hop, overwrite, families, add): s
                   for s, t in todo}
        for future in as_completed(futures):
            source = futures[future]
            try:
                result = future.result()
                extraction = result if isinstance(result, Extraction) else None
                (report.done if extraction else report.added if result else report.skipped).append(source)
                shortfall = extraction and extraction.shortfall(window)
                if shortfall:
                    report.short[source] = shortfall
                    bar.write(f"warning: {source}: {shortfall}", file=sys.stderr)
            except TrompaError as exc:
                report.failed[source] = str(exc)
                bar.write(f"error: {source}: {exc}", file=sys.stderr)
            bar.update()
    return report

