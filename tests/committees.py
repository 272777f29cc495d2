"""Small real committees and feature pools made by the tests (no pretrained committee needed)."""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.preprocessing import StandardScaler

from trompa_mer.committee import files as committee
from trompa_mer.committee import members
from trompa_mer.committee.model import Committee
from trompa_mer.features import table
from trompa_mer.features.columns import FEATURE_NAMES, TIME_COLUMN
from trompa_mer.names import QUADRANTS

N_FEATURES = len(FEATURE_NAMES)


def quadrant_windows(quadrant: int, n_windows: int, rng: np.random.Generator,
                     spread: float = 1.5, width: int = N_FEATURES) -> np.ndarray:
    """(n_windows, width) features around a per-quadrant centre, overlapping enough to be uncertain."""
    centre = np.zeros(width)
    centre[quadrant * 10:(quadrant + 1) * 10] = 1.0
    return 5.0 + centre + rng.normal(0, spread, size=(n_windows, width))


def write_feature_csv(path: Path, X: np.ndarray, names: Sequence[str] = FEATURE_NAMES) -> Path:
    """A feature CSV of rows X (the columns `names`), windows 0.5 s apart, as extract_features.py
    writes it."""
    table.write_feature_csv(path, np.arange(len(X)) * 0.5, X, names)
    return path


def committee_and_pool(root: Path) -> dict[str, Path]:
    """A committee (`make_committee`) and a pool of 24 songs × 8 windows (`make_pool`) under `root`:
    the folders as "folder", "feats" and "cache"."""
    make_committee(root / "committee")
    make_pool(root / "feats", n_songs=24, n_windows=8)
    return {"folder": root / "committee", "feats": root / "feats", "cache": root / "cache"}


def make_pool(feats_dir: Path, n_songs: int = 24, n_windows: int = 8, seed: int = 0,
              names: Sequence[str] = FEATURE_NAMES) -> dict[str, str]:
    """Feature CSVs `song_NN.csv` of the columns `names` in `feats_dir`; returns song id → its true
    quadrant."""
    rng = np.random.default_rng(seed)
    feats_dir.mkdir(parents=True, exist_ok=True)
    truth = {}
    for i in range(n_songs):
        quadrant = i % 4
        song = f"song_{i:02d}"
        windows = quadrant_windows(quadrant, n_windows, rng, width=len(names))
        write_feature_csv(feats_dir / f"{song}.csv", windows, names)
        truth[song] = QUADRANTS[quadrant]
    return truth


def write_quadrant_pool(feats_dir: Path, first: int, n_songs: int, n_windows: int, seed: int = 0,
                        bank_rows: int = 1024, names: Sequence[str] = FEATURE_NAMES) -> None:
    """CSVs `song_<i>.csv` (i from `first`) of the columns `names`, each `n_windows` rows drawn from
    a formatted bank of quadrant windows: thousands of distinct songs in seconds, where formatting
    every number is slow."""
    rng = np.random.default_rng(seed)
    banks = [[";".join(row) for row in np.char.mod("%.7g", quadrant_windows(q, bank_rows, rng,
                                                                          width=len(names)))]
             for q in range(4)]
    times = [f"{t:g};" for t in np.arange(n_windows) * 0.5]
    header = ";".join((TIME_COLUMN, *names)) + "\n"
    feats_dir.mkdir(parents=True, exist_ok=True)
    for i in range(first, first + n_songs):
        rows, picks = banks[i % 4], rng.integers(0, bank_rows, n_windows)
        body = "\n".join(t + rows[k] for t, k in zip(times, picks, strict=True))
        (feats_dir / f"song_{i:06d}.csv").write_text(header + body + "\n")


def make_committee(folder: Path, kinds: tuple[str, ...] = ("gnb", "sgd", "xgb"), folds: int = 2,
                   seed: int = 0, quadrants: tuple[int, ...] = (0, 1, 2, 3), n_per_class: int = 40,
                   rounds: int = 5) -> Committee:
    """Train a real committee on synthetic windows and save it like a pretrained one."""
    rng = np.random.default_rng(seed)
    X = np.concatenate([quadrant_windows(q, n_per_class, rng, spread=3.0) for q in quadrants])
    y = np.repeat(quadrants, n_per_class)
    scaler = StandardScaler().fit(X)
    Xs = scaler.transform(X)
    trained = {}
    for kind_name in kinds:
        kind = members.KINDS[kind_name]
        for fold in range(folds):
            half = rng.permutation(len(y))[: len(y) * 2 // 3]
            member = kind.create(seed + fold)
            if kind_name == "xgb":
                member.set_params(n_estimators=rounds)
            trained[committee.member_file(kind_name, fold)] = kind.fit(member, Xs[half], y[half], seed + fold)
    made = Committee(trained, scaler, committee.new_manifest({"data": "tests"}))
    committee.save_committee(folder, made)
    return made
