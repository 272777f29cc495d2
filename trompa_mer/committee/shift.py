"""A label-prior shift: how one listener's answers lean, learnt over their probabilities after the crowd.

The shift b (4,) moves the log-probabilities of the quadrants: probabilities p (4,) become
softmax(log p + b), still probabilities; b = 0 changes nothing. A listener who calls more songs Q1
than the committee and the other listeners expect gets a positive b[Q1]. Four numbers, fitted by
maximum likelihood on all the user's answers so far with an L2 penalty `SHIFT_PENALTY` (a Normal prior
around 0), so a dozen answers cannot overturn the crowd. Unlike the listener layer (layer.py) it is not
linear, so it cannot go through each member: it applies to the user's probabilities after the other
listeners' answers are counted (`learning.personal.UserView`). With the crowd, it predicts held-out
answers better than the 4 × 4 layer (bench/crowd_prior.py, README "The listener's layer").

`shift.json` in the user's folder, `{"shift": [b_Q1, b_Q2, b_Q3, b_Q4]}`, is written and read here
only (`write_shift`, `read_shift`).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trompa_mer import storage
from trompa_mer.errors import CommitteeError
from trompa_mer.names import N_CLASSES

SHIFT_FILE = "shift.json"
SHIFT_PENALTY = 3.0
"""L2 weight on a shift's numbers (a Normal(0, 1/3) prior on each): 12 answers cannot carry many
numbers. With 29 others per song, a label-prior shift's NLL (agreeing / systematic / all listeners)
was 0.884 / 0.827 / 0.846 at 1, 0.862 / 0.842 / 0.849 at 3, 0.856 / 0.889 / 0.878 at 10
(bench/crowd_prior.py): 3 costs the agreeing listeners least for most of the gain."""
FLOOR = 1e-12
"""The smallest probability a shift reads: a quadrant at 0 stays (almost) at 0 however it moves."""


@dataclass(frozen=True)
class LabelShift:
    """The listener's shift of the quadrants' log-probabilities (4,)."""

    shift: np.ndarray

    def apply(self, proba: np.ndarray) -> np.ndarray:
        """Probabilities (n, 4) as this listener leans: softmax(log proba + shift) per row."""
        return np.exp(log_softmax(np.log(np.clip(proba, FLOOR, 1.0)) + self.shift))

    def to_json(self) -> dict:
        return {"shift": self.shift.tolist()}

    @classmethod
    def from_json(cls, data: object) -> "LabelShift":
        """ValueError unless `data` is {"shift": [4 finite numbers]}."""
        values = data.get("shift") if isinstance(data, dict) else None
        if not isinstance(values, list) or len(values) != N_CLASSES \
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values) \
                or not np.isfinite(values).all():
            raise ValueError(f'a label-prior shift is {{"shift": [{N_CLASSES} finite numbers]}}, '
                             f"not {str(data)[:80]}")
        return cls(np.asarray(values, dtype=np.float64))


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax over the last axis, without overflow."""
    top = logits.max(axis=-1, keepdims=True)
    return logits - top - np.log(np.exp(logits - top).sum(axis=-1, keepdims=True))


def fit_shift(song_proba: np.ndarray, labels: np.ndarray, basis: np.ndarray | None = None,
              penalty: float = SHIFT_PENALTY) -> LabelShift:
    """The shift most probable given the listener's answers: song_proba (n_songs, 4) what it will
    apply to for each answered song (the committee updated by the other listeners' answers), labels
    (n_songs,) the listener's quadrant. `basis` (k, 4) maps k numbers θ to the shift θ · basis, each
    θ ~ Normal(0, 1/penalty); default the identity (4 free numbers)."""
    from scipy import optimize  # imported by a fit only: reading and applying a shift needs numpy alone

    basis = np.eye(N_CLASSES) if basis is None else basis
    logs = np.log(np.clip(song_proba, FLOOR, 1.0))
    picked = np.eye(N_CLASSES)[labels]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        shifted = log_softmax(logs + theta @ basis)
        value = -(shifted * picked).sum() + penalty * theta @ theta / 2
        gradient = (np.exp(shifted) - picked).sum(axis=0) @ basis.T + penalty * theta
        return float(value), gradient

    theta = optimize.minimize(loss, np.zeros(len(basis)), jac=True, method="L-BFGS-B").x
    return LabelShift(theta @ basis)


def read_shift(folder: Path) -> LabelShift | None:
    """The shift in `folder`'s SHIFT_FILE; None when there is none (a user with no answers yet);
    CommitteeError naming the file when it is not a shift."""
    path = folder / SHIFT_FILE
    if not path.is_file():
        return None
    try:
        return LabelShift.from_json(storage.read_json(path))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CommitteeError(f"malformed {path}: {exc}") from None


def write_shift(path: Path, shift: LabelShift) -> None:
    storage.write_json(path, shift.to_json())
