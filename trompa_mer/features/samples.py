"""A decoded wav as the learned models take it: float32 mono samples at 16 kHz."""

from pathlib import Path

import numpy as np

from trompa_mer.errors import AudioError

SAMPLE_RATE = 16000


def read_16k(path: Path) -> np.ndarray:
    """The samples of a wav as float32 mono at SAMPLE_RATE, as vibenet.core.load_audio and librosa.load
    read a file: soundfile, channels averaged, soxr's resampling (its default, high quality)."""
    import soundfile
    import soxr

    try:
        data, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"cannot read {path} as 16 kHz samples: {exc}") from None
    y = data.mean(axis=1)
    return y if rate == SAMPLE_RATE else soxr.resample(y, rate, SAMPLE_RATE).astype(np.float32)
