"""Any supported audio file → a wav openSMILE can read (pydub + ffmpeg); nothing else."""

import contextlib
import re
import shutil
import struct
import subprocess
import warnings
import wave
from collections.abc import Iterator
from pathlib import Path

from trompa_mer import storage
from trompa_mer.errors import AudioError, AudioTooLongError

WAV_SUFFIX = ".wav"
CONVERTED_SUFFIXES = frozenset({".mp3", ".flac", ".ogg", ".opus", ".m4a", ".aac", ".aiff", ".aif"})
"""Formats decoded with ffmpeg before openSMILE (the original took only .mp3); wavs when not plain."""

SUPPORTED_SUFFIXES = frozenset({WAV_SUFFIX}) | CONVERTED_SUFFIXES

DIRECT_WAV_RATES = frozenset({8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000})
"""Sample rates of the wavs openSMILE is given as they are; other wavs are converted like .flac."""
FLOAT_FORMAT_TAG = 3
"""WAVE_FORMAT_IEEE_FLOAT in a wav's fmt chunk."""
DURATION = re.compile(rb"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
"""The duration line `ffmpeg -i FILE` prints from the file's header."""
PROBE_TIMEOUT_SECONDS = 30


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


def _plain_wav_byte_rate(path: Path) -> int | None:
    """Bytes per second of audio of a plain wav (`is_plain_wav`), None for any other file."""
    try:
        with wave.open(str(path), "rb") as wav:
            channels, rate, width = wav.getnchannels(), wav.getframerate(), wav.getsampwidth()
        plain = width == 2
    except (wave.Error, EOFError, RuntimeError):
        found = _float_wav_format(path)
        channels, rate, width = (found[0], found[1], 4) if found else (0, 0, 0)
        plain = found is not None and found[2] == 32
    return channels * rate * width if plain and channels in (1, 2) and rate in DIRECT_WAV_RATES else None


def is_plain_wav(path: Path) -> bool:
    """Whether wav `path` is 16-bit PCM or 32-bit float, mono or stereo, at a common rate: what
    openSMILE reads as it is (float wavs always went to it directly; converting them changes their
    features). Any other header, or one that cannot be read, is not (`wave` raises a bare
    RuntimeError when a chunk's size lies about where the next one starts)."""
    return _plain_wav_byte_rate(path) is not None


def probe_seconds(path: Path) -> float | None:
    """The duration `path`'s header claims, in seconds, as ffmpeg reads it without decoding; None
    when it claims none. A header may lie: decoding is limited on its own (`as_wav`)."""
    try:
        result = subprocess.run([ffmpeg_executable(), "-hide_banner", "-nostdin", "-i", str(path)],
                                capture_output=True, timeout=PROBE_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        raise AudioError(f"ffmpeg could not read the header of {path} within {PROBE_TIMEOUT_SECONDS} s") \
            from None
    found = DURATION.search(result.stderr)
    return int(found[1]) * 3600 + int(found[2]) * 60 + float(found[3]) if found else None


def check_supported(path: Path) -> None:
    """Raise AudioError unless `path` exists and has a supported extension."""
    if not path.is_file():
        raise AudioError(f"input audio not found: {path}")
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise AudioError(f"unsupported audio format {path.suffix!r} of {path} (supported: {supported})")


@contextlib.contextmanager
def as_wav(path: Path, name: str | None = None, max_seconds: float | None = None) -> Iterator[Path]:
    """Yield a wav of `path`: the file itself for a plain wav (`is_plain_wav`), else a temporary
    conversion (other formats, and wavs such as 24-bit, float, multichannel or 96 kHz ones);
    `name` calls the audio in messages (default: its path).

    The conversion keeps sample rate and channels (what `ffmpeg -i in.mp3 out.wav` does) and is
    removed afterwards, also on failure. With `max_seconds`, audio longer than that is an
    AudioTooLongError before anything is decoded (a plain wav by its size, anything else by its
    header), and a conversion stops there whatever the header said.
    """
    check_supported(path)
    byte_rate = _plain_wav_byte_rate(path) if path.suffix.lower() == WAV_SUFFIX else None
    if max_seconds is not None:
        seconds = path.stat().st_size / byte_rate if byte_rate else probe_seconds(path)
        if seconds is not None and seconds > max_seconds:
            raise AudioTooLongError(f"{name or path} lasts {seconds:.0f} s, longer than the "
                                    f"{max_seconds:g} s allowed")
    if byte_rate:
        yield path
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pydub warns when ffmpeg is not on PATH
        from pydub import AudioSegment
        from pydub.exceptions import CouldntDecodeError
    AudioSegment.converter = ffmpeg_executable()
    with storage.temporary_file("wav", WAV_SUFFIX) as wav:
        try:
            segment = AudioSegment.from_file_using_temporary_files(str(path), duration=max_seconds)
        except (CouldntDecodeError, IndexError) as exc:
            lines = [line for line in str(exc).splitlines() if line.strip()]
            detail = lines[-1].strip() if lines else "cannot decode"
            raise AudioError(f"cannot decode {name or path} (corrupt or unsupported audio?): "
                             f"{detail}") from exc
        segment.export(str(wav), format="wav")
        yield wav
