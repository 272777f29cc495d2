"""How much a listener's answers can be predicted at all, for simulated listeners: the committee's
weighted F1 against each listener's labels, beside a perfect committee (the dataset's quadrant of
every song) and an oracle that knows how people at large hear each song and the listener's own bias
(datasets/listeners.py) and answers the most probable quadrant.

    python bench/listener_ceiling.py --committee DIR --truth LABELS.csv --feats DIR
                                     [--listeners 30] [--seeds 3] [--cache DIR]

The listeners are drawn as `simulate.py --truth … --listeners N` draws them (datasets/listeners.py),
every one labelling every song of LABELS.csv. Use a committee that never saw those songs.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trompa_mer.interpreter import use_project_python

use_project_python(__file__, ROOT)  # the checkout's .venv, when this Python lacks the requirements

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from trompa_mer.committee import consensus
from trompa_mer.committee import files as committees
from trompa_mer.committee.model import scale
from trompa_mer.datasets import labelled, listeners
from trompa_mer.features.pool import load_pool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--committee", type=Path, required=True)
    parser.add_argument("--truth", type=Path, required=True, help="the dataset's labels: song_id,quadrant")
    parser.add_argument("--feats", type=Path, required=True)
    parser.add_argument("--listeners", type=int, default=30, help="per seed")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=ROOT / "data" / "bench-ceiling-cache")
    args = parser.parse_args()
    truth = labelled.read_labels(args.truth)
    committee = committees.load_committee(args.committee)
    with load_pool(args.feats, args.cache, names=committee.feature_names) as pool:
        songs = sorted(song for song in pool.song_ids if song in truth)
        X, offsets = pool.windows(songs)
        scaled = scale(committee, X, committee.default_scaling())
        song_proba = consensus.song_probabilities(committee.proba(scaled), offsets)
        proba = consensus.committee_probabilities(song_proba)
    song_truth = {song: truth[song].quadrant for song in songs}
    rows = []
    for seed in range(args.seeds):
        people = listeners.draw_listeners(args.listeners, seed)
        labels = listeners.label_songs(people, song_truth)
        distributions = listeners.song_distributions(song_truth)  # in song-id order, as `songs`
        for person in people:
            heard = np.array([labels[person.id][song] for song in songs])
            dataset = np.array([song_truth[song] for song in songs])
            rows.append({"kind": person.kind,
                         "dataset": f1_score(heard, dataset, average="weighted"),
                         "committee": f1_score(heard, proba.argmax(axis=1), average="weighted"),
                         "oracle": f1_score(heard, person.hears(distributions).argmax(axis=1),
                                            average="weighted")})
    table = pd.DataFrame(rows)
    print(f"{len(songs)} songs, {len(table)} listeners; committee {args.committee}")
    for kind, group in table.groupby("kind"):
        print(f"  {kind:<11} n {len(group):3d}: committee F1 {group['committee'].mean():.3f}, a perfect "
              f"committee {group['dataset'].mean():.3f}, the oracle {group['oracle'].mean():.3f}")


if __name__ == "__main__":
    main()
