"""Rescoring the same songs while a committee only grows: each xgb member adds trees to margins it kept.

A simulated user's committee scores the same pool and test songs after every update, and an updated
xgb member is its predecessor plus the new rounds, so predicting every tree again costs more each
iteration (1,100 rounds after ten updates). A MarginMemo keeps each xgb member's raw margins per
song and lets xgboost add only the new rounds to them (`base_margin`): the same float32 sums in the
same order, so the probabilities are bitwise those of a full prediction. Other kinds predict in
full; they are cheap.
"""

import numpy as np

from trompa_mer.committee.model import Committee
from trompa_mer.names import N_CLASSES


def _growable(member: object) -> bool:
    """An xgb member whose probabilities xgboost computes from all its trees' margins (4-class
    softprob, no early-stopping limit); anything else predicts in full."""
    from trompa_mer.committee import members

    return (members.kind_of(member) == "xgb" and getattr(member, "objective", None) == "multi:softprob"
            and getattr(member, "n_classes_", None) == N_CLASSES
            and member.get_booster().attr("best_iteration") is None)


class MarginMemo:
    """Margins (n_windows, 4) per (member name, song) and the rounds they cover.

    Valid for one lineage of committees: every committee it scores must be the previous one with
    members only updated (`update.learn_answers`), and a song's rows must be the same each time.
    One memo per simulated run; songs are independent keys, so chunks may be scored on threads.
    """

    def __init__(self) -> None:
        self._margins: dict[tuple[str, str], tuple[int, np.ndarray]] = {}

    def proba(self, committee: Committee, X: np.ndarray, offsets: np.ndarray,
              song_ids: list[str]) -> np.ndarray:
        """As `committee.proba(X)`: (n_members, n_rows, 4) for scaled rows X of `song_ids`, whose
        windows are X[offsets[i]:offsets[i + 1]]."""
        from trompa_mer.committee import members

        columns = {name: X[:, committee.member_columns(name)] for name in committee.members}
        return committee.heard(np.stack([
            self._xgb_proba(name, member, columns[name], offsets, song_ids) if _growable(member)
            else members.predict_proba(member, columns[name]) for name, member in committee.members.items()]))

    def _xgb_proba(self, name: str, member: object, X: np.ndarray, offsets: np.ndarray,
                   song_ids: list[str]) -> np.ndarray:
        booster = member.get_booster()
        rounds = booster.num_boosted_rounds()
        kept = [self._margins.get((name, song), (0, None)) for song in song_ids]
        start = kept[0][0]
        if start == 0 or start > rounds or any(entry[0] != start for entry in kept):
            start, base = 0, None  # a song seen first, or kept at other rounds: every tree
        else:
            base = np.concatenate([entry[1] for entry in kept])
        margins = booster.inplace_predict(X, predict_type="margin", base_margin=base,
                                          iteration_range=(start, rounds))
        for i, song in enumerate(song_ids):
            self._margins[(name, song)] = (rounds, margins[offsets[i]:offsets[i + 1]])
        # No trees left to add: xgboost turns the margins into probabilities as a full prediction does.
        proba = booster.inplace_predict(X, predict_type="value", base_margin=margins,
                                        iteration_range=(rounds, rounds))
        return np.asarray(proba, dtype=np.float64)
