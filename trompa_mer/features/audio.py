"""Any supported audio file → a wav openSMILE can read (pydub + ffmpeg); nothing else."""

import contextlib
import shutil
import struct
import warnings
import wave
from collections.abc import Iterator
from pathlib import Path

from trompa_mer import storage
from trompa_mer.errors import AudioError

WAV_SUFFIX = ".wav"
CONVERTED_SUFFIXES = frozenset({".mp3", ".flac", ".ogg", ".opus", ".m4a", ".aac", ".aiff", ".aif"})
"""Formats decoded with ffmpeg before openSMILE (the original took only .mp3); wavs when not plain."""

SUPPORTED_SUFFIXES = frozenset({WAV_SUFFIX}) | CONVERTED_SUFFIXES

DIRECT_WAV_RATES = frozenset({8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000})
"""Sample rates of the wavs openSMILE is given as they are; other wavs are converted like .flac."""
FLOAT_FORMAT_TAG = 3
"""WAVE_FORMAT_IEEE_FLOAT in a wav's fmt chunk."""


def ffmpeg_executable() -> str:
    """ffmpeg from PATH, else the binary of the imageio-ffmpeg wheel."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError as exc:
        raise AudioError("ffmpeg is not on PATH and imageio-ffmpeg is not installed") from exc
    return imageio_ffmpeg.get_ffmpeg_exe()


def _float_wav_format(path: Path) -> tuple[int, int, int] | None:
    """(channels, rate, bits) of a plain IEEE-float wav (format tag 3), which `wave` cannot read."""
    with open(path, "rb") as handle:
        header = handle.read(36)
    if len(header) < 36 or header[:4] != b"RIFF" or header[8:16] != b"WAVEfmt ":
        return None
    tag, channels, rate = struct.unpack("<HHI", header[20:28])
    bits, = struct.unpack("<H", header[34:36])
    return (channels, rate, bits) if tag == FLOAT_FORMAT_TAG else None


def is_plain_wav(path: Path) -> bool:
    """Whether wav `path` is 16-bit PCM or 32-bit float, mono or stereo, at a common rate: what
    openSMILE reads as it is (float wavs always went to it directly; converting them changes their
    features). Any other header, or one that cannot be read, is not (`wave` raises a bare
    RuntimeError when a chunk's size lies about where the next one starts)."""
    try:
        with wave.open(str(path), "rb") as wav:
            return (wav.getsampwidth() == 2 and wav.getnchannels() in (1, 2)
                    and wav.getframerate() in DIRECT_WAV_RATES)
    except (wave.Error, EOFError, RuntimeError):
        found = _float_wav_format(path)
        return found is not None and found[0] in (1, 2) and found[1] in DIRECT_WAV_RATES \
            and found[2] == 32


def check_supported(path: Path) -> None:
    """Raise AudioError unless `path` exists and has a supported extension."""
    if not path.is_file():
        raise AudioError(f"input audio not found: {path}")
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise AudioError(f"unsupported audio format {path.suffix!r} of {path} (supported: {supported})")


@contextlib.contextmanager
def as_wav(path: Path, name: str | None = None) -> Iterator[Path]:
    """Yield a wav of `path`: the file itself for a plain wav (`is_plain_wav`), else a temporary
    conversion (other formats, and wavs such as 24-bit, float, multichannel or 96 kHz ones);
    `name` calls the audio in messages (default: its path).

    The conversion keeps sample rate and channels (what `ffmpeg -i in.mp3 out.wav` does) and is
    removed afterwards, also on failure.
    """
    check_supported(path)
    if path.suffix.lower() == WAV_SUFFIX and is_plain_wav(path):
        yield path
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pydub warns when ffmpeg is not on PATH
        from pydub import AudioSegment
        from pydub.exceptions import CouldntDecodeError
    AudioSegment.converter = ffmpeg_executable()
    with storage.temporary_file("wav", WAV_SUFFIX) as wav:
        try:
            segment = AudioSegment.from_file_using_temporary_files(str(path))
        except (CouldntDecodeError, IndexError) as exc:
            lines = [line for line in str(exc).splitlines() if line.strip()]
            detail = lines[-1].strip() if lines else "cannot decode"
            raise AudioError(f"cannot decode {name or path} (corrupt or unsupported audio?): "
                             f"{detail}") from exc
        segment.export(str(wav), format="wav")
        yield wav
