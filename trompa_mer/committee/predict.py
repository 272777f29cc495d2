"""Quadrant probabilities of one song, per window and for the song: from its windows' features, its
feature CSV or its audio."""

from pathlib import Path
from typing import BinaryIO

import numpy as np

from trompa_mer.committee import consensus
from trompa_mer.committee.model import Committee, scale
from trompa_mer.features import smile, table
from trompa_mer.features.columns import families_of, family_names
from trompa_mer.names import QUADRANTS


def predict(committee: Committee, X: np.ndarray, scaling: str, model: str, source: str) -> dict:
    """The prediction JSON of one song's windows X (n_windows, len(committee.feature_names)): the
    original's keys, plus `model` and, for a committee, `entropy`; `input_feats` is `source`."""
    member_proba = committee.proba(scale(committee, X, scaling))  # (members, windows, 4)
    window_proba = consensus.committee_probabilities(member_proba)
    song_proba = consensus.song_probabilities(member_proba, [0, len(X)])  # (members, 1, 4)
    mean_probs = consensus.committee_probabilities(song_proba)[0]
    predictions = window_proba.argmax(axis=1)
    counts = np.bincount(predictions, minlength=len(QUADRANTS))
    result = {
        "input_feats": source,
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
        result["entropy"] = float(consensus.consensus_entropy(song_proba)[0])
    return result


def predict_file(committee: Committee, features_csv: Path | BinaryIO, scaling: str, model: str,
                 source: str | None = None) -> dict:
    """`predict` on a feature CSV (a path or an open binary file); `source` names it in the JSON and
    in messages (default: its path)."""
    source = source or str(features_csv)
    X = table.read_feature_csv(features_csv, committee.feature_names, source)
    return predict(committee, X, scaling, model, source)


def predict_audio(committee: Committee, audio_file: Path, command: smile.SmileCommand, window: float,
                  hop: float, scaling: str, model: str, source: str | None = None,
                  max_seconds: float | None = None) -> dict:
    """`predict` on an audio file, its features extracted in memory (`window`, `hop` in seconds);
    `source` names it in the JSON and in messages (default: its path); audio longer than
    `max_seconds` is refused before it is decoded (`audio.as_wav`)."""
    from trompa_mer.features import extract  # the batch machinery (tqdm, executors): only for audio

    source = source or str(audio_file)
    families = tuple(families_of(committee.feature_names))
    _, features, _ = extract.features_of_audio(audio_file, command, window, hop, source, families,
                                               max_seconds)
    X = table.feature_columns(features, family_names(families), committee.feature_names, source)
    return predict(committee, X, scaling, model, source)
