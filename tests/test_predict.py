"""committee/predict.py: one prediction path on arrays, from a feature CSV or from audio in memory."""

import io
from pathlib import Path

import numpy as np
import pytest

from tests import signals
from tests.committees import make_committee, quadrant_windows, write_feature_csv
from trompa_mer.committee.predict import predict, predict_audio, predict_file
from trompa_mer.errors import AudioError, FeatureError
from trompa_mer.features import extract, smile, table
from trompa_mer.features.columns import FEATURE_NAMES

WINDOW, HOP = 1.0, 0.5


def test_audio_csv_and_arrays_give_one_prediction(tmp_path: Path) -> None:
    committee = make_committee(tmp_path / "committee")
    scaling = committee.default_scaling()
    wav = signals.write_wav(tmp_path / "chords.wav", signals.progression(seconds_per_chord=1.0))
    csv = tmp_path / "chords.csv"
    extract.extract_file(wav, csv, smile.builtin_command(), WINDOW, HOP)
    from_csv = predict_file(committee, csv, scaling, "m")
    from_audio = predict_audio(committee, wav, smile.builtin_command(), WINDOW, HOP, scaling, "m",
                               source="chords.mp3")
    from_array = predict(committee, table.read_feature_csv(csv), scaling, "m", "song")
    assert from_csv["input_feats"] == str(csv) and from_audio["input_feats"] == "chords.mp3"
    assert len(from_audio["output_probs"]) >= 6  # 4 s of chords in 1 s windows every 0.5 s
    for other in (from_audio, from_array):
        np.testing.assert_allclose(other["output_probs"], from_csv["output_probs"], atol=1e-9)
        assert other["freq_pred"] == from_csv["freq_pred"] and other["entropy"] == pytest.approx(
            from_csv["entropy"], abs=1e-9)
    assert [p.name for p in tmp_path.glob("*.csv")] == ["chords.csv"]  # the audio path wrote none


def test_messages_name_the_song_as_the_caller_does_not_by_its_path(tmp_path: Path) -> None:
    committee = make_committee(tmp_path / "committee", kinds=("gnb",), folds=1)
    upload = tmp_path / "upload.mp3"
    upload.write_bytes(b"\xff\xfb not really mp3")
    with pytest.raises(AudioError, match="cannot decode song.mp3") as raised:
        predict_audio(committee, upload, smile.builtin_command(), WINDOW, HOP, "committee", "m", "song.mp3")
    assert str(tmp_path) not in str(raised.value)
    csv = write_feature_csv(tmp_path / "upload.csv", quadrant_windows(0, 4, np.random.default_rng(0)))
    lacking = io.BytesIO(csv.read_bytes().replace(b"pcm_zcr_sma_amean", b"zcr"))
    with pytest.raises(FeatureError, match="^song.csv lacks 1 feature columns: pcm_zcr_sma_amean$"):
        predict_file(committee, lacking, "committee", "m", source="song.csv")


def test_feature_columns_takes_a_committee_s_own_columns_by_name() -> None:
    features = np.arange(3 * len(FEATURE_NAMES), dtype=float).reshape(3, len(FEATURE_NAMES))
    names = [FEATURE_NAMES[5], FEATURE_NAMES[0]]
    np.testing.assert_array_equal(table.feature_columns(features, FEATURE_NAMES, names), features[:, [5, 0]])
    assert table.feature_columns(features, FEATURE_NAMES, FEATURE_NAMES) is features
    with pytest.raises(FeatureError, match="song.mp3 lacks 1 feature columns: nope"):
        table.feature_columns(features, FEATURE_NAMES, ["nope"], "song.mp3")
