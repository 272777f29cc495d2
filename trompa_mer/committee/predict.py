"""Quadrant probabilities of one song's feature CSV, per window and for the song."""

from pathlib import Path

import numpy as np

from trompa_mer.committee import consensus
from trompa_mer.committee import folder as committees
from trompa_mer.committee.folder import Committee
from trompa_mer.features.table import read_feature_csv
from trompa_mer.names import QUADRANTS


def predict(committee: Committee, features_csv: Path, scaling: str, model: str,
            source: str | None = None) -> dict:
    """The prediction JSON: the original's keys, plus `model` and, for a committee, `entropy`;
    `input_feats` is `source` when given (an uploaded file's name), else the CSV's path."""
    X = read_feature_csv(features_csv, committee.feature_names)
    member_proba = committee.proba(committees.scale(committee, X, scaling))  # (members, windows, 4)
    window_proba = member_proba.mean(axis=0)
    mean_probs = window_proba.mean(axis=0)
    predictions = window_proba.argmax(axis=1)
    counts = np.bincount(predictions, minlength=len(QUADRANTS))
    result = {
        "input_feats": source or str(features_csv),
        "model": model,
        "scaling": scaling,
        "output_probs": window_proba.tolist(),
        "mean_probs": mean_probs.tolist(),
        "highest_prob_quad": QUADRANTS[int(mean_probs.argmax())],
        "output_predictions": predictions.tolist(),
        "freq_pred": {q: int(c) for q, c in zip(QUADRANTS, counts, strict=True)},
        "mode_quad": QUADRANTS[int(counts.argmax())],
    }
    if len(committee.members) > 1:
        song_proba = member_proba.mean(axis=1)  # (members, 4)
        result["entropy"] = float(consensus.consensus_entropy(song_proba[:, None, :])[0])
    return result
