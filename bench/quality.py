"""Model quality on real music: a committee recipe's grouped cross-validation, and a committee's F1 on
any song-labelled feature folder.

    python bench/quality.py recipe --labels ../shared/data/4q-dev/labels.csv \
        --feats ../shared/data/4q-dev/feats [--group-column artist] [--recipe real-music] [-cv 5]
    python bench/quality.py committee --labels LABELS.csv --feats DIR [--committee models/pretrained]

`recipe` trains the recipe in memory exactly as `make pretrained` does (folds grouped by the group
column, stratified by quadrant; listed hyperparameters tuned inside each fold's training songs) and
prints per kind and for the committee the window- and song-level weighted precision, recall, F1 and
expected calibration error, mean ± standard deviation over the folds. `committee` scores a saved
committee on every song of the folder: song-level weighted F1 (a song's mean window probability against
its label), window-level F1, ECE, the song-level confusion matrix and what it predicts. Only folders of
songs the committee never saw measure it (4q-dev trained the default committee).
"""

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trompa_mer.interpreter import use_project_python

use_project_python(__file__, ROOT)  # the checkout's .venv, when this Python lacks the requirements

import numpy as np

from trompa_mer.committee import consensus
from trompa_mer.committee import files as committees
from trompa_mer.committee.model import scale
from trompa_mer.datasets import labelled
from trompa_mer.names import QUADRANTS
from trompa_mer.training import pretrain, recipes


def cross_validate(args: argparse.Namespace) -> None:
    kinds = recipes.recipe_kinds(args.recipe)
    data = labelled.load_windows(args.labels, args.feats, args.group_column, progress=False,
                                 names=recipes.feature_names(kinds))
    print(f"{args.recipe}: {', '.join(f'{k} {v}' for k, v in kinds.items())}")
    print(f"{len(data.song_ids)} songs of {data.n_groups} {data.group_by}s, {len(data.y)} windows; "
          f"{args.folds} folds, seed {args.seed}")
    start = time.perf_counter()
    result = pretrain.pretrain(data, kinds, args.folds, args.seed, {}, threads=args.threads)
    print(pretrain.format_table(result.metrics))
    for kind in kinds:
        chosen = [fold["params"] for fold in result.metrics["models"][kind]["folds"]]
        print(f"{kind} chosen per fold: {chosen}")
    print(f"{time.perf_counter() - start:.0f} s")


def score_committee(args: argparse.Namespace) -> None:
    made = committees.load_committee(args.committee)
    data = labelled.load_windows(args.labels, args.feats, None, progress=False, names=made.feature_names)
    warn_of_training_songs(made.manifest.get("trained_on", {}), args.labels, data.song_ids)
    proba = consensus.committee_probabilities(made.proba(scale(made, data.X, made.default_scaling())))
    scores = pretrain.evaluate(data.songs, data.y, proba)
    matrix = pretrain.confusion(data.songs, data.y, proba)["song"]
    predicted = np.asarray(matrix).sum(axis=0)
    print(f"{args.committee}: {len(made.members)} members; {scores['songs']} songs, "
          f"{scores['windows']} windows")
    for level in pretrain.LEVELS:
        print(f"  {level:<6} weighted F1 {scores[level]['f1']:.3f}, ECE {scores[level]['ece']:.3f}")
    print("  song-level confusion (rows: label, columns: predicted " + " ".join(QUADRANTS) + ")")
    for name, row in zip(QUADRANTS, matrix, strict=True):
        print(f"    {name} " + " ".join(f"{count:4d}" for count in row))
    print("  predicts " + ", ".join(f"{q} {n}" for q, n in zip(QUADRANTS, predicted, strict=True)))


def warn_of_training_songs(trained_on: dict, labels: Path, songs: list[str]) -> None:
    """A warning on stderr when songs scored are among those the committee learnt from: the labels file
    its manifest names (relative paths from the checkout), or `labels` if that is the very file."""
    named = Path(trained_on.get("labels", ""))
    trained = labelled.trained_songs(trained_on, [named if named.is_absolute() else ROOT / named, labels])
    seen = sorted(set(songs) & trained) if trained else []
    if seen:
        print(f"warning: {len(seen)} of the {len(songs)} songs scored are among the {len(trained)} the "
              f"committee was trained on ({named.name}): on them it is measured on what it learnt, not on "
              "new music", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    recipe = modes.add_parser("recipe", help="grouped cross-validation of a committee recipe")
    committee = modes.add_parser("committee", help="a saved committee's F1 on a labelled folder")
    for sub in (recipe, committee):
        sub.add_argument("--labels", type=Path, required=True, help="CSV with song_id and quadrant columns")
        sub.add_argument("--feats", type=Path, required=True, help="folder of the songs' feature CSVs")
    recipe.add_argument("--group-column", default="artist", help="songs sharing it share a fold")
    recipe.add_argument("--recipe", choices=recipes.RECIPES, default=recipes.DEFAULT_RECIPE)
    recipe.add_argument("-cv", "--folds", type=int, default=5)
    recipe.add_argument("--seed", type=int, default=1987)
    recipe.add_argument("--threads", type=int, default=0, help="xgboost's threads (0: all cores)")
    committee.add_argument("--committee", type=Path, default=ROOT / "models" / "pretrained")
    args = parser.parse_args()
    if args.mode == "recipe":
        cross_validate(args)
    else:
        score_committee(args)


if __name__ == "__main__":
    main()
