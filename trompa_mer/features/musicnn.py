"""The musicnn family: the MSD musicnn model's 200-d penultimate layer and its 50 tag probabilities, per
3 s patch, one row per feature window.

musicnn (Pons and Serra, ISMIR 2019 late-breaking demo; PyPI `musicnn`, ISC licence, notice in
models/MUSICNN_LICENSE.md) ships TensorFlow 1 checkpoints; tools/convert_musicnn.py converted its model
trained on the Million Song Dataset's tags once to ONNX (models/msd_musicnn.onnx, 3.2 MB) and checked it
against TensorFlow's own output, so it runs on onnxruntime with neither TensorFlow nor librosa. Its input
is librosa's mel spectrogram as musicnn computes it: 16 kHz, 512-point frames every 256 samples, centred
(zero padding of 256), periodic Hann, power, 96 Slaney mel bands (models/musicnn_mel.npy, written from
librosa by the conversion), rounded to float16, then log10(10000·x + 1) in float32.
"""

from functools import lru_cache
from pathlib import Path

import numpy as np

from trompa_mer.errors import FeatureError
from trompa_mer.features.columns import MUSICNN_NAMES
from trompa_mer.features.samples import SAMPLE_RATE, read_16k

N_FFT = 512
HOP_LENGTH = 256
PATCH_FRAMES = 187
"""3 s of frames: what musicnn's model takes."""
PATCH_HOP_FRAMES = 188
"""A patch every 3 s (188 frames of 256 samples): what measured best per CPU second on 4q-dev."""
MODELS = Path(__file__).with_name("models")
MODEL_FILE = MODELS / "msd_musicnn.onnx"
MEL_FILTERS = MODELS / "musicnn_mel.npy"
INPUT, OUTPUTS = "model/x:0", ["model/penultimate:0", "model/taggram:0"]


@lru_cache(maxsize=1)
def mel_filters() -> np.ndarray:
    return np.load(MEL_FILTERS)


def log_mel(y: np.ndarray) -> np.ndarray:
    """(frames, 96) log-compressed mel spectrogram of 16 kHz samples, as musicnn computes it."""
    from numpy.lib.stride_tricks import sliding_window_view

    padded = np.pad(y, N_FFT // 2)
    if len(padded) < N_FFT:
        padded = np.pad(padded, (0, N_FFT - len(padded)))
    hann = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)
    spectrum = np.fft.rfft(sliding_window_view(padded, N_FFT)[::HOP_LENGTH] * hann, axis=1)
    mel = (np.abs(spectrum) ** 2 @ mel_filters().T).astype(np.float16).astype(np.float32)
    return np.log10(10000 * mel + 1)


@lru_cache(maxsize=1)
def session() -> object:
    """An onnxruntime session of the converted MSD musicnn model on one thread."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise FeatureError(f"the musicnn descriptors need the onnxruntime package: {exc}") from None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(MODEL_FILE), options, providers=["CPUExecutionProvider"])


def patch_descriptors(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Patch start times (n_patches,) in seconds and descriptors (n_patches, 250): the penultimate
    layer, then the 50 tag probabilities. Audio shorter than a patch is padded with silence to one."""
    mel = log_mel(y)
    if len(mel) < PATCH_FRAMES:
        mel = np.pad(mel, ((0, PATCH_FRAMES - len(mel)), (0, 0)), constant_values=0.0)
    starts = np.arange(0, len(mel) - PATCH_FRAMES + 1, PATCH_HOP_FRAMES)
    patches = np.stack([mel[t:t + PATCH_FRAMES] for t in starts]).astype(np.float32)
    penultimate, tags = session().run(OUTPUTS, {INPUT: patches})
    values = np.hstack([penultimate, tags]).astype(np.float64)
    assert values.shape[1] == len(MUSICNN_NAMES)
    return starts * HOP_LENGTH / SAMPLE_RATE, values


def window_descriptors(window_times: np.ndarray, window: float, starts: np.ndarray,
                       values: np.ndarray) -> np.ndarray:
    """(n_windows, 250): each feature window takes the descriptors of the patch whose middle is
    nearest the window's middle."""
    middles = np.asarray(window_times) + window / 2
    patch_middles = starts + PATCH_FRAMES * HOP_LENGTH / SAMPLE_RATE / 2
    return values[np.abs(middles[:, None] - patch_middles[None, :]).argmin(axis=1)]


def descriptors_of_wav(wav: Path, window_times: np.ndarray, window: float) -> np.ndarray:
    """(n_windows, 250) musicnn descriptors of a wav for the feature windows starting at `window_times`."""
    starts, values = patch_descriptors(read_16k(wav))
    return window_descriptors(window_times, window, starts, values)
