"""Labelled windows, what every corpus loader returns and pretraining learns from."""

from dataclasses import dataclass, field

import numpy as np

GROUP_SONG = "song"
"""The group of a window when no other is named: its own song."""


@dataclass
class LabelledWindows:
    """Every labelled window of the usable songs, in song order.

    X (n_windows, 260) features; y (n_windows,) class indices; songs (n_windows,) song id of each
    window; groups (n_windows,) the group each window's song belongs to (folds never split a group):
    its artist, say, or its song id when `group_by` is GROUP_SONG. source: where the features came
    from; label_name: what the labels are called in messages; skipped: reason → song ids left out.
    """

    X: np.ndarray
    y: np.ndarray
    songs: np.ndarray
    groups: np.ndarray
    source: str
    group_by: str = GROUP_SONG
    label_name: str = "annotations"
    skipped: dict[str, list[str]] = field(default_factory=dict)

    @property
    def song_ids(self) -> list[str]:
        return list(dict.fromkeys(self.songs))

    @property
    def n_groups(self) -> int:
        return len(np.unique(self.groups))
