"""The vectorised window statistics against a plain loop that is obviously right."""

import math

import numpy as np
import pytest

from trompa_mer.features.windows import window_starts, window_statistics, window_times


def loop_reference(frames: np.ndarray, length: int, hop: int) -> np.ndarray:
    rows = []
    for start in range(0, len(frames), hop):
        window = frames[start:start + length + 1]
        row = []
        for column in range(frames.shape[1]):
            values = [float(v) for v in window[:, column]]
            mean = sum(values) / len(values)
            std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
            row += [std, mean]
        rows.append(row)
    return np.array(rows)


@pytest.mark.parametrize("n_frames", [1, 7, 50, 100, 101, 102, 151, 333, 2996])
@pytest.mark.parametrize("length,hop", [(100, 50), (50, 50), (20, 7)])
def test_vectorised_equals_loop(n_frames: int, length: int, hop: int) -> None:
    frames = np.random.default_rng(n_frames).normal(3.0, 2.0, size=(n_frames, 4))
    got = window_statistics(frames, length, hop)
    expected = loop_reference(frames, length, hop)
    assert got.shape == (math.ceil(n_frames / hop), 8)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_window_holds_101_frames_inclusive() -> None:
    frames = np.arange(300, dtype=float)[:, None]
    stats = window_statistics(frames, 100, 50)
    assert stats[0, 1] == pytest.approx(50.0)  # mean of 0..100
    assert stats[-1, 1] == pytest.approx(274.5)  # last window: frames 250..299
    assert len(window_starts(300, 50)) == 6


def test_window_times_are_first_frame_rounded() -> None:
    times = np.arange(0, 3.0, 0.01) + 1e-7
    assert list(window_times(times, 50)) == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
