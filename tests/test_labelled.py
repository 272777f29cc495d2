"""Pretraining from a features folder and a labels CSV: loading, folds grouped by artist, the script."""

import json
import time
from pathlib import Path

import numpy as np
import pytest

from tests.committees import make_committee, quadrant_windows, write_feature_csv
from tests.conftest import error_line, run_script
from trompa_mer.committee import files as committee
from trompa_mer.datasets import labelled
from trompa_mer.datasets.windows import GROUP_SONG, LabelledWindows
from trompa_mer.errors import LabelsError, TrainingError
from trompa_mer.names import QUADRANTS
from trompa_mer.training import pretrain, recipes

# The fixture: 8 artists with 3 songs each (MT000..MT023, 4 to 7 windows), artist a's song j in
# quadrant (a + j) % 4, labels written in any case; MT098 is labelled but has no features, MT099 has
# features but no label.
N_ARTISTS, SONGS_PER_ARTIST = 8, 3
N_SONGS = N_ARTISTS * SONGS_PER_ARTIST
LABELLED_ONLY, FEATURES_ONLY = "MT098", "MT099"
HEADER = "song_id,quadrant,artist,title"


def song_name(index: int) -> str:
    return f"MT{index:03d}"


def label_lines() -> list[str]:
    """The fixture's label rows: song, quadrant (in turning case), artist, title."""
    lines = []
    for index in range(N_SONGS):
        artist, nth = divmod(index, SONGS_PER_ARTIST)
        quadrant = QUADRANTS[(artist + nth) % 4]
        lines.append(f"{song_name(index)},{quadrant.lower() if index % 2 else quadrant},"
                     f"Artist {artist},Title {index}")
    return lines


def write_labels(path: Path, lines: list[str], header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(labels.csv, feats/) of the fixture."""
    root = tmp_path_factory.mktemp("labelled")
    feats = root / "feats"
    feats.mkdir()
    rng = np.random.default_rng(14)
    for index in [*range(N_SONGS), int(FEATURES_ONLY[2:])]:
        artist, nth = divmod(index, SONGS_PER_ARTIST)
        write_feature_csv(feats / f"{song_name(index)}.csv",
                          quadrant_windows((artist + nth) % 4, 4 + index % 4, rng, spread=0.5))
    labels = write_labels(root / "labels.csv", [*label_lines(), f"{LABELLED_ONLY},Q1,Artist 9,Lost"])
    return labels, feats


def check_grouped(data: LabelledWindows, folds: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """No group on both sides of a fold; every window tested exactly once."""
    tested = np.concatenate([test for _, test in folds])
    assert sorted(tested.tolist()) == list(range(len(data.y)))
    for train, test in folds:
        assert len(test) and not set(data.groups[train]) & set(data.groups[test])
        assert len(train) + len(test) == len(data.y)


# --- loading ----------------------------------------------------------------------------------------


def test_every_window_takes_its_songs_quadrant_and_artist(corpus) -> None:
    labels, feats = corpus
    data = labelled.load_windows(labels, feats, "artist", progress=False)
    assert data.song_ids == [song_name(i).lower() for i in range(N_SONGS)]  # ids as the pool names them
    assert data.skipped == {labelled.SKIP_NO_FEATURES: [LABELLED_ONLY.lower()],
                            labelled.SKIP_NO_LABELS: [FEATURES_ONLY.lower()]}
    assert data.group_by == "artist" and data.n_groups == N_ARTISTS
    for index in range(N_SONGS):
        windows = data.songs == song_name(index).lower()
        artist, nth = divmod(index, SONGS_PER_ARTIST)
        assert np.count_nonzero(windows) == 4 + index % 4
        assert set(data.y[windows]) == {(artist + nth) % 4}
        assert set(data.groups[windows]) == {f"Artist {artist}"}
    alone = labelled.load_windows(labels, feats, progress=False)
    assert alone.group_by == GROUP_SONG and np.array_equal(alone.groups, alone.songs)
    assert np.array_equal(alone.X, data.X)


def test_a_song_listed_twice_with_the_same_label_is_one_song(corpus, tmp_path: Path) -> None:
    labels = write_labels(tmp_path / "labels.csv", [*label_lines(), label_lines()[0].replace("Q1", "q1")])
    data = labelled.load_windows(labels, corpus[1], "artist", progress=False)
    assert len(data.song_ids) == N_SONGS


def test_the_songs_a_committee_learnt_from_are_found_by_its_labels_digest(corpus, tmp_path: Path) -> None:
    labels, feats = corpus
    data = labelled.load_windows(labels, feats, "artist", progress=False)
    record = labelled.corpus_record(data, labels, feats, "artist")
    moved = tmp_path / "elsewhere.csv"
    moved.write_bytes(labels.read_bytes())
    edited = write_labels(tmp_path / "edited.csv", label_lines()[:3])
    assert labelled.trained_songs(record, [tmp_path / "gone.csv", edited, moved]) == set(
        labelled.read_labels(labels))  # the first file with the recorded digest, wherever it is
    assert labelled.trained_songs(record, [edited]) is None
    assert labelled.trained_songs({"note": "DEAM"}, [labels]) is None


# --- folds ------------------------------------------------------------------------------------------


def test_grouped_folds_never_share_an_artist_and_test_every_song_once(corpus) -> None:
    data = labelled.load_windows(*corpus, "artist", progress=False)
    folds = pretrain.grouped_folds(data, 4, seed=1987)
    check_grouped(data, folds)
    tested_songs = [song for _, test in folds for song in dict.fromkeys(data.songs[test])]
    assert sorted(tested_songs) == sorted(data.song_ids)  # each song in one fold only
    again = pretrain.grouped_folds(data, 4, seed=1987)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))
    with pytest.raises(TrainingError, match=f"-cv 9 needs at least 9 artists; only {N_ARTISTS} have "
                                            "features and labels"):
        pretrain.grouped_folds(data, 9, seed=1987)


def test_4q_dev_folds_keep_each_artist_whole(shared: Path) -> None:
    folder = shared / "data" / "4q-dev"
    start = time.perf_counter()
    data = labelled.load_windows(folder / "labels.csv", folder / "feats", "artist", progress=False)
    print(f"4q-dev: {len(data.song_ids)} songs, {len(data.y)} windows read in "
          f"{time.perf_counter() - start:.1f} s")
    assert len(data.song_ids) == 600 and data.n_groups == 421 and not data.skipped
    folds = pretrain.grouped_folds(data, 5, seed=1987)
    check_grouped(data, folds)
    record = labelled.corpus_record(data, folder / "labels.csv", folder / "feats", "artist")
    assert record["songs_per_quadrant"] == dict.fromkeys(QUADRANTS, 150) and record["groups"] == 421
    for _, test in folds:  # stratified: every fold holds each quadrant's share, give or take
        share = np.bincount(data.y[test], minlength=4) / len(test)
        assert np.all(np.abs(share - 0.25) < 0.05)


def test_a_fold_left_empty_is_refused() -> None:
    groups = np.array([0, 0, 1, 1, 1, 1, 2, 2, 3, 4, 4, 4, 4]).astype(str).astype(object)
    y = np.array([0, 0, 1, 1, 1, 1, 0, 0, 3, 1, 1, 1, 1])
    data = LabelledWindows(np.zeros((len(y), 1)), y, groups, groups, labelled.SOURCE)
    with pytest.raises(TrainingError, match="-cv 5 leaves fold . without a song .seed 103.: use fewer"):
        pretrain.grouped_folds(data, 5, seed=103)


# --- the script -------------------------------------------------------------------------------------


def train(labels: Path, feats: Path, out: Path, *args: object) -> str:
    """Run the script on a labelled folder (IS13 features: the real-music recipe unless `args` names
    another) with one thread; its stdout."""
    return run_script("deam_classifier.py", "--labels", labels, "--feats", feats, "-o", out,
                      "--threads", 1, "--recipe", recipes.REAL_MUSIC, *args, check=True).stdout


def test_labelled_folder_writes_a_whole_committee(corpus, tmp_path: Path) -> None:
    labels, feats = corpus
    out = tmp_path / "committee"
    stdout = train(labels, feats, out, "--group-column", "artist", "-cv", 4)
    assert f"skipped 1 songs (no features): {LABELLED_ONLY.lower()}" in stdout
    assert f"training on {N_SONGS} songs of {N_ARTISTS} artists" in stdout
    made = committee.load_committee(out)
    assert list(made.members) == made.manifest["members"] == [
        committee.member_file(kind, fold) for kind in ("mlp", "sgd") for fold in range(4)]
    trained_on = made.manifest["trained_on"]
    assert trained_on["labels"] == str(labels) and trained_on["features"] == str(feats)
    assert trained_on["group_column"] == "artist" and trained_on["groups"] == N_ARTISTS
    assert trained_on["songs"] == N_SONGS and trained_on["note"] == "songs labelled by quadrant in labels.csv"
    assert trained_on["split"] == "StratifiedGroupKFold by artist, stratified by quadrant"
    assert trained_on["skipped"] == {labelled.SKIP_NO_FEATURES: 1, labelled.SKIP_NO_LABELS: 1}
    assert trained_on["songs_per_quadrant"] == trained_on["songs_per_majority_quadrant"]
    metrics = json.loads((out / pretrain.METRICS_FILE).read_text())
    for name, model in metrics["models"].items():
        assert sum(fold["songs"] for fold in model["folds"]) == N_SONGS
        assert (out / pretrain.CONFUSION_FILE.format(model=name)).read_bytes()[:4] == b"\x89PNG"
    assert metrics["models"]["committee"]["mean"]["song"]["f1"] > 0.8  # the fixture is separable
    recipe = recipes.RECIPES[recipes.REAL_MUSIC]
    assert trained_on["recipe"] == recipes.REAL_MUSIC and trained_on["hyperparameters"] == recipe
    for kind, params in recipe.items():  # each fold's members were tuned inside its training songs
        assert all(fold["params"] in pretrain.grid(params) for fold in metrics["models"][kind]["folds"])
    assert all(0 <= fold[level]["ece"] <= 1 for model in metrics["models"].values()
               for fold in model["folds"] for level in pretrain.LEVELS)


def test_two_runs_give_byte_identical_members_and_metrics(corpus, tmp_path: Path) -> None:
    outs = [tmp_path / "first", tmp_path / "second"]
    for out in outs:
        train(*corpus, out, "--group-column", "artist", "-cv", 3, "-m", "sgd")
    files = [committee.member_file("sgd", fold) for fold in range(3)] + [pretrain.METRICS_FILE]
    for name in files:
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name


def make_refusal(tmp_path: Path, corpus: tuple[Path, Path], case: str) -> tuple[list, str]:
    """Arguments of one refused run and the error it must print."""
    labels, feats = corpus
    bad = tmp_path / "labels.csv"
    lines = label_lines()
    if case == "unknown quadrant":
        write_labels(bad, [*lines[:3], "MT003,Q5,Artist 1,Title 3", *lines[4:]])
        return (["--labels", bad, "--feats", feats],
                f"{bad}, line 5: unknown quadrant 'Q5' of song MT003 "
                "(expected one of Q1, Q2, Q3, Q4, any case)")
    if case in ("no song_id column", "no quadrant column"):
        column = case.split()[1]
        write_labels(bad, lines, HEADER.replace(column, "name"))
        return (["--labels", bad, "--feats", feats],
                f"{bad} lacks the column(s) {column} (expected song_id,quadrant and any others)")
    if case == "no group column":
        return (["--labels", labels, "--feats", feats, "--group-column", "album"],
                f"{labels} has no column 'album' (see --group-column; its columns: song_id, quadrant, "
                "artist, title)")
    if case == "labelled twice":
        write_labels(bad, [*lines, "MT001,Q3,Artist 0,Title 1"])
        return (["--labels", bad, "--feats", feats],
                f"{bad}, line {N_SONGS + 2}: song MT001 labelled Q3, but Q2 on line 3")
    if case == "no song left":
        write_labels(bad, ["XX1,Q1,Artist 0,x"])
        return (["--labels", bad, "--feats", feats],
                f"no song of {bad} has a feature file in {feats} (feature files are named <song_id>.csv)")
    if case == "fewer groups than folds":
        return (["--labels", labels, "--feats", feats, "--group-column", "artist", "-cv", 9],
                f"-cv 9 needs at least 9 artists; only {N_ARTISTS} have features and labels")
    if case == "labels with deam":
        return (["--labels", labels, "--feats", feats, "--deam", tmp_path],
                "--labels trains on a features folder: it cannot be used with --deam")
    if case == "labels without feats":
        return ["--labels", labels], "--labels needs --feats, the folder of the songs' feature CSVs"
    if case == "feats without labels":
        return ["--feats", feats, "--group-column", "artist"], "--feats and --group-column need --labels"
    raise AssertionError(case)


REFUSALS = ["unknown quadrant", "no song_id column", "no quadrant column", "no group column",
            "labelled twice", "no song left", "fewer groups than folds", "labels with deam",
            "labels without feats", "feats without labels"]


@pytest.mark.parametrize("case", REFUSALS)
def test_refusals_are_one_error_line_and_change_nothing(corpus, tmp_path: Path, case: str) -> None:
    args, message = make_refusal(tmp_path, corpus, case)
    out = tmp_path / "committee"
    make_committee(out, kinds=("gnb",), folds=2)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    result = run_script("deam_classifier.py", *args, "-o", out, "-m", "sgd")
    assert error_line(result) == f"error: {message}"
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("committee")) == ["committee"]


def test_an_empty_song_id_or_artist_names_its_line(corpus, tmp_path: Path) -> None:
    lines = label_lines()
    for broken, message in ((",Q1,Artist 0,x", "line 3: empty song_id"),
                            ("MT001,Q1,,x", "line 3: empty artist of song MT001")):
        labels = write_labels(tmp_path / "labels.csv", [lines[0], broken, *lines[2:]])
        with pytest.raises(LabelsError, match=f"{labels}, {message}$"):
            labelled.read_labels(labels, "artist")
