"""Fixed names shared by every layer: the quadrants and their class indices."""

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


def quadrant_of(valence: float, arousal: float) -> int:
    """Class index of a valence/arousal point; 0 counts as positive."""
    if arousal >= 0:
        return Quadrant.Q1 if valence >= 0 else Quadrant.Q2
    return Quadrant.Q4 if valence >= 0 else Quadrant.Q3
