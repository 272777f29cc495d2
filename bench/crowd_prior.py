"""What other listeners' answers are worth beside the committee: the simulated listeners' calibration,
the committee's weight as a prior (alpha, in answers) chosen by held-out NLL, and what the crowd
part alone predicts of real listeners (the TROMPA study, leave one user out).

    python bench/crowd_prior.py [--fourq ../shared/data/4q-dev] [--feats DIR] [--trompa FILE]
                                [--listeners 121] [--known 12] [--seeds 3] [--committee models/pretrained]

The committee's probabilities of 4q-dev's clips are out of fold: the shipped committee was trained by
`make pretrained` (artist-grouped 5 folds, seed 1987), so each clip is predicted by the members of the
fold that held it out (`classifier_<kind>.it_<k>.pkl`), never by one that saw it. Simulated listeners
(datasets/listeners.py) label every clip; for each listener, `--known` of their answers are known and
the rest predicted: by the committee alone, by the other listeners' answers (+0.5 smoothing), by the
dataset's quadrant through the study's confusion, and by the committee as a Dirichlet prior worth
alpha answers updated by the others' (learning/personal.py), for several alpha; then the listener
layer (the default rule) fitted on the known answers over that. At the chosen alpha, the layer's
parameterisations compared (issue 23, item 3): today's 4 × 4 confusion matrix (16 numbers, a prior
worth 10 answers per quadrant), a label-prior shift (4 numbers: log-probabilities of the quadrants
moved by b; the `shift` update rule, committee/shift.py) and valence and arousal biases (2 numbers),
the last two fitted by maximum likelihood with the L2 penalty `shift.SHIFT_PENALTY`. Figures are
means over listeners and seeds of accuracy and mean NLL on the unknown songs.
"""

import argparse
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trompa_mer.interpreter import use_project_python

use_project_python(__file__, ROOT)  # the checkout's .venv, when this Python lacks the requirements

import numpy as np
from threadpoolctl import threadpool_limits

from trompa_mer.committee import consensus
from trompa_mer.committee import files as committees
from trompa_mer.committee.layer import fit_confusion
from trompa_mer.committee.model import scale
from trompa_mer.committee.shift import LabelShift, fit_shift
from trompa_mer.datasets import listeners
from trompa_mer.datasets.labelled import load_windows
from trompa_mer.learning.crowd import read_crowd
from trompa_mer.learning.personal import CROWD_PRIOR_ANSWERS, with_crowd
from trompa_mer.training.pretrain import grouped_folds

ALPHAS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 1e9)
"""1e9: the committee alone, whatever the others answered."""
FOLDS, FOLD_SEED = 5, 1987
SHIFT_BASES = {"label-prior shift (4)": np.eye(4),
               "valence and arousal biases (2)": np.array([[1.0, -1.0, -1.0, 1.0], [1.0, 1.0, -1.0, -1.0]])}
"""Parameters → the shift of the 4 quadrants' log-probabilities: free, or valence (Q1, Q4 up) and
arousal (Q1, Q2 up)."""


def out_of_fold(committee_dir: Path, fourq: Path, feats: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Song ids, dataset classes (n,) and out-of-fold committee probabilities (n, 4) of 4q-dev, whose
    feature CSVs (every column the committee reads) are in `feats`."""
    committee = committees.load_committee(committee_dir)
    data = load_windows(fourq / "labels.csv", feats, "artist", progress=False, names=committee.feature_names)
    songs = data.song_ids
    position = {song: i for i, song in enumerate(songs)}
    proba = np.zeros((len(songs), 4))
    truth = np.zeros(len(songs), dtype=np.int64)
    for fold, (_, test) in enumerate(grouped_folds(data, FOLDS, FOLD_SEED)):
        names = [name for name in committee.members if name.endswith(f".it_{fold}.pkl")]
        held_out = replace(committee, members={name: committee.members[name] for name in names})
        rows = np.sort(test)
        fold_songs = list(dict.fromkeys(data.songs[rows]))
        offsets = np.searchsorted(data.songs[rows], fold_songs, side="left")
        offsets = np.append(offsets, len(rows))
        member = held_out.proba(scale(held_out, data.X[rows], held_out.default_scaling()))
        song_proba = consensus.committee_probabilities(consensus.song_probabilities(member, offsets))
        for song, p, row in zip(fold_songs, song_proba, offsets[:-1], strict=True):
            proba[position[song]] = p
            truth[position[song]] = data.y[rows[row]]
    return songs, truth, proba


def scores(proba: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Accuracy and mean NLL of `proba` (n, 4) for `labels` (n,)."""
    picked = np.clip(proba[np.arange(len(labels)), labels], 1e-12, 1.0)
    return float((proba.argmax(axis=1) == labels).mean()), float(-np.log(picked).mean())


def simulated(songs: list[str], truth: np.ndarray, committee: np.ndarray, n_listeners: int, known: int,
              seeds: int) -> dict[str, list[tuple[str, float, float]]]:
    """Predictor → (kind, accuracy, NLL) per simulated listener, on the songs not among their `known`."""
    by_song = dict(zip(songs, truth.tolist(), strict=True))
    rows: dict[str, list[tuple[str, float, float]]] = {}
    for seed in range(seeds):
        people = listeners.draw_listeners(n_listeners, seed)
        labelled = listeners.label_songs(people, by_song)
        answers = np.array([[labelled[person.id][song] for song in sorted(songs)] for person in people])
        order = np.argsort(songs)  # label_songs answers in song-id order
        answers = answers[:, np.argsort(order)]
        counts = np.zeros((len(songs), 4))
        np.add.at(counts, (np.tile(np.arange(len(songs)), len(people)), answers.ravel()), 1.0)
        rng = np.random.default_rng(seed)
        for person, mine in zip(people, answers, strict=True):
            others = counts - np.eye(4)[mine]
            split = rng.permutation(len(songs))
            seen, unseen = split[:known], split[known:]

            def add(name: str, proba: np.ndarray, kind: str = person.kind, y: np.ndarray = mine,
                    test: np.ndarray = unseen) -> None:
                rows.setdefault(name, []).append((kind, *scores(proba[test], y[test])))

            add("committee alone", committee)
            add("other listeners (+0.5)", (others + 0.5) / (others.sum(axis=1, keepdims=True) + 2))
            add("dataset quadrant × study confusion", listeners.STUDY_MATRIX[truth])
            for alpha in ALPHAS[:-1]:
                crowd = with_crowd(committee, others, alpha=alpha)
                add(f"committee + others, alpha {alpha:g}", crowd)
                layer = fit_confusion(crowd[seen], mine[seen])
                add(f"committee + others, alpha {alpha:g}, layer on {known}", layer.apply(crowd))
            layer = fit_confusion(committee[seen], mine[seen])
            add(f"committee, layer on {known}", layer.apply(committee))
            crowd = with_crowd(committee, others, alpha=CROWD_PRIOR_ANSWERS)
            prefix = f"alpha {CROWD_PRIOR_ANSWERS:g}"
            for name, basis in SHIFT_BASES.items():
                add(f"{prefix}, {name}", fit_shift(crowd[seen], mine[seen], basis).apply(crowd))
            add(f"{prefix}, the true bias (an oracle)", LabelShift(person.bias).apply(crowd))
    return rows


def trompa(path: Path) -> list[tuple[str, float, float]]:
    """Leave one user out on a TROMPA study JSON, labels only: each user's answers predicted from the
    others' answers on the same song, with +0.5 smoothing and with a uniform prior worth alpha answers
    (the committee is unknown there: no audio); songs nobody else answered are left out."""
    crowd = read_crowd(path)
    songs = {song: i for i, song in enumerate(sorted(set(crowd.song_ids.tolist())))}
    rows = np.array([songs[song] for song in crowd.song_ids])
    counts = np.zeros((len(songs), 4))
    np.add.at(counts, (rows, crowd.quadrants), 1.0)
    users = crowd.user_ids
    results = []
    for prior in (0.5, 1.0, 2.0):
        accuracy, nll, n = 0.0, 0.0, 0
        for user in np.unique(users):
            mine = users == user
            own = np.zeros_like(counts)
            np.add.at(own, (rows[mine], crowd.quadrants[mine]), 1.0)
            others = counts - own
            answered = others[rows[mine]].sum(axis=1) > 0
            proba = (others[rows[mine]] + prior) / (others[rows[mine]].sum(axis=1, keepdims=True) + 4 * prior)
            a, b = scores(proba[answered], crowd.quadrants[mine][answered])
            accuracy += a * answered.sum()
            nll += b * answered.sum()
            n += answered.sum()
        results.append((f"others + {prior:g} per quadrant", accuracy / n, nll / n))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fourq", type=Path, default=ROOT.parent / "shared" / "data" / "4q-dev")
    parser.add_argument("--feats", type=Path, default=None,
                        help="the clips' feature CSVs with every column the committee reads (default "
                             "FOURQ/feats, IS13 alone: the musicnn committee needs the CSVs it was "
                             "trained on, its manifest's trained_on.features)")
    parser.add_argument("--trompa", type=Path,
                        default=ROOT.parent / "shared" / "data" / "trompa" / "data_09_08_2021.json")
    parser.add_argument("--committee", type=Path, default=ROOT / "models" / "pretrained")
    parser.add_argument("--listeners", type=int, default=121, help="per seed")
    parser.add_argument("--known", type=int, default=12)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    with threadpool_limits(limits=1):
        songs, truth, committee = out_of_fold(args.committee, args.fourq, args.feats or args.fourq / "feats")
        print(f"4q-dev: {len(songs)} clips, committee out of fold: accuracy against the dataset "
              f"{(committee.argmax(axis=1) == truth).mean():.3f}")
        rows = simulated(songs, truth, committee, args.listeners, args.known, args.seeds)
    print(f"{args.listeners} simulated listeners × {args.seeds} seeds, {args.known} answers known; "
          "accuracy / mean NLL on the others, by kind and all:")
    for name, values in rows.items():
        kinds = {}
        for kind, accuracy, nll in values:
            kinds.setdefault(kind, []).append((accuracy, nll))
        kinds["all"] = [(a, b) for _, a, b in values]
        text = "  ".join(f"{kind} {np.mean([a for a, _ in v]):.3f} / {np.mean([b for _, b in v]):.3f}"
                         for kind, v in kinds.items())
        print(f"  {name:<48} {text}")
    if args.trompa.is_file():
        print(f"TROMPA study {args.trompa.name}, leave one user out, labels only (accuracy / mean NLL):")
        for name, accuracy, nll in trompa(args.trompa):
            print(f"  {name:<48} {accuracy:.3f} / {nll:.3f}")


if __name__ == "__main__":
    main()
