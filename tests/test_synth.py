"""The synthetic DEAM corpus: layout, determinism, balance, moving labels, physics, listeners."""

import json
import wave
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import error_line, run_script
from trompa_mer.datasets import deam_layout, synth, synth_audio
from trompa_mer.errors import CorpusError
from trompa_mer.names import QUADRANTS, Quadrant, quadrant_of

N_SONGS = 8
N_LISTENERS = 5


def read_dynamic(root: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(root / deam_layout.DYNAMIC_DIR / f"{name}.csv", index_col="song_id")


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as handle:
        assert (handle.getnchannels(), handle.getsampwidth()) == (1, 2)
        pcm = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2")
        return pcm / 32768.0, handle.getframerate()


def all_files(root: Path) -> dict[str, bytes]:
    files = sorted(path for path in root.rglob("*") if path.is_file())
    return {str(path.relative_to(root)): path.read_bytes() for path in files}


def window_classes(valence: pd.DataFrame, arousal: pd.DataFrame) -> np.ndarray:
    """Quadrant of every annotated window, by the project's own rule, (n_songs, n_windows)."""
    return np.vectorize(quadrant_of)(valence.to_numpy(), arousal.to_numpy())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One 8-song, 45 s corpus with 5 listeners, written once and only read by the tests."""
    root = tmp_path_factory.mktemp("corpus") / "deam"
    synth.write_corpus(root, N_SONGS, seed=0, listeners=N_LISTENERS)
    return root


def small(root: Path, seed: int) -> Path:
    synth.write_corpus(root, 4, seed=seed, duration=6.0, sample_rate=8000, annotation_start=1.0,
                       listeners=3)
    return root


# --- layout -------------------------------------------------------------------------------------


def test_layout_and_header_follow_deam(corpus: Path) -> None:
    expected = ["song_id"] + [f"sample_{ms}ms" for ms in range(15000, 45000, 500)]
    for name in ("arousal", "valence"):
        path = corpus / deam_layout.DYNAMIC_DIR / f"{name}.csv"
        assert path.read_text().splitlines()[0].split(",") == expected
        table = read_dynamic(corpus, name)
        assert table.shape == (N_SONGS, 60)
        assert list(table.index) == list(range(1, N_SONGS + 1))
        assert table.to_numpy().min() >= -1.0 and table.to_numpy().max() <= 1.0
    for song in range(1, N_SONGS + 1):
        audio, rate = read_wav(corpus / deam_layout.AUDIO_DIR / f"{song}.wav")
        assert rate == 22050 and audio.size == 45 * 22050
    assert not list(corpus.rglob("*.tmp"))


def test_short_excerpts_still_get_labels(tmp_path: Path) -> None:
    synth.write_corpus(tmp_path / "a", 1, seed=0, duration=30.0, sample_rate=8000,
                       annotation_start=0.0)
    assert list(read_dynamic(tmp_path / "a", "arousal").columns[[0, -1]]) == [
        "sample_0ms", "sample_29500ms"]
    synth.write_corpus(tmp_path / "b", 1, seed=0, duration=30.0, sample_rate=8000)
    assert read_dynamic(tmp_path / "b", "valence").shape == (1, 30)


def test_quadrants_are_balanced_and_the_majority_of_the_windows(corpus: Path) -> None:
    truth = pd.read_csv(corpus / synth.QUADRANTS_FILE, index_col="song_id")["quadrant"]
    assert truth.value_counts().to_dict() == {name: N_SONGS // 4 for name in QUADRANTS}
    classes = window_classes(read_dynamic(corpus, "valence"), read_dynamic(corpus, "arousal"))
    majority = [QUADRANTS[np.bincount(row, minlength=4).argmax()] for row in classes]
    assert majority == list(truth)


def test_annotations_move_inside_each_excerpt(corpus: Path) -> None:
    valence, arousal = read_dynamic(corpus, "valence"), read_dynamic(corpus, "arousal")
    ranges = np.maximum(np.ptp(valence.to_numpy(), axis=1), np.ptp(arousal.to_numpy(), axis=1))
    assert (ranges > 0.15).all()                              # a target change, not just noise
    crossing = [len(set(row)) > 1 for row in window_classes(valence, arousal)]
    assert 0 < sum(crossing) < N_SONGS


# --- determinism --------------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    first = all_files(small(tmp_path / "a", seed=3))
    assert first == all_files(small(tmp_path / "b", seed=3))
    assert len(first) == 4 + 2 + 1 + 2
    other = all_files(small(tmp_path / "c", seed=4))
    assert other.keys() == first.keys()
    assert all(other[name] != first[name] for name in first if name.endswith(".wav"))
    arousal = str(deam_layout.DYNAMIC_DIR / "arousal.csv")
    assert other[arousal] != first[arousal]


def test_render_excerpt_is_a_pure_function_of_its_rng() -> None:
    t = np.linspace(0.0, 1.0, 8000)
    valence, arousal = 0.5 - t, np.full_like(t, 0.6)
    one = synth_audio.render_excerpt(valence, arousal, 8000, np.random.default_rng(1))
    two = synth_audio.render_excerpt(valence, arousal, 8000, np.random.default_rng(1))
    assert one.dtype == np.float32 and one.shape == (8000,)
    assert np.array_equal(one, two) and np.abs(one).max() <= 1.0


# --- audio physics ------------------------------------------------------------------------------


def rms_and_centroid(audio: np.ndarray, rate: int) -> tuple[float, float]:
    frames = audio[: audio.size // 2048 * 2048].reshape(-1, 2048) * np.hanning(2048)
    magnitude = np.abs(np.fft.rfft(frames, axis=1))
    freqs = np.fft.rfftfreq(2048, 1.0 / rate)
    centroid = (magnitude * freqs).sum(axis=1) / np.maximum(magnitude.sum(axis=1), 1e-12)
    return float(np.sqrt(np.mean(audio**2))), float(centroid.mean())


def test_high_arousal_songs_are_louder_and_brighter(corpus: Path) -> None:
    truth = pd.read_csv(corpus / synth.QUADRANTS_FILE, index_col="song_id")["quadrant"]
    high, low = [], []
    for song, name in truth.items():
        stats = rms_and_centroid(*read_wav(corpus / deam_layout.AUDIO_DIR / f"{song}.wav"))
        (high if Quadrant[name] in (Quadrant.Q1, Quadrant.Q2) else low).append(stats)
    high_rms, high_centroid = np.mean(high, axis=0)
    low_rms, low_centroid = np.mean(low, axis=0)
    assert high_rms > 2 * low_rms
    assert high_centroid > 1.5 * low_centroid


def test_arousal_raises_loudness_and_brightness_for_every_valence() -> None:
    rate = 8000
    for valence in (-0.6, 0.6):
        stats = {}
        for arousal in (-0.6, 0.6):
            target = np.full(4 * rate, 1.0)
            audio = synth_audio.render_excerpt(valence * target, arousal * target, rate,
                                         np.random.default_rng(0))
            stats[arousal] = rms_and_centroid(audio, rate)
        assert stats[0.6][0] > 2 * stats[-0.6][0] and stats[0.6][1] > stats[-0.6][1]


# --- listeners ----------------------------------------------------------------------------------


def test_listener_labels_cover_every_song_and_listeners_differ(corpus: Path) -> None:
    labels = pd.read_csv(corpus / synth.LISTENERS_DIR / synth.LABELS_FILE)
    assert list(labels.columns) == ["user_id", "song_id", "quadrant"]
    assert len(labels) == N_LISTENERS * N_SONGS
    assert not labels.duplicated(["user_id", "song_id"]).any()
    assert set(labels["quadrant"]) <= set(QUADRANTS)
    per_user = labels.pivot(index="user_id", columns="song_id", values="quadrant")
    assert len({tuple(row) for row in per_user.to_numpy()}) > 1


def test_crowd_json_holds_the_same_labels(corpus: Path) -> None:
    labels = pd.read_csv(corpus / synth.LISTENERS_DIR / synth.LABELS_FILE, dtype=str)
    document = json.loads((corpus / synth.LISTENERS_DIR / synth.CROWD_FILE).read_text())
    signs = {"Q1": ("1", "1"), "Q2": ("-1", "1"), "Q3": ("-1", "-1"), "Q4": ("1", "-1")}
    words = {"Q1": {"joy", "power", "surprise"}, "Q2": {"anger", "fear", "tension"},
             "Q3": {"sadness", "bitterness"}, "Q4": {"peace", "tenderness", "transcendence"}}
    expected = {(row.user_id, row.song_id): row.quadrant for row in labels.itertuples()}
    found = {}
    for item in document["annotations"]:
        quadrant = next(q for q, s in signs.items()
                        if s == (item["valenceValue"], item["arousalValue"]))
        assert item["mood"] in words[quadrant] and item["moodValue"] == item["mood"]
        found[(item["userid"], item["externalID"])] = quadrant
    assert found == expected
    assert {user["userid"] for user in document["users"]} == set(labels["user_id"])


def test_listeners_without_thresholds_or_noise_agree_with_the_truth() -> None:
    means = np.array([[0.5, 0.5], [-0.5, 0.5], [-0.5, -0.5], [0.5, -0.5]])
    labels = synth.listener_labels(means, 3, seed=0, threshold_sd=0.0, flip_probability=0.0)
    assert (labels == np.arange(4)).all()
    flipped = synth.listener_labels(means, 3, seed=0, threshold_sd=0.0, flip_probability=1.0)
    assert (flipped != np.arange(4)).all()


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n_songs": 0}, "number of songs"),
    ({"duration": 16.0}, "too short"),
    ({"annotation_start": -1.0}, "annotation start"),
    ({"seed": -1}, "seed"),
    ({"listeners": -2}, "listeners"),
])
def test_bad_parameters_are_refused(tmp_path: Path, kwargs: dict, message: str) -> None:
    args = {"n_songs": 2, "seed": 0, **kwargs}
    with pytest.raises(CorpusError, match=message):
        synth.write_corpus(tmp_path / "out", **args)
    assert not (tmp_path / "out").exists()


def test_existing_file_or_non_empty_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(CorpusError, match="not a folder"):
        synth.write_corpus(tmp_path / "file", 1, seed=0)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("x")
    with pytest.raises(CorpusError, match="not empty"):
        synth.write_corpus(tmp_path / "full", 1, seed=0)


def test_script_writes_a_corpus(tmp_path: Path) -> None:
    result = run_script("make_synthetic_deam.py", "-o", tmp_path / "out", "-n", 2, "--seed", 1,
                        "--duration", 4, "--sample-rate", 8000, "--annotation-start", 0,
                        "--listeners", 2, check=True)
    assert result.stdout == f"wrote 2 songs to {tmp_path / 'out'}\n"
    assert (tmp_path / "out" / deam_layout.AUDIO_DIR / "2.wav").is_file()
    assert len(pd.read_csv(tmp_path / "out" / synth.LISTENERS_DIR / synth.LABELS_FILE)) == 4


@pytest.mark.parametrize(("args", "message"), [
    (["-n", "0"], "error: number of songs must be at least 1, not 0"),
    (["--duration", "10"], "error: duration 10.0 s is too short"),
])
def test_script_refusals_are_one_error_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_script("make_synthetic_deam.py", "-o", tmp_path / "out", *args)
    assert result.returncode == 1
    assert error_line(result).startswith(message)
