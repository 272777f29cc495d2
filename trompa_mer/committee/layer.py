"""A listener layer: how one person hears music, learnt over a committee that stays as pretrained.

The layer is the listener's confusion matrix C (4 × 4, rows sum to 1): C[i, j] is how often they call
a song of the committee's quadrant i quadrant j. A member's probabilities p (4,) become p · C, still
probabilities; the identity changes nothing. Fitted to a listener's answers, C learns their
systematic confusions (a listener who hears Q2 songs as Q1 moves Q2's mass to Q1), and the members'
disagreement carries through it unchanged in kind. It is refitted on all the answers so far at every
update, pulled toward the identity by a prior, so what a user taught it early is never forgotten and
a few answers cannot overturn the committee. Sixteen numbers: an update takes milliseconds.
"""

from dataclasses import dataclass, field

import numpy as np

from trompa_mer.committee import consensus
from trompa_mer.names import N_CLASSES

PRIOR_SONGS = 10.0
"""The prior's weight toward the identity, in answered songs per quadrant: with a few answers the
layer stays close to the committee, with many the answers decide."""
PRIOR_SPREAD = 0.05
"""Pseudo-songs on every other cell: no confusion is ever ruled out."""
EM_ITERATIONS = 200


@dataclass(frozen=True)
class ListenerLayer:
    """The listener's confusion matrix over the committee's quadrants (identity: no change)."""

    confusion: np.ndarray = field(default_factory=lambda: np.eye(N_CLASSES))

    def apply(self, proba: np.ndarray) -> np.ndarray:
        """Probabilities (..., 4) as this listener hears them."""
        return proba @ self.confusion

    def to_json(self) -> dict:
        return {"confusion": self.confusion.tolist()}

    @classmethod
    def from_json(cls, data: dict) -> "ListenerLayer":
        confusion = np.asarray(data["confusion"], dtype=np.float64)
        if confusion.shape != (N_CLASSES, N_CLASSES) or not np.isfinite(confusion).all() \
                or (confusion < 0).any() or not np.allclose(confusion.sum(axis=1), 1.0):
            raise ValueError(f"a listener layer is a 4 × 4 matrix of probabilities whose rows sum to 1, "
                             f"not {confusion.shape}")
        return cls(confusion)


def fit_layer(member_proba: np.ndarray, offsets: np.ndarray, labels: np.ndarray,
              prior_songs: float = PRIOR_SONGS) -> ListenerLayer:
    """The confusion matrix most probable given the listener's answers (`fit_confusion`).

    member_proba (n_members, n_rows, 4): every member on every window of the answered songs;
    offsets (n_songs + 1,) where each answered song's windows start (`Pool.windows`'s offsets);
    labels (n_songs,) the listener's quadrant per song. A song's committee
    probability is the mean over its windows and the members.
    """
    song_proba = consensus.committee_probabilities(consensus.song_probabilities(member_proba, offsets))
    return fit_confusion(song_proba, labels, prior_songs)


def fit_confusion(song_proba: np.ndarray, labels: np.ndarray,
                  prior_songs: float = PRIOR_SONGS) -> ListenerLayer:
    """The confusion matrix most probable given the listener's answers (EM, a Dirichlet prior):
    song_proba (n_songs, 4) what the layer will see for each answered song (the committee's, or the
    committee's updated by other listeners' answers), labels (n_songs,) the listener's quadrant. The
    quadrant behind each answered song is the hidden variable of the EM.
    """
    n_songs = len(labels)
    prior = np.full((N_CLASSES, N_CLASSES), PRIOR_SPREAD) + prior_songs * np.eye(N_CLASSES)
    confusion = np.eye(N_CLASSES) * 0.9 + 0.1 / N_CLASSES
    answered = np.zeros((n_songs, N_CLASSES))
    answered[np.arange(n_songs), labels] = 1.0
    for _ in range(EM_ITERATIONS):
        joint = song_proba * confusion[:, labels].T  # (n_songs, 4): committee quadrant i and the answer
        responsibility = joint / np.maximum(joint.sum(axis=1, keepdims=True), 1e-300)
        counts = responsibility.T @ answered + prior  # (4, 4): committee quadrant → answered quadrant
        updated = counts / counts.sum(axis=1, keepdims=True)
        if np.abs(updated - confusion).max() < 1e-9:
            confusion = updated
            break
        confusion = updated
    return ListenerLayer(confusion)
