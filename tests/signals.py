"""Test audio made with numpy: tones, chords, noise, silence; wav directly, other formats via ffmpeg.

The feature-extraction and clustering tests (test_extract, test_cluster) and the extraction benchmark
(bench/extract.py) make their clips with it. `python -m tests.signals OUT.wav` writes the 10 s
chord progression, to listen to what the tests analyse.
"""

import subprocess
import sys
import wave
from pathlib import Path

import numpy as np

from trompa_mer.features.audio import ffmpeg_executable

RATE = 16000


def tone(freq: float, seconds: float, amplitude: float = 0.3, rate: int = RATE) -> np.ndarray:
    """A sine of `freq` Hz."""
    t = np.arange(int(seconds * rate)) / rate
    return amplitude * np.sin(2 * np.pi * freq * t)


def chord(freqs: list[float], seconds: float, amplitude: float = 0.3, rate: int = RATE) -> np.ndarray:
    """Several sines with harmonics, decaying like plucked notes every half second."""
    t = np.arange(int(seconds * rate)) / rate
    envelope = np.exp(-3 * (t % 0.5))
    mix = sum(np.sin(2 * np.pi * f * k * t) / k for f in freqs for k in (1, 2, 3))
    return amplitude * envelope * mix / (len(freqs) * 1.83)


def noise(seconds: float, amplitude: float = 0.1, seed: int = 0, rate: int = RATE) -> np.ndarray:
    """White noise, seeded."""
    return amplitude * np.random.default_rng(seed).standard_normal(int(seconds * rate))


def silence(seconds: float, rate: int = RATE) -> np.ndarray:
    return np.zeros(int(seconds * rate))


def write_wav(path: Path, signal: np.ndarray, rate: int = RATE) -> Path:
    """16-bit PCM wav; `signal` is (n,) mono or (n, channels), values in [-1, 1]."""
    data = np.clip(np.asarray(signal), -1, 1)
    channels = 1 if data.ndim == 1 else data.shape[1]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((data * 32767).astype("<i2").tobytes())
    return path


def convert(wav: Path, target: Path, *options: str) -> Path:
    """Encode `wav` into `target`'s format with ffmpeg (e.g. mp3 at a high bit rate)."""
    subprocess.run([ffmpeg_executable(), "-v", "error", "-y", "-i", str(wav), *options, str(target)],
                   check=True)
    return target


def progression(seconds_per_chord: float = 2.5, rate: int = RATE) -> np.ndarray:
    """C major, A minor, F major, G major: a little music for demos."""
    chords = [[261.6, 329.6, 392.0], [220.0, 261.6, 329.6], [174.6, 220.0, 261.6], [196.0, 246.9, 293.7]]
    return np.concatenate([chord(c, seconds_per_chord, rate=rate) for c in chords])


if __name__ == "__main__":
    out = Path(sys.argv[1])
    write_wav(out, progression())
    print(out)
