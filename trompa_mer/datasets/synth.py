"""Synthetic DEAM-format corpus: songs whose valence/arousal targets shape their sound
(synth_audio.py renders it), their dynamic annotations, simulated listeners, and DEAM's layout.

Each song's target moves between two or three segments inside the annotated span, so its dynamic
annotations move too. Same seed → byte-identical files.
"""

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from trompa_mer.datasets.deam_layout import AUDIO_DIR, DYNAMIC_DIR
from trompa_mer.datasets.synth_audio import render_excerpt, write_wav
from trompa_mer.errors import CorpusError
from trompa_mer.names import N_CLASSES, QUADRANTS, Quadrant, quadrant_of
from trompa_mer.progress import progress_bar
from trompa_mer.storage import atomic_open, write_json

QUADRANTS_FILE = "quadrants.csv"
"""Ground truth `song_id,quadrant`: each song's majority quadrant over its annotated windows."""

LISTENERS_DIR = "listeners"
LABELS_FILE = "labels.csv"
"""`user_id,song_id,quadrant` of the simulated listeners, in `LISTENERS_DIR`."""

CROWD_FILE = "crowd.json"
"""The simulated listeners' labels in the TROMPA study format, in `LISTENERS_DIR`."""

ANNOTATION_HOP = 0.5
"""Seconds between two dynamic annotations (DEAM: 2 Hz)."""

MIN_ANNOTATED_SECONDS = 2.0
"""Shortest annotated span (duration − annotation start) a corpus may have."""

MOOD_WORDS: dict[Quadrant, tuple[str, ...]] = {
    Quadrant.Q1: ("joy", "power", "surprise"),
    Quadrant.Q2: ("anger", "fear", "tension"),
    Quadrant.Q3: ("sadness", "bitterness"),
    Quadrant.Q4: ("peace", "tenderness", "transcendence"),
}
"""The TROMPA study's mood words per quadrant."""

SIGNS: dict[Quadrant, tuple[int, int]] = {
    Quadrant.Q1: (1, 1), Quadrant.Q2: (-1, 1), Quadrant.Q3: (-1, -1), Quadrant.Q4: (1, -1),
}
"""(valence, arousal) sign of each quadrant, as `valenceValue` / `arousalValue` of the study."""

_STREAM_ASSIGN, _STREAM_SONG, _STREAM_LISTENER, _STREAM_MOOD = 0, 1, 2, 3


def _rng(seed: int, stream: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream, index])


# --- targets and annotations -------------------------------------------------------------------


def annotation_times_ms(duration: float, annotation_start: float) -> np.ndarray:
    """Times of the dynamic annotations, (n_windows,) int ms: start, start + 500, … < duration."""
    start_ms, end_ms = round(annotation_start * 1000), round(duration * 1000)
    return np.arange(start_ms, end_ms, round(ANNOTATION_HOP * 1000), dtype=np.int64)


def target_breakpoints(
    quadrant: Quadrant, duration: float, annotation_start: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A song's valence/arousal target as a piecewise-linear curve.

    Two or three segments split the annotated span [annotation_start, duration) s; consecutive
    segments differ by ≥ 0.15 in both valence and arousal, with a 1–3 s drift between them. Most
    of the span lies in `quadrant`; about 40 % of the songs get one short excursion (< 40 % of the
    span) into a neighbouring quadrant. Returns times (k,) in s and values (k, 2) as
    (valence, arousal) in [-1, 1]; before the first and after the last time the value is constant.
    """
    span = duration - annotation_start
    if rng.random() < 0.5:
        first = rng.uniform(0.3, 0.7)
        fractions = np.array([first, 1.0 - first])
    else:
        fractions = np.array([rng.uniform(0.22, 0.38), rng.uniform(0.22, 0.38), 0.0])
        fractions[2] = 1.0 - fractions[:2].sum()
        rng.shuffle(fractions)
    shortest = int(np.argmin(fractions))
    excursion = shortest if fractions[shortest] < 0.4 and rng.random() < 0.55 else -1
    sign_v, sign_a = SIGNS[Quadrant(quadrant)]
    parity = rng.integers(0, 2, size=2)
    values = np.empty((fractions.size, 2))
    for i in range(fractions.size):
        low_v, low_a = (i + parity) % 2 == 0
        mag_v = rng.uniform(0.2, 0.45) if low_v else rng.uniform(0.6, 0.9)
        mag_a = rng.uniform(0.2, 0.45) if low_a else rng.uniform(0.6, 0.9)
        values[i] = sign_v * mag_v, sign_a * mag_a
    if excursion >= 0:
        flipped = rng.integers(0, 2)
        values[excursion, flipped] = -np.sign(values[excursion, flipped]) * rng.uniform(0.2, 0.4)
    edges = annotation_start + span * np.concatenate(([0.0], np.cumsum(fractions)))
    edges[-1] = duration
    half = min(0.5 * min(3.0, max(1.0, 0.15 * span)), 0.45 * span * fractions.min())
    times, points = [0.0], [values[0]]
    for i in range(1, fractions.size):
        times += [edges[i] - half, edges[i] + half]
        points += [values[i - 1], values[i]]
    times.append(duration)
    points.append(values[-1])
    return np.array(times), np.array(points)


def target_at(times: np.ndarray, values: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The target of `target_breakpoints` at times t (n,) s → (n, 2) (valence, arousal)."""
    return np.stack([np.interp(t, times, values[:, k]) for k in range(2)], axis=1)


def dynamic_annotations(target: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Simulated averaged annotations from the target at the annotation times, (n_windows, 2).

    Annotators lag (exponential smoothing, ~0.7 s) and jitter (smoothed noise, sd ≈ 0.035);
    the result is clipped to [-1, 1] and rounded to 6 decimals as written to the CSV.
    """
    alpha = 0.5
    lagged = np.empty_like(target, dtype=np.float64)
    lagged[0] = target[0]
    for k in range(1, len(target)):
        lagged[k] = lagged[k - 1] + alpha * (target[k] - lagged[k - 1])
    raw = rng.normal(0.0, 0.08, size=(len(target) + 4, 2))
    kernel = np.full(5, 0.2)
    noise = np.stack([np.convolve(raw[:, k], kernel, mode="valid") for k in range(2)], axis=1)
    return np.round(np.clip(lagged + noise, -1.0, 1.0), 6) + 0.0  # + 0.0: no "-0.000000"


def window_quadrants(valence: np.ndarray, arousal: np.ndarray) -> np.ndarray:
    """Class index (Quadrant value) of each annotated window, (n_windows,) int."""
    pairs = zip(valence, arousal, strict=True)
    return np.array([quadrant_of(v, a) for v, a in pairs], dtype=np.int64)


def majority_quadrant(valence: np.ndarray, arousal: np.ndarray) -> Quadrant:
    """The most frequent quadrant of a song's windows; a tie goes to the lower class index."""
    counts = np.bincount(window_quadrants(valence, arousal), minlength=N_CLASSES)
    return Quadrant(int(np.argmax(counts)))


def assign_quadrants(n_songs: int, seed: int) -> np.ndarray:
    """Balanced song-level quadrants: Q1..Q4 round-robin, shuffled by the seed, (n_songs,) int."""
    assigned = np.arange(n_songs) % N_CLASSES
    _rng(seed, _STREAM_ASSIGN, 0).shuffle(assigned)
    return assigned


# --- listeners --------------------------------------------------------------------------------


def listener_labels(
    song_means: np.ndarray, n_listeners: int, seed: int,
    threshold_sd: float = 0.25, flip_probability: float = 0.1,
) -> np.ndarray:
    """Simulated listeners' quadrant labels, (n_listeners, n_songs) int class indices.

    song_means: (n_songs, 2) song-level mean (valence, arousal). Each listener has own valence and
    arousal thresholds ~ N(0, threshold_sd) and flips each label to a random other quadrant with
    `flip_probability`.
    """
    labels = np.empty((n_listeners, len(song_means)), dtype=np.int64)
    for user in range(n_listeners):
        rng = _rng(seed, _STREAM_LISTENER, user)
        threshold = rng.normal(0.0, threshold_sd, size=2)
        shifted = song_means - threshold
        own = window_quadrants(shifted[:, 0], shifted[:, 1])
        flip = rng.random(len(own)) < flip_probability
        other = (own + rng.integers(1, N_CLASSES, size=len(own))) % N_CLASSES
        labels[user] = np.where(flip, other, own)
    return labels


def crowd_document(
    labels: np.ndarray, song_ids: Iterable[int], user_ids: Iterable[str], seed: int
) -> dict:
    """The labels (n_users, n_songs) as a TROMPA study document: annotations, users, moods.

    Each annotation carries the quadrant's signs as `valenceValue`/`arousalValue` ("1"/"-1") and a
    mood word of that quadrant (as `moodValue`, the study's key, and as `mood`).
    """
    song_ids, user_ids = list(song_ids), list(user_ids)
    rng = _rng(seed, _STREAM_MOOD, 0)
    annotations = []
    for row, user in zip(labels, user_ids, strict=True):
        for song, label in zip(song_ids, row, strict=True):
            quadrant = Quadrant(int(label))
            sign_v, sign_a = SIGNS[quadrant]
            words = MOOD_WORDS[quadrant]
            mood = words[int(rng.integers(len(words)))]
            annotations.append({
                "internalID": str(len(annotations) + 1), "externalID": str(song),
                "userid": user, "valenceValue": str(sign_v), "arousalValue": str(sign_a),
                "moodValue": mood, "mood": mood,
            })
    return {"annotations": annotations, "users": [{"userid": u} for u in user_ids], "moods": []}


# --- files ------------------------------------------------------------------------------------


def _write_dynamic(path: Path, song_ids: list[int], times_ms: np.ndarray, rows: list) -> None:
    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(["song_id"] + [f"sample_{ms}ms" for ms in times_ms]) + "\n")
        for song, values in zip(song_ids, rows, strict=True):
            handle.write(",".join([str(song)] + [f"{x:.6f}" for x in values]) + "\n")


def _check(n_songs: int, seed: int, duration: float, sample_rate: int,
           annotation_start: float, listeners: int, out_dir: Path) -> None:
    if n_songs < 1:
        raise CorpusError(f"number of songs must be at least 1, not {n_songs}")
    if seed < 0:
        raise CorpusError(f"seed must be a non-negative integer, not {seed}")
    if sample_rate < 8000:
        raise CorpusError(f"sample rate must be at least 8000 Hz, not {sample_rate}")
    if not annotation_start >= 0:
        raise CorpusError(f"annotation start must be ≥ 0 s, not {annotation_start}")
    if not duration - annotation_start >= MIN_ANNOTATED_SECONDS:
        raise CorpusError(
            f"duration {duration} s is too short: annotations start at {annotation_start} s and"
            f" need at least {MIN_ANNOTATED_SECONDS} s (lower --annotation-start, e.g. 0)"
        )
    if listeners < 0:
        raise CorpusError(f"number of listeners must be ≥ 0, not {listeners}")
    if out_dir.exists() and not out_dir.is_dir():
        raise CorpusError(f"output {out_dir} exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        raise CorpusError(f"output folder {out_dir} is not empty")


def render_song(
    song_id: int, quadrant: Quadrant, seed: int, duration: float, sample_rate: int,
    annotation_start: float,
) -> tuple[np.ndarray, np.ndarray]:
    """One song: its audio (n_samples,) float32 and dynamic annotations (n_windows, 2) (v, a).

    The majority quadrant of the annotations is `quadrant`; the song's rng is seeded by
    (seed, song_id), so songs are independent of each other and of the corpus size.
    """
    rng = _rng(seed, _STREAM_SONG, song_id)
    window_s = annotation_times_ms(duration, annotation_start) / 1000.0
    for _ in range(100):
        times, values = target_breakpoints(quadrant, duration, annotation_start, rng)
        annotations = dynamic_annotations(target_at(times, values, window_s), rng)
        if majority_quadrant(annotations[:, 0], annotations[:, 1]) == quadrant:
            break
    else:  # pragma: no cover - the design keeps ≥ 60 % of the span in the quadrant
        raise CorpusError(f"song {song_id}: could not place its target in {quadrant.name}")
    t = np.arange(round(duration * sample_rate)) / sample_rate
    target = target_at(times, values, t)
    return render_excerpt(target[:, 0], target[:, 1], sample_rate, rng), annotations


def write_corpus(
    out_dir: Path, n_songs: int, seed: int, duration: float = 45.0, sample_rate: int = 22050,
    annotation_start: float = 15.0, listeners: int = 0, progress: bool = False,
) -> None:
    """Write a synthetic corpus in DEAM's layout into the new or empty folder `out_dir`.

    Songs 1..n_songs: `AUDIO_DIR/<id>.wav`, `DYNAMIC_DIR/{arousal,valence}.csv` (one column per
    0.5 s from `annotation_start` s), `QUADRANTS_FILE`; with `listeners` > 0 also
    `LISTENERS_DIR/LABELS_FILE` and `LISTENERS_DIR/CROWD_FILE`. `progress` shows a tqdm bar.
    """
    out_dir = Path(out_dir)
    _check(n_songs, seed, duration, sample_rate, annotation_start, listeners, out_dir)
    audio_dir, dynamic_dir = out_dir / AUDIO_DIR, out_dir / DYNAMIC_DIR
    audio_dir.mkdir(parents=True, exist_ok=True)
    dynamic_dir.mkdir(parents=True, exist_ok=True)
    song_ids = list(range(1, n_songs + 1))
    assigned = assign_quadrants(n_songs, seed)
    annotations = []
    songs = zip(song_ids, assigned, strict=True)
    for song, quadrant in progress_bar("song", "rendering", progress, items=songs, total=n_songs):
        audio, song_annotations = render_song(
            song, Quadrant(int(quadrant)), seed, duration, sample_rate, annotation_start
        )
        write_wav(audio_dir / f"{song}.wav", audio, sample_rate)
        annotations.append(song_annotations)
    times_ms = annotation_times_ms(duration, annotation_start)
    _write_dynamic(dynamic_dir / "valence.csv", song_ids, times_ms, [a[:, 0] for a in annotations])
    _write_dynamic(dynamic_dir / "arousal.csv", song_ids, times_ms, [a[:, 1] for a in annotations])
    with atomic_open(out_dir / QUADRANTS_FILE, "w", encoding="utf-8", newline="") as handle:
        handle.write("song_id,quadrant\n")
        for song, quadrant in zip(song_ids, assigned, strict=True):
            handle.write(f"{song},{QUADRANTS[quadrant]}\n")
    if listeners > 0:
        _write_listeners(out_dir / LISTENERS_DIR, song_ids, annotations, listeners, seed)


def _write_listeners(
    folder: Path, song_ids: list[int], annotations: list[np.ndarray], n_listeners: int, seed: int
) -> None:
    folder.mkdir(exist_ok=True)
    means = np.array([a.mean(axis=0) for a in annotations])
    labels = listener_labels(means, n_listeners, seed)
    user_ids = [str(u) for u in range(1, n_listeners + 1)]
    with atomic_open(folder / LABELS_FILE, "w", encoding="utf-8", newline="") as handle:
        handle.write("user_id,song_id,quadrant\n")
        for user, row in zip(user_ids, labels, strict=True):
            for song, label in zip(song_ids, row, strict=True):
                handle.write(f"{user},{song},{QUADRANTS[label]}\n")
    write_json(folder / CROWD_FILE, crowd_document(labels, song_ids, user_ids, seed))

