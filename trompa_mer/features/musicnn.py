"""The musicnn family: the MSD musicnn model's 200-d penultimate layer and its 50 tag probabilities, per
3 s patch, one row per feature window.

musicnn (Pons and Serra, ISMIR 2019 late-breaking demo; PyPI `musicnn`, ISC licence, notice in
models/MUSICNN_LICENSE.md) ships TensorFlow 1 checkpoints; tools/convert_musicnn.py converted its model
trained on the Million Song Dataset's tags once to ONNX (models/msd_musicnn.onnx, 3.2 MB) and checked it
against TensorFlow's own output, so it runs on onnxruntime with neither TensorFlow nor librosa. Its input
is librosa's mel spectrogram as musicnn computes it: 16 kHz, 512-point frames every 256 samples, centred
(zero padding of 256), periodic Hann, power, 96 Slaney mel bands (models/musicnn_mel.npy, written from
librosa by the conversion), rounded to float16, then log10(10000·x + 1) in float32.

Here: that front end, the patches and what the model gives for them. features/learned.py, shared with
vibenet, reads the audio, loads the filterbank, opens the session and maps patches onto windows.
"""

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from trompa_mer.features.columns import MUSICNN_NAMES
from trompa_mer.features.learned import MODELS, SAMPLE_RATE, mel_filters, one_thread_session

if TYPE_CHECKING:
    from onnxruntime import InferenceSession

N_FFT = 512
HOP_LENGTH = 256
PATCH_FRAMES = 187
"""3 s of frames: what musicnn's model takes."""
PATCH_SECONDS = PATCH_FRAMES * HOP_LENGTH / SAMPLE_RATE
"""A patch's length in seconds (2.992)."""
PATCH_HOP_FRAMES = 188
"""A patch every 3 s (188 frames of 256 samples): what measured best per CPU second on 4q-dev."""
MODEL_FILE = MODELS / "msd_musicnn.onnx"
MEL_FILTERS = MODELS / "musicnn_mel.npy"
INPUT, OUTPUTS = "model/x:0", ["model/penultimate:0", "model/taggram:0"]


def log_mel(y: np.ndarray) -> np.ndarray:
    """(frames, 96) log-compressed mel spectrogram of 16 kHz samples, as musicnn computes it."""
    from numpy.lib.stride_tricks import sliding_window_view

    padded = np.pad(y, N_FFT // 2)
    if len(padded) < N_FFT:
        padded = np.pad(padded, (0, N_FFT - len(padded)))
    hann = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)
    spectrum = np.fft.rfft(sliding_window_view(padded, N_FFT)[::HOP_LENGTH] * hann, axis=1)
    mel = (np.abs(spectrum) ** 2 @ mel_filters(MEL_FILTERS).T).astype(np.float16).astype(np.float32)
    return np.log10(10000 * mel + 1)


@lru_cache(maxsize=1)
def session() -> "InferenceSession":
    """An onnxruntime session of the converted MSD musicnn model on one thread."""
    return one_thread_session(MODEL_FILE.read_bytes, "the musicnn descriptors need the onnxruntime package")


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
