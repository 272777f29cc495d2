"""What the learned descriptor families (vibenet, musicnn) share: the audio as their models take it
(float32 mono at 16 kHz), their files in `models/` (mel filterbanks, loaded once), an onnxruntime session
on one thread, and the mapping of their per-segment descriptors onto the feature windows. Each family's
own module keeps its front end, its segmenting and its model's outputs."""

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from trompa_mer.errors import AudioError, FeatureError

if TYPE_CHECKING:
    from onnxruntime import InferenceSession

SAMPLE_RATE = 16000
MODELS = Path(__file__).with_name("models")
"""The files the learned families ship: mel filterbanks, converted models."""


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


@cache
def mel_filters(path: Path) -> np.ndarray:
    """The mel filterbank (n_mels, n_fft // 2 + 1) saved at `path`, loaded once."""
    return np.load(path)


def one_thread_session(model: Callable[[], bytes], needs: str) -> "InferenceSession":
    """An onnxruntime session on one CPU thread of the ONNX bytes `model()` gives; a FeatureError saying
    what the family `needs` when onnxruntime or the model is missing."""
    try:
        import onnxruntime
        onnx = model()
    except (ImportError, FileNotFoundError) as exc:
        raise FeatureError(f"{needs}: {exc}") from None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(onnx, options, providers=["CPUExecutionProvider"])


def nearest_segments(window_times: np.ndarray, window: float, starts: np.ndarray, seconds: float,
                     values: np.ndarray) -> np.ndarray:
    """(n_windows, columns): each feature window (`window` seconds from each of `window_times`) takes the
    row of `values` of the segment (`seconds` long from each of `starts`) whose middle is nearest its own."""
    middles = np.asarray(window_times) + window / 2
    nearest = np.abs(middles[:, None] - (starts + seconds / 2)[None, :]).argmin(axis=1)
    return values[nearest]
