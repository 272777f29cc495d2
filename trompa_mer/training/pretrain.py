"""Pretraining by folds of songs: one member per fold and kind, out-of-fold metrics, a committee folder.

Folds keep each group of songs (an artist, or the song alone) whole. Member
`classifier_<kind>.it_<k>.pkl` learns from every song outside fold k and is scored on the songs of
fold k. The committee's score on fold k averages the fold-k members of every kind: the other folds'
members have seen those songs.
"""

import itertools
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xgboost as xgb
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.preprocessing import StandardScaler

from trompa_mer import storage
from trompa_mer.committee import consensus, members
from trompa_mer.committee import files as committee
from trompa_mer.committee.model import Committee
from trompa_mer.datasets.windows import LabelledWindows
from trompa_mer.errors import TrainingError
from trompa_mer.features.columns import FAMILIES
from trompa_mer.names import CLASSES, N_CLASSES, QUADRANTS
from trompa_mer.progress import progress_bar
from trompa_mer.training.recipes import KIND_ALL

KIND_CHOICES: tuple[str, ...] = (*members.KINDS, KIND_ALL)
"""`-m` choices: one model kind, or all of the recipe's."""
INNER_FOLDS = 3
"""Folds of the inner cross-validation that tunes a recipe's listed hyperparameters."""
COMMITTEE = "committee"
"""Name of the whole committee (mean of its members' probabilities) in the metrics."""
LEVELS = ("window", "song")
SCORES = ("precision", "recall", "f1", "ece")
CALIBRATION_BINS = 10
METRICS_FILE = "metrics.json"
CONFUSION_FILE = "confusion_{model}.png"
"""Per model kind and for the committee, beside the members."""


# --- folds and scores (pure) --------------------------------------------------------------------


def check_folds(n_folds: int) -> None:
    if n_folds < 2:
        raise TrainingError(f"-cv must be at least 2, not {n_folds}")


def grouped_folds(data: LabelledWindows, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) window indices of each fold: StratifiedGroupKFold shuffled by `seed` over
    `data.groups`, stratified by the windows' quadrants, so no group (artist, or song) has windows on
    both sides and every window is tested once."""
    check_folds(n_folds)
    n_groups = data.n_groups
    if n_folds > n_groups:
        raise TrainingError(f"-cv {n_folds} needs at least {n_folds} {data.group_by}s; only {n_groups} have"
                            f" features and {data.label_name}")
    largest = int(np.bincount(data.y).max())
    if n_folds > largest:
        raise TrainingError(f"-cv {n_folds} needs a quadrant with at least {n_folds} windows; the largest"
                            f" has {largest}")
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # A quadrant with fewer windows than folds cannot be in every fold; the split is still valid.
        warnings.filterwarnings("ignore", "The least populated class", UserWarning)
        folds = list(splitter.split(np.zeros((len(data.y), 1)), data.y, groups=data.groups))
    empty = [fold for fold, (_, test) in enumerate(folds) if not len(test)]
    if empty:
        raise TrainingError(f"-cv {n_folds} leaves fold {empty[0]} without a {data.group_by} "
                            f"(seed {seed}): use fewer folds or another seed")
    return folds


def majority_labels(songs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each song's most frequent window label, (n_songs,) in sorted id order; a tie goes to the
    lower class index."""
    _, row = np.unique(songs, return_inverse=True)
    counts = np.zeros((row.max() + 1, N_CLASSES))
    np.add.at(counts, (row, y), 1)
    return counts.argmax(axis=1)


def song_level(songs: np.ndarray, y: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per song (sorted ids): its majority label (n_songs,) and the mean of its windows'
    probabilities (n_songs, 4)."""
    _, row, sizes = np.unique(songs, return_inverse=True, return_counts=True)
    by_song = np.argsort(row, kind="stable")  # each song's windows together, in sorted id order
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    return majority_labels(songs, y), consensus.song_probabilities(proba[by_song], offsets)


def weighted_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Support-weighted precision, recall and F1 over the quadrants (0 where a class is never predicted)."""
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=CLASSES, average="weighted", zero_division=0)
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}


def calibration_error(y_true: np.ndarray, proba: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """Expected calibration error: over equal-width bins of the top probability, the gap between
    accuracy and mean top probability, weighted by the share of rows in the bin."""
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y_true
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    error = 0.0
    for b in np.unique(which):
        inside = which == b
        error += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(error)


def level_scores(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    return {**weighted_scores(y_true, proba.argmax(axis=1)), "ece": calibration_error(y_true, proba)}


def evaluate(songs: np.ndarray, y: np.ndarray, proba: np.ndarray) -> dict:
    """Scores of probabilities (n_windows, 4) at window level and at song level."""
    song_true, song_proba = song_level(songs, y, proba)
    return {"songs": len(song_true), "windows": len(y),
            "window": level_scores(y, proba), "song": level_scores(song_true, song_proba)}


def summarize(folds: list[dict]) -> tuple[dict, dict]:
    """Mean and standard deviation over folds of every level's scores."""
    mean = {lv: {s: float(np.mean([f[lv][s] for f in folds])) for s in SCORES} for lv in LEVELS}
    std = {lv: {s: float(np.std([f[lv][s] for f in folds])) for s in SCORES} for lv in LEVELS}
    return mean, std


def confusion(songs: np.ndarray, y: np.ndarray, proba: np.ndarray) -> dict[str, list[list[int]]]:
    """Confusion matrices (true rows × predicted columns, Q1..Q4) at window and song level."""
    song_true, song_proba = song_level(songs, y, proba)
    return {"window": confusion_matrix(y, proba.argmax(axis=1), labels=CLASSES).tolist(),
            "song": confusion_matrix(song_true, song_proba.argmax(axis=1), labels=CLASSES).tolist()}


# --- training -----------------------------------------------------------------------------------


def grid(params: dict) -> list[dict]:
    """Every combination of a kind's hyperparameters, a list standing for its candidate values."""
    listed = {name: value if isinstance(value, list) else [value] for name, value in params.items()}
    return [dict(zip(listed, values, strict=True)) for values in itertools.product(*listed.values())]


def train_member(kind_name: str, params: dict, X: np.ndarray, y: np.ndarray, seed: int) -> object:
    kind = members.KINDS[kind_name]
    return kind.fit(kind.create(seed, **params), X, y, seed)


def tune(kind_name: str, params: dict, X: np.ndarray, y: np.ndarray, songs: np.ndarray,
         groups: np.ndarray, seed: int) -> dict:
    """The combination of `params` whose members, trained on INNER_FOLDS - 1 inner folds of these
    rows' groups, score the best mean song-level weighted F1 on the remaining one (the first on a tie)."""
    candidates = grid(params)
    if len(candidates) == 1:
        return candidates[0]
    splitter = StratifiedGroupKFold(n_splits=INNER_FOLDS, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The least populated class", UserWarning)
        inner = list(splitter.split(X, y, groups=groups))

    def score(chosen: dict) -> float:
        f1 = []
        for train, test in inner:
            member = train_member(kind_name, chosen, X[train], y[train], seed)
            truth, proba = song_level(songs[test], y[test], members.predict_proba(member, X[test]))
            f1.append(weighted_scores(truth, proba.argmax(axis=1))["f1"])
        return float(np.mean(f1))

    scores = [score(chosen) for chosen in candidates]
    return candidates[int(np.argmax(scores))]


@dataclass
class Pretrained:
    """The trained committee (members, scaler, manifest) and its cross-validation metrics."""

    committee: Committee
    metrics: dict


DEFINITIONS = {
    "window": "weighted precision, recall and F1 of each held-out window's most probable quadrant",
    "song": "a held-out song's mean probability over its windows against its majority window label",
    COMMITTEE: "on fold k, the mean probability of the fold-k members of every kind (the other folds'"
               " members have seen fold k's songs)",
    "std": "population standard deviation over the folds",
    "ece": f"expected calibration error of the most probable quadrant, {CALIBRATION_BINS} equal-width bins",
    "confusion": "out-of-fold predictions of every song, true quadrant rows by predicted columns",
}
"""What the figures of metrics.json mean, written into it."""


def pretrain(data: LabelledWindows, kinds: dict[str, dict], n_folds: int, seed: int,
             trained_on: dict, threads: int = 0, progress: bool = False) -> Pretrained:
    """Train one member per fold and kind on standardised windows and score it on its held-out songs.

    `data.X` holds the columns of every family the kinds read (recipes.feature_names), in that
    order; each member learns from its own family's columns.
    The StandardScaler is fitted once on every window of every song (the union of all folds'
    training songs; it sees no labels), and all members learn and predict on its output.
    `kinds`: kind → hyperparameters (training/recipes.py), a list being tuned inside each fold's
    training songs (`tune`); the values chosen are in the metrics of each fold.
    Member seeds are `seed + fold`; folds are dealt with `seed` (grouped_folds). `threads`: xgboost's threads
    (0: all cores; on a busy machine fewer threads than cores avoid OpenMP's spinning);
    `progress`: a tqdm bar over the members on stderr.
    """
    folds = grouped_folds(data, n_folds, seed)
    manifest = committee.new_manifest(trained_on, kinds=tuple(kinds))
    names = manifest["feature_names"]
    if data.X.shape[1] != len(names):
        raise TrainingError(f"the recipe's members read {len(names)} columns, the data holds "
                            f"{data.X.shape[1]}")
    where = {name: i for i, name in enumerate(names)}
    columns = {kind: [where[name] for name in FAMILIES[family]]
               for kind, family in manifest["families"].items()}
    scaler = StandardScaler().fit(data.X)
    X = scaler.transform(data.X)
    names = (*kinds, COMMITTEE)
    out_of_fold = {name: np.zeros((len(data.y), N_CLASSES)) for name in names}
    fold_scores: dict[str, list[dict]] = {name: [] for name in names}
    trained = {}
    chosen: dict[str, list[dict]] = {name: [] for name in kinds}
    with xgb.config_context(nthread=threads), \
            progress_bar("model", "training", progress, total=n_folds * len(kinds)) as bar:
        for fold, (train, test) in enumerate(folds):
            for kind_name, params in kinds.items():
                X_kind = X[:, columns[kind_name]]
                chosen[kind_name].append(tune(kind_name, params, X_kind[train], data.y[train],
                                              data.songs[train], data.groups[train], seed + fold))
                member = train_member(kind_name, chosen[kind_name][-1], X_kind[train], data.y[train],
                                      seed + fold)
                trained[committee.member_file(kind_name, fold)] = member
                out_of_fold[kind_name][test] = members.predict_proba(member, X_kind[test])
                bar.update()
            out_of_fold[COMMITTEE][test] = np.mean([out_of_fold[k][test] for k in kinds], axis=0)
            for name in names:
                scores = evaluate(data.songs[test], data.y[test], out_of_fold[name][test])
                params = {"params": chosen[name][fold]} if name in chosen else {}
                fold_scores[name].append({"fold": fold, **params, **scores})
    metrics = {"folds": n_folds, "seed": seed, "classes": list(QUADRANTS), "definitions": DEFINITIONS,
               "models": {}}
    for name in names:
        mean, std = summarize(fold_scores[name])
        metrics["models"][name] = {"mean": mean, "std": std, "folds": fold_scores[name],
                                   "confusion": confusion(data.songs, data.y, out_of_fold[name])}
    summary = {name: {k: metrics["models"][name][k] for k in ("mean", "std")} for name in names}
    manifest["metrics"] = {"folds": n_folds, "models": summary}
    manifest["members"] = sorted(trained)
    ordered = {name: trained[name] for name in sorted(trained)}
    return Pretrained(Committee(ordered, scaler, manifest), metrics)


def training_record(data: LabelledWindows, corpus: dict, kinds: dict[str, dict], n_folds: int, seed: int,
                    note: str = "", recipe: str = "") -> dict:
    """What a manifest says about the data and procedure that trained its committee.

    `corpus`: the loader's own record of where the data came from (deam.corpus_record or
    labelled.corpus_record), its `note` replaced by `note` when one is given.
    """
    song_true = majority_labels(data.songs, data.y)
    return {
        **corpus,
        "note": note or corpus["note"],
        "songs": len(song_true),
        "windows": len(data.y),
        "windows_per_quadrant": dict(zip(QUADRANTS, np.bincount(data.y, minlength=N_CLASSES).tolist(),
                                         strict=True)),
        "songs_per_majority_quadrant": dict(zip(QUADRANTS, np.bincount(
            song_true, minlength=N_CLASSES).tolist(), strict=True)),
        "skipped": {reason: len(ids) for reason, ids in data.skipped.items()},
        "recipe": recipe,
        "kinds": list(kinds),
        "hyperparameters": {kind: params for kind, params in kinds.items()},
        "tuning": f"a listed hyperparameter is chosen inside each fold's training songs by a "
                  f"{INNER_FOLDS}-fold grouped cross-validation (song-level weighted F1); the choice is in "
                  "metrics.json",
        "folds": n_folds,
        "fold_seed": seed,
        "split": f"StratifiedGroupKFold by {data.group_by}, stratified by quadrant",
        "member_seed": "fold seed + fold index",
        "member_training": "classifier_<kind>.it_<k>.pkl learnt from every song outside fold k",
        "scaler": "StandardScaler fitted on every window of every song above (the union of all folds'"
                  " training songs; no labels)",
    }


# --- report -------------------------------------------------------------------------------------


def format_table(metrics: dict) -> str:
    """Mean ± std of each model's scores per level, then its F1 per fold."""
    header = (f"{'model':<10} {'level':<7} {'precision':<14} {'recall':<14} {'F1':<14} {'ECE':<14} "
              "F1 per fold")
    lines = [header, "-" * len(header)]
    for name, model in metrics["models"].items():
        for level in LEVELS:
            cells = [f"{model['mean'][level][s]:.3f} ± {model['std'][level][s]:.3f}" for s in SCORES]
            per_fold = " ".join(f"{fold[level]['f1']:.3f}" for fold in model["folds"])
            row = " ".join(f"{cell:<14}" for cell in cells)
            lines.append(f"{name:<10} {level:<7} {row} {per_fold}")
    return "\n".join(lines)


def plot_confusion(path: Path, matrices: dict[str, list[list[int]]], title: str) -> None:
    """A PNG of window- and song-level confusion matrices: row-normalised colours, counts written."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    for axes, level in zip(figure.subplots(1, len(LEVELS)), LEVELS, strict=True):
        counts = np.asarray(matrices[level])
        share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        axes.imshow(share, vmin=0, vmax=1, cmap="Blues")
        for (row, col), count in np.ndenumerate(counts):
            axes.text(col, row, str(count), ha="center", va="center",
                      color="white" if share[row, col] > 0.5 else "black")
        axes.set(xticks=range(N_CLASSES), yticks=range(N_CLASSES), xticklabels=QUADRANTS,
                 yticklabels=QUADRANTS, xlabel="predicted", ylabel="true", title=f"{level} level")
    figure.suptitle(title)
    with storage.atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=80)


# --- output -------------------------------------------------------------------------------------


def check_output(out: Path) -> None:
    """The output must be new, empty or a committee folder (whose files are all replaced)."""
    if out.exists() and not out.is_dir():
        raise TrainingError(f"output {out} exists and is not a folder")
    if not out.parent.is_dir():
        raise TrainingError(f"output folder's parent does not exist: {out.parent}")
    if out.is_dir() and any(not p.name.startswith(".") for p in out.iterdir()) \
            and not (out / committee.MANIFEST_FILE).is_file() and not committee.member_paths(out):
        raise TrainingError(f"output folder {out} is not a committee folder: refusing to replace it")


def write_pretrained(out: Path, result: Pretrained) -> None:
    """Write the committee, metrics.json and confusion PNGs as one folder replacing `out` whole.

    Everything is built in a staging folder beside `out`, which replaces it only when complete
    (storage.build_folder): a failure leaves `out` untouched, and the old committee left by a kill
    between the two renames (`.<out>.<random>.old`) is put back by the next command that reads or
    replaces `out`.
    """
    check_output(out)
    with storage.build_folder(out, replace=True) as staging:
        committee.save_committee(staging, result.committee)
        storage.write_json(staging / METRICS_FILE, result.metrics)
        n_folds = result.metrics["folds"]
        for name, model in result.metrics["models"].items():
            plot_confusion(staging / CONFUSION_FILE.format(model=name), model["confusion"],
                           f"{name}: held-out songs of {n_folds} folds")
