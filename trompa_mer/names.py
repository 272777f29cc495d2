"""Fixed names shared by every layer: quadrants and classes, query strategies, scalings, the time format."""

import time
from enum import IntEnum


class Quadrant(IntEnum):
    """Russell quadrant of valence (v) and arousal (a); the value is the class index everywhere."""

    Q1 = 0  # +v +a
    Q2 = 1  # -v +a
    Q3 = 2  # -v -a
    Q4 = 3  # +v -a


QUADRANTS: tuple[str, ...] = tuple(q.name for q in Quadrant)
"""Quadrant names in class-index order: QUADRANTS[i] is class i."""

N_CLASSES = len(QUADRANTS)


def quadrant_index(name: str) -> int:
    """'Q1'..'Q4' → 0..3 by the fixed table; ValueError for anything else."""
    try:
        return Quadrant[name].value
    except KeyError:
        raise ValueError(f"not a quadrant: {name!r} (expected one of {', '.join(QUADRANTS)})") from None


def song_quadrants(data: object, source: str) -> dict[str, int]:
    """`{"song_id": "Q1", …}` (quadrants in any case) → song id (lower-cased) → class index; anything
    else is a ValueError naming `source` (what the caller calls the object) and the bad entry."""
    if not isinstance(data, dict) or not data:
        raise ValueError(f'{source} must be a JSON object {{"song_id": "Q1", ...}}')
    labels = {}
    for song, label in data.items():
        name = label.upper() if isinstance(label, str) else repr(label)
        try:
            labels[str(song).lower()] = quadrant_index(name)
        except ValueError as exc:
            raise ValueError(f"{source}: song {song}: {exc}") from None
    return labels


def quadrant_of(valence: float, arousal: float) -> int:
    """Class index of a valence/arousal point; 0 counts as positive."""
    if arousal >= 0:
        return Quadrant.Q1 if valence >= 0 else Quadrant.Q2
    return Quadrant.Q4 if valence >= 0 else Quadrant.Q3


CLASSES: tuple[int, ...] = tuple(range(N_CLASSES))
"""Class indices 0..3, the labels every member is trained on whatever a batch holds."""

MC, HC, MIX, RAND = "mc", "hc", "mix", "rand"
STRATEGIES: tuple[str, ...] = (MC, HC, MIX, RAND)
"""Query strategies, as named on the command line and in `pool_data.json`: machine consensus, human
consensus, the larger of both, random."""
CROWD_STRATEGIES = frozenset({HC, MIX})
"""Strategies that need crowd annotations."""
DEFAULT_STRATEGY = MC

SCALING_COMMITTEE, SCALING_ORIGINAL = "committee", "original"
SCALINGS: tuple[str, ...] = (SCALING_COMMITTEE, SCALING_ORIGINAL)
"""`committee`: the committee's fitted scaler.pkl; `original`: a StandardScaler fitted on the data at
hand, as the original tool did."""

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
"""Local time with its UTC offset, in every state file and manifest."""


def timestamp(seconds: float | None = None) -> str:
    """`seconds` since the epoch (default: now) in TIME_FORMAT."""
    return time.strftime(TIME_FORMAT, time.localtime(seconds))

UPDATE_ORIGINAL, UPDATE_LAYER, UPDATE_SHIFT = "original", "layer", "shift"
UPDATE_RULES: tuple[str, ...] = (UPDATE_ORIGINAL, UPDATE_LAYER, UPDATE_SHIFT)
"""How a user's answers update their committee: `original`, every member learns the newest batch (the
original tool's rule); `layer`, the members stay as pretrained and a small per-user layer over their
probabilities is refitted on all the user's answers so far; `shift`, the members stay as pretrained
and a per-user shift of the quadrants' log-probabilities, applied after the other listeners' answers,
is refitted on all the user's answers so far."""
DEFAULT_UPDATE_RULE = UPDATE_SHIFT
