"""The vibenet family: a learned music model's seven outputs and 256-d embedding, per 5 s segment, one
row per feature window.

vibenet (PyPI, GPL-3.0-or-later) ships an EfficientNet trained on music as ONNX inside its wheel; we run
that file with onnxruntime, with its penultimate layer (`gelu`) exposed as a second output. Its input is
the log-mel spectrogram vibenet.core.extract_mel computes; vibenet's module imports librosa (with numba
and llvmlite, ~210 MB) for the mel filterbank alone, so the product installs vibenet without its
dependencies and reads that filterbank from `models/vibenet_mel.npy`, written once from librosa by
tools/vibenet_mel_filters.py, which also checks `log_mel` against vibenet's own. This module holds that
front end, the segments and the model's outputs per segment; what it shares with musicnn (the 16 kHz
samples, the filterbank's loading, the one-thread session, segments to windows) is features/learned.py's.
"""

from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np

from trompa_mer.features.columns import VIBENET_EMBEDDING, VIBENET_OUTPUTS
from trompa_mer.features.learned import MODELS, SAMPLE_RATE, mel_filters, one_thread_session

if TYPE_CHECKING:
    from onnxruntime import InferenceSession

N_FFT = 1024
WIN_LENGTH = 640
HOP_LENGTH = 320
N_MELS = 128
TOP_DB = 80.0
"""vibenet.core.extract_mel's defaults: what its model was trained on."""
SEGMENT_SECONDS = 5.0
SEGMENT_HOP = 2.5
"""One model pass per 5 s segment, a segment every 2.5 s: what measured best on 4q-dev (bench/README)."""
MEL_FILTERS = MODELS / "vibenet_mel.npy"
MODEL_PACKAGE = "vibenet.artifacts"
MODEL_FILE = "efficientnet_model.onnx"
EMBEDDING_NODE = "gelu"
"""The output of the graph's penultimate layer, which its seven heads read."""


def _power_mel(y: np.ndarray) -> np.ndarray:
    """(N_MELS, frames) mel power of y, frames of WIN_LENGTH every HOP_LENGTH samples, no padding,
    under a periodic Hann window (scipy's `get_window("hann", WIN_LENGTH)`)."""
    from numpy.lib.stride_tricks import sliding_window_view

    if len(y) < WIN_LENGTH:
        y = np.pad(y, (0, WIN_LENGTH - len(y)))
    hann = np.hanning(WIN_LENGTH + 1)[:-1].astype(np.float32)
    spectrum = np.fft.rfft(sliding_window_view(y, WIN_LENGTH)[::HOP_LENGTH] * hann, n=N_FFT, axis=-1)
    power = (spectrum.real ** 2 + spectrum.imag ** 2).astype(np.float32)
    return (mel_filters(MEL_FILTERS) @ power.T).astype(np.float32)


def _decibels(mel: np.ndarray) -> np.ndarray:
    """Power to dB, floored TOP_DB below the loudest bin of the whole array."""
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    return np.maximum(db, db.max() - TOP_DB).astype(np.float32)


def log_mel(y: np.ndarray) -> np.ndarray:
    """(N_MELS, frames) log-mel of 16 kHz samples, as vibenet.core.extract_mel computes it."""
    return _decibels(_power_mel(y))


GELU_OUTPUT = b"\x3a\x0e" b"\x62\x0c" b"\x0a\x04gelu" b"\x12\x04\x0a\x02\x08\x01"
"""Serialized ONNX that declares the graph's `gelu` tensor (float) an output: a ModelProto holding only
`graph` (field 7) whose one `output` (field 12) is a ValueInfoProto named `gelu` (field 1) of tensor
type float (field 2). Protocol buffers merge a message field that appears twice, so these bytes after
the model's own add an output to its graph: what `onnx.helper.make_tensor_value_info` appended to
`graph.output` does, without importing onnx (0.9 s, for ml_dtypes). tools/vibenet_mel_filters.py checks
the two agree."""


def _model() -> bytes:
    """vibenet's ONNX model, read from its wheel, with its `gelu` layer declared a second output."""
    return (resources.files(MODEL_PACKAGE) / MODEL_FILE).read_bytes() + GELU_OUTPUT


@lru_cache(maxsize=1)
def session() -> "InferenceSession":
    """An onnxruntime session of vibenet's model on one thread, its `gelu` layer a second output."""
    return one_thread_session(_model, "the vibenet descriptors need the vibenet and onnxruntime packages")


def segment_starts(samples: int) -> np.ndarray:
    """Start sample of each segment: every SEGMENT_HOP while a whole segment fits, at least one."""
    length, hop = int(SEGMENT_SECONDS * SAMPLE_RATE), int(SEGMENT_HOP * SAMPLE_RATE)
    return np.arange(0, max(1, samples - length + 1), hop)


def segment_descriptors(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Segment start times (n_segments,) in seconds and their descriptors (n_segments, 263): the
    model's seven raw outputs, then its embedding. One spectrogram of the whole audio, cut per segment
    (segment starts fall on frame starts), each segment floored in dB on its own as vibenet does."""
    starts = segment_starts(len(y))
    frames_per_hop = int(SEGMENT_HOP * SAMPLE_RATE) // HOP_LENGTH
    frames = (int(SEGMENT_SECONDS * SAMPLE_RATE) - WIN_LENGTH) // HOP_LENGTH + 1
    power = _power_mel(y)
    model = session()  # its graph takes one segment at a time (a reshape to batch 1 inside)
    values = np.stack([np.concatenate(model.run(["out", EMBEDDING_NODE], {"x": _decibels(
        power[:, k * frames_per_hop: k * frames_per_hop + frames])[None]}), axis=1)[0]
        for k in range(len(starts))])
    assert values.shape[1] == len(VIBENET_OUTPUTS) + VIBENET_EMBEDDING
    return starts / SAMPLE_RATE, values.astype(np.float64)
