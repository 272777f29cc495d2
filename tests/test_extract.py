"""extract_features.py through the real script, real openSMILE and real ffmpeg."""

import math
import os
import stat
import sys
import wave
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests import signals
from tests.conftest import ROOT, error_line, run_script
from trompa_mer.errors import AudioTooLongError
from trompa_mer.features import audio, smile
from trompa_mer.features.columns import FAMILIES, FEATURE_NAMES, TIME_COLUMN


def extract(audio: Path, out: Path, *extra: object, env: dict | None = None) -> pd.DataFrame:
    """The IS13 columns alone, as the original tool wrote them (test_families.py tests the others)."""
    run_script("extract_features.py", "-i", audio, "-o", out, "--families", "is13", *extra, env=env,
               check=True)
    return pd.read_csv(out, sep=";")


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    made = {
        "quiet": signals.write_wav(folder / "quiet.wav", signals.tone(440, 4, amplitude=0.05)),
        "loud": signals.write_wav(folder / "loud.wav", signals.tone(440, 4, amplitude=0.5)),
        "music": signals.write_wav(folder / "music.wav", signals.progression(1.0)),
        "silent": signals.write_wav(folder / "silent.wav", signals.silence(2)),
    }
    made["music_mp3"] = signals.convert(made["music"], folder / "music.mp3", "-b:a", "320k")
    return made


@pytest.fixture(scope="module")
def music_features(clips: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    return extract(clips["music"], tmp_path_factory.mktemp("out") / "music.csv")


def test_columns_are_the_reference_list(music_features: pd.DataFrame, shared: Path) -> None:
    reference = (shared / "reference" / "extract_features_columns.txt").read_text().split()
    assert list(music_features.columns) == reference
    assert list(music_features.columns) == [TIME_COLUMN, *FEATURE_NAMES]


def test_one_row_per_50_frames(clips: dict[str, Path], music_features: pd.DataFrame,
                               tmp_path: Path) -> None:
    lld = tmp_path / "lld.csv"
    smile.run_smilextract(smile.builtin_command(), clips["music"], lld, clips["music"])
    frame_times, frames = smile.read_lld_csv(lld, clips["music"])
    assert len(music_features) == math.ceil(len(frames) / 50)
    assert list(music_features[TIME_COLUMN][:3]) == [0.0, 0.5, 1.0]
    # The first window is the mean of frames 0..100 inclusive.
    assert music_features["pcm_RMSenergy_sma_amean"][0] == pytest.approx(frames[:101, 8].mean())


def test_mp3_and_wav_give_near_identical_features(clips: dict[str, Path], music_features: pd.DataFrame,
                                                  tmp_path: Path) -> None:
    from_mp3 = extract(clips["music_mp3"], tmp_path / "music.csv")
    assert from_mp3.shape == music_features.shape
    for column in ["pcm_RMSenergy_sma_amean", "pcm_fftMag_spectralCentroid_sma_amean",
                   "mfcc_sma[1]_amean"]:
        a, b = music_features[column].to_numpy(), from_mp3[column].to_numpy()
        # Lossy coding and the encoder delay change the signal slightly: allow a few percent.
        assert np.median(np.abs(a - b) / (np.abs(a) + 1e-9)) < 0.08, column


def test_96khz_six_channel_wav_is_converted_like_flac(clips: dict[str, Path], tmp_path: Path) -> None:
    wav = signals.convert(clips["music"], tmp_path / "six.wav", "-ar", "96000", "-ac", "6")
    flac = signals.convert(wav, tmp_path / "six.flac")
    from_wav = extract(wav, tmp_path / "wav.csv")
    assert len(from_wav) > 0 and list(from_wav.columns) == [TIME_COLUMN, *FEATURE_NAMES]
    assert np.array_equal(from_wav.to_numpy(), extract(flac, tmp_path / "flac.csv").to_numpy())


def test_24_bit_wav_is_converted(clips: dict[str, Path], tmp_path: Path) -> None:
    wav = signals.convert(clips["music"], tmp_path / "odd.wav", "-c:a", "pcm_s24le")
    from_wav = extract(wav, tmp_path / "wav.csv")
    assert len(from_wav) > 0 and list(from_wav.columns) == [TIME_COLUMN, *FEATURE_NAMES]


def test_louder_tone_has_more_energy(clips: dict[str, Path], tmp_path: Path) -> None:
    quiet = extract(clips["quiet"], tmp_path / "quiet.csv")
    loud = extract(clips["loud"], tmp_path / "loud.csv")
    assert (loud["pcm_RMSenergy_sma_amean"] > quiet["pcm_RMSenergy_sma_amean"] * 5).all()


def test_tone_pitch_is_found(clips: dict[str, Path], tmp_path: Path) -> None:
    features = extract(clips["loud"], tmp_path / "loud.csv")
    inner = features["F0final_sma_amean"][1:-2]  # full windows well inside the tone
    assert inner.between(430, 450).all(), inner.tolist()


def test_silence_gives_zeros_not_nan(clips: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "silent.csv"
    features = extract(clips["silent"], out)
    assert "nan" not in out.read_text().lower()
    assert (features["pcm_RMSenergy_sma_amean"] == 0).all()


def test_window_and_hop_options(clips: dict[str, Path], music_features: pd.DataFrame,
                                tmp_path: Path) -> None:
    deam_style = extract(clips["music"], tmp_path / "deam.csv", "--window", "0.5", "--hop", "0.5")
    assert len(deam_style) == len(music_features)
    assert not np.allclose(deam_style["pcm_RMSenergy_sma_stddev"],
                           music_features["pcm_RMSenergy_sma_stddev"])


def test_external_smilextract_on_path_gives_identical_csv(clips: dict[str, Path], tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "SMILExtract"
    builtin = ROOT / "trompa_mer" / "features" / "smilextract.py"
    fake.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{builtin}" "$@"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    assert smile.find_smilextract("", ROOT / "nowhere").argv[0] != str(fake)
    assert smile.find_smilextract(str(fake), ROOT / "nowhere").argv == (str(fake),)
    extract(clips["music"], tmp_path / "builtin.csv")
    extract(clips["music"], tmp_path / "external.csv", env=env)
    assert (tmp_path / "builtin.csv").read_bytes() == (tmp_path / "external.csv").read_bytes()


def test_batch_extracts_skips_and_reports(clips: dict[str, Path], tmp_path: Path) -> None:
    audio = tmp_path / "audio"
    audio.mkdir()
    for name in ("music", "quiet"):
        (audio / clips[name].name).write_bytes(clips[name].read_bytes())
    (audio / "broken.mp3").write_bytes(b"ID3 this is not an mp3" * 50)
    feats = tmp_path / "feats"
    first = run_script("extract_features.py", "-i", audio, "-o", feats, "-j", "2")
    assert first.returncode == 1
    assert sorted(p.name for p in feats.iterdir()) == ["music.csv", "quiet.csv"]
    assert "done 2, skipped 0, failed 1" in first.stderr
    assert "broken.mp3" in first.stderr
    mtime = (feats / "music.csv").stat().st_mtime_ns
    (audio / "broken.mp3").unlink()
    second = run_script("extract_features.py", "-i", audio, "-o", feats)
    assert second.returncode == 0
    assert "done 0, skipped 2, failed 0" in second.stderr
    assert (feats / "music.csv").stat().st_mtime_ns == mtime
    third = run_script("extract_features.py", "-i", audio, "-o", feats, "--overwrite")
    assert "done 2, skipped 0, failed 0" in third.stderr
    single = pd.read_csv(feats / "music.csv", sep=";")
    assert single.shape[1] == 1 + sum(map(len, FAMILIES.values()))  # every family by default


def test_batch_recurses_into_subfolders(clips: dict[str, Path], tmp_path: Path) -> None:
    library = tmp_path / "lib"
    album = library / "Artist" / "Album"
    album.mkdir(parents=True)
    (album / "track.wav").write_bytes(clips["music"].read_bytes())
    (library / "top.wav").write_bytes(clips["quiet"].read_bytes())
    feats = tmp_path / "feats"
    result = run_script("extract_features.py", "-i", library, "-o", feats)
    assert result.returncode == 0, result.stderr
    assert "done 2, skipped 0, failed 0" in result.stderr
    assert sorted(p.name for p in feats.iterdir()) == ["top.csv", "track.csv"]


def test_batch_refuses_no_audio_and_a_csv_output(clips: dict[str, Path], tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "notes.txt").write_text("no audio here")
    audio = tmp_path / "audio"
    audio.mkdir()
    (audio / "music.wav").write_bytes(clips["music"].read_bytes())
    looks_like_audio = tmp_path / "x.wav"
    looks_like_audio.mkdir()
    cases = [
        (empty, tmp_path / "feats", "no audio files"),
        (audio, tmp_path / "all.csv", "-o must be a folder"),
        (looks_like_audio, tmp_path / "x.csv", "-o must be a folder"),
        (looks_like_audio, tmp_path / "feats", "no audio files"),
    ]
    for source, out, message in cases:
        assert message in error_line(run_script("extract_features.py", "-i", source, "-o", out)), source
        assert not out.exists()


def bad_inputs(tmp_path: Path, clips: dict[str, Path]) -> dict[str, tuple[Path, Path, str]]:
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + os.urandom(200))
    truncated = tmp_path / "truncated.mp3"
    truncated.write_bytes(clips["music_mp3"].read_bytes()[:300])
    short = signals.write_wav(tmp_path / "short.wav", signals.tone(440, 0.005))
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    return {
        "missing input": (tmp_path / "nope.wav", tmp_path / "a.csv", "not found"),
        "unsupported extension": (text, tmp_path / "b.csv", "unsupported audio format"),
        "output not csv": (clips["music"], tmp_path / "c.json", "must end in .csv"),
        "output folder missing": (clips["music"], tmp_path / "no" / "d.csv", "folder does not exist"),
        "corrupt audio": (corrupt, tmp_path / "e.csv", "corrupt"),
        "truncated mp3": (truncated, tmp_path / "f.csv", "truncated.mp3"),
        "too short": (short, tmp_path / "g.csv", "too short"),
    }


@pytest.mark.parametrize("case", ["missing input", "unsupported extension", "output not csv",
                                  "output folder missing", "corrupt audio", "truncated mp3", "too short"])
def test_bad_input_one_line_nonzero_no_output(case: str, clips: dict[str, Path], tmp_path: Path) -> None:
    audio, out, message = bad_inputs(tmp_path, clips)[case]
    before = set(tmp_path.rglob("*"))
    result = run_script("extract_features.py", "-i", audio, "-o", out)
    assert message in error_line(result)
    assert not out.exists()
    assert set(tmp_path.rglob("*")) == before  # no temporary file left behind


def test_a_32_bit_float_wav_goes_to_opensmile_as_it_is(clips: dict[str, Path], tmp_path: Path) -> None:
    """openSMILE reads float wavs; converting them (as other odd wavs are) would change their features."""
    wav = signals.convert(clips["music"], tmp_path / "float.wav", "-c:a", "pcm_f32le")
    assert audio.is_plain_wav(wav)
    with audio.as_wav(wav) as given:
        assert given == wav
    assert len(extract(wav, tmp_path / "float.csv")) > 0


def test_audio_over_a_limit_is_refused_before_decoding_and_decoding_stops_there(tmp_path: Path) -> None:
    wav = signals.write_wav(tmp_path / "tone.wav", signals.tone(220, 20))
    lying = bytearray(wav.read_bytes())  # a plain wav whose data chunk claims 1 s of its 20
    at = lying.find(b"data") + 4
    lying[at:at + 4] = (2 * signals.RATE).to_bytes(4, "little")
    for path, data in [(tmp_path / "liar.wav", lying), (tmp_path / "tone.flac", None)]:
        if data is None:
            signals.convert(wav, path)
        else:
            path.write_bytes(data)
        too_long = f"{path.name} lasts 20 s, longer than the 10 s allowed"
        with pytest.raises(AudioTooLongError, match=too_long), audio.as_wav(path, max_seconds=10):
            pass
    # A FLAC whose STREAMINFO claims 1 s of its 20: its header passes, and decoding stops at the limit.
    flac = bytearray((tmp_path / "tone.flac").read_bytes())
    packed = int.from_bytes(flac[18:26], "big")  # rate, channels, bits, then 36 bits of total samples
    flac[18:26] = ((packed >> 36 << 36) | signals.RATE).to_bytes(8, "big")
    claims = tmp_path / "claims_1s.flac"
    claims.write_bytes(flac)
    assert audio.probe_seconds(claims) == pytest.approx(1.0)
    for limit, seconds in ((None, 20), (10, 10)):
        with audio.as_wav(claims, max_seconds=limit) as converted, wave.open(str(converted)) as decoded:
            assert decoded.getnframes() / decoded.getframerate() == pytest.approx(seconds, abs=0.1)


def test_audio_shorter_than_a_window_is_extracted_with_a_warning(clips: dict[str, Path],
                                                                 tmp_path: Path) -> None:
    """A 0.3 s clip, or a window longer than the clip, still gives a CSV, but says its windows are partial."""
    short = signals.write_wav(tmp_path / "short.wav", signals.tone(440, 0.3))
    for source, extra in [(short, ()), (clips["quiet"], ("--window", "6"))]:
        out = tmp_path / f"{source.stem}.csv"
        result = run_script("extract_features.py", "-i", source, "-o", out, *extra)
        assert result.returncode == 0 and out.exists()
        warning = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
        assert len(warning) == 1 and "less than one" in warning[0], result.stderr
        assert source.name in warning[0]
    whole = run_script("extract_features.py", "-i", clips["quiet"], "-o", tmp_path / "whole.csv")
    assert "warning" not in whole.stderr
    batch = run_script("extract_features.py", "-i", short, clips["quiet"], "-o", tmp_path / "feats")
    assert batch.returncode == 0
    assert "warning: " + str(short) in batch.stderr and "done 2 (1 shorter than one window)" in batch.stderr
