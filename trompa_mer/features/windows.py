"""Pure: openSMILE's 10 ms frames → per-window standard deviation and mean."""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

FRAME_SECONDS = 0.01
"""IS13_ComParE's frame step."""


def window_frames(seconds: float) -> int:
    """Whole number of 10 ms frames in `seconds`."""
    return int(round(seconds / FRAME_SECONDS))


def window_starts(n_frames: int, hop: int) -> np.ndarray:
    """First frame of every window: 0, hop, 2·hop, … below `n_frames`; ceil(n_frames / hop) of them."""
    return np.arange(0, n_frames, hop)


def window_statistics(frames: np.ndarray, length: int, hop: int) -> np.ndarray:
    """Standard deviation (ddof 0) and mean of each window, interleaved per column.

    frames: (n_frames, n_columns). A window starting at frame s holds frames s … s+length
    inclusive (length+1 frames, as the original tool); windows near the end hold what remains.
    Returns (n_windows, 2·n_columns): std of column 0, mean of column 0, std of column 1, …
    """
    frames = np.asarray(frames, dtype=np.float64)
    n_frames, n_columns = frames.shape
    starts = window_starts(n_frames, hop)
    span = length + 1
    n_full = 0 if n_frames < span else (n_frames - span) // hop + 1
    out = np.empty((len(starts), n_columns, 2))
    if n_full:
        views = sliding_window_view(frames, span, axis=0)[: (n_full - 1) * hop + 1 : hop]
        out[:n_full, :, 1] = views.mean(axis=2)
        out[:n_full, :, 0] = views.std(axis=2)
    for row, start in enumerate(starts[n_full:], start=n_full):
        tail = frames[start:]
        out[row, :, 1] = tail.mean(axis=0)
        out[row, :, 0] = tail.std(axis=0)
    return out.reshape(len(starts), 2 * n_columns)


def window_times(frame_times: np.ndarray, hop: int) -> np.ndarray:
    """Start time of each window in seconds (its first frame's time), rounded to 2 decimals."""
    return np.round(np.asarray(frame_times, dtype=np.float64)[::hop], 2)
