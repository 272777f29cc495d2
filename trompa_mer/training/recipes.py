"""Committee recipes: the member kinds of a pretrained committee and their hyperparameters.

A hyperparameter given as a list is tuned: inside each fold's training songs, pretraining keeps the
value whose members score the best song-level F1 on held-out groups (an inner grouped
cross-validation), so the fold's own test songs never choose it.
"""

from trompa_mer.committee.members import KINDS
from trompa_mer.errors import TrainingError
from trompa_mer.features.columns import family_names

ORIGINAL = "original"
REAL_MUSIC = "real-music"
VIBENET = "vibenet"
MUSICNN = "musicnn"
MUSICNN_LEAN = "musicnn-lean"
RECIPES: dict[str, dict[str, dict]] = {
    ORIGINAL: {"xgb": {}, "gnb": {}, "sgd": {}},
    REAL_MUSIC: {"mlp": {"hidden": 64, "alpha": [1.0, 3.0, 10.0]},
                 "sgd": {"alpha": [0.003, 0.01, 0.03]}},
    VIBENET: {"mlp": {"hidden": 64, "alpha": [1.0, 3.0, 10.0]},
              "sgd": {"alpha": [0.003, 0.01, 0.03]},
              "vmlp": {"hidden": 64, "alpha": [1.0, 3.0, 10.0]},
              "vsgd": {"alpha": [0.003, 0.01, 0.03]}},
    MUSICNN: {"mlp": {"hidden": 64, "alpha": [1.0, 3.0, 10.0]},
              "sgd": {"alpha": [0.003, 0.01, 0.03]},
              "mmlp": {"hidden": 64, "alpha": [1.0, 3.0, 10.0]},
              "msgd": {"alpha": [0.003, 0.01, 0.03]}},
    MUSICNN_LEAN: {"sgd": {"alpha": [0.003, 0.01, 0.03]},
                   "mmlp": {"hidden": 64, "alpha": [1.0, 3.0, 10.0]},
                   "msgd": {"alpha": [0.003, 0.01, 0.03]}},
}
"""`original`: the original tool's committee (xgb depth 5 × 100 rounds, GaussianNB, SGD α 1e-4).
`real-music`: chosen by artist-grouped cross-validation on 600 real clips of the 4Q emotion dataset
(bench/quality.py, README): a one-layer MLP and an L2 logistic regression on IS13; xgb and GaussianNB
lowered the committee's F1 there (GaussianNB's near-certain probabilities outvote the others).
`vibenet`: the same two kinds on IS13, and again on the vibenet family (`vmlp`, `vsgd`): song F1 0.702
against real-music's 0.681 on the same folds (README).
`musicnn`: the same two kinds on IS13, and again on the musicnn family (`mmlp`, `msgd`): song F1 0.747
on the same folds.
`musicnn-lean`: `musicnn` without its IS13 mlp: song F1 0.751 ± 0.048 on the same folds (per fold 0.757
0.732 0.708 0.719 0.841; +0.004 ± 0.014 over `musicnn`, 3 of 5 folds up: inside the folds' spread; with
fold seed 7 both score 0.765), window F1 0.703, song ECE 0.155, three quarters of the members; its
members' song votes still differ on 33 % of the songs (musicnn's four: 39 %)."""
DEFAULT_RECIPE = MUSICNN_LEAN
DEAM_RECIPE = REAL_MUSIC
"""A DEAM folder holds IS13 features (or audio extracted to them) only."""
KIND_ALL = "all"


def feature_names(kinds: dict[str, dict]) -> tuple[str, ...]:
    """The columns a committee of `kinds` reads: every family its kinds read, in FAMILIES order."""
    return family_names([KINDS[kind].family for kind in kinds])


def recipe_kinds(recipe: str, choice: str = KIND_ALL) -> dict[str, dict]:
    """Kind → hyperparameters of `recipe`: all its kinds, or the one `choice` names."""
    if recipe not in RECIPES:
        raise TrainingError(f"unknown recipe {recipe!r} (choose from {', '.join(RECIPES)})")
    kinds = RECIPES[recipe]
    if choice == KIND_ALL:
        return dict(kinds)
    if choice not in kinds:
        raise TrainingError(f"recipe {recipe} has no {choice!r} members (it has {', '.join(kinds)})")
    return {choice: kinds[choice]}
