"""DEAM pretraining: labels, folds, determinism, both feature sources, refusals, the shipped committee."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.committees import make_committee, quadrant_windows
from tests.conftest import ROOT, error_line, run_script
from trompa_mer.commands import settings
from trompa_mer.committee import files as committee
from trompa_mer.committee import members
from trompa_mer.committee.model import Committee
from trompa_mer.datasets import deam, deam_layout, labelled, synth
from trompa_mer.datasets.windows import LabelledWindows
from trompa_mer.errors import AudioError, DeamError, TrainingError
from trompa_mer.features import smile, table
from trompa_mer.features.columns import DEAM_FEATURE_NAMES, FAMILIES, FEATURE_NAMES, IS13, TIME_COLUMN
from trompa_mer.names import QUADRANTS, quadrant_of
from trompa_mer.training import pretrain, recipes

COMMITTED = ROOT / "models" / "pretrained"

# The features fixture: DEAM-like songs 1..12 with 40 feature rows (0.0 … 19.5 s) and arousal from
# 15 s to 19.5 s; valence.csv has one column fewer (as DEAM's), song 5's arousal stops after 6
# values, song 13 has features but no annotations, song 14 annotations but no features.
N_SONGS = 12
FEATURE_ROWS = 40
AROUSAL_MS = np.arange(15000, 20000, 500)
VALENCE_MS = AROUSAL_MS[:-1]
SHORT_SONG, SHORT_LENGTH = 5, 6
UNANNOTATED_SONG, FEATURELESS_SONG = 13, 14
MOVED_WINDOWS = 2
"""The first annotated windows of each song lie in the next quadrant, so labels move."""


def write_dynamic(path: Path, times_ms: np.ndarray, rows: dict[int, np.ndarray]) -> None:
    """A DEAM dynamic annotation file; a shorter row simply has fewer fields, as in DEAM."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(["song_id"] + [f"sample_{ms}ms" for ms in times_ms])]
    lines += [",".join([str(song)] + [f"{x:.6f}" for x in values]) for song, values in rows.items()]
    path.write_text("\n".join(lines) + "\n")


def labels_of(song: int) -> np.ndarray:
    """The fixture's quadrant of each arousal sample of a song, (10,)."""
    labels = np.full(len(AROUSAL_MS), song % 4)
    labels[:MOVED_WINDOWS] = (song + 1) % 4
    return labels


@pytest.fixture(scope="module")
def features_deam(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[int, np.ndarray]]:
    """A DEAM folder with `features/` in DEAM's names; returns it and each song's expected labels."""
    root = tmp_path_factory.mktemp("deam-features")
    rng = np.random.default_rng(5)
    arousal, valence, expected = {}, {}, {}
    (root / deam.FEATURES_DIR).mkdir()
    for song in range(1, N_SONGS + 2):
        labels = labels_of(song)
        signs = np.array([synth.SIGNS[synth.Quadrant(int(q))] for q in labels])  # (valence, arousal)
        values = signs * rng.uniform(0.1, 0.9, size=signs.shape)
        if song <= N_SONGS:
            arousal[song] = values[:SHORT_LENGTH, 1] if song == SHORT_SONG else values[:, 1]
            valence[song] = values[: len(VALENCE_MS), 0]
            kept = SHORT_LENGTH if song == SHORT_SONG else len(VALENCE_MS)
            expected[song] = labels[:kept]
        row_labels = rng.integers(0, 4, size=FEATURE_ROWS)
        first = AROUSAL_MS[0] // 500
        row_labels[first:] = labels
        X = np.concatenate([quadrant_windows(int(q), 1, rng, spread=0.5) for q in row_labels])
        table = pd.DataFrame(X, columns=list(DEAM_FEATURE_NAMES))
        table.insert(0, TIME_COLUMN, np.arange(FEATURE_ROWS) * 0.5)
        table.to_csv(root / deam.FEATURES_DIR / f"{song}.csv", sep=";", index=False)
    arousal[FEATURELESS_SONG] = valence[FEATURELESS_SONG] = np.zeros(len(VALENCE_MS))
    write_dynamic(root / deam_layout.DYNAMIC_DIR / deam.AROUSAL_FILE, AROUSAL_MS, arousal)
    write_dynamic(root / deam_layout.DYNAMIC_DIR / deam.VALENCE_FILE, VALENCE_MS, valence)
    (root / deam_layout.AUDIO_DIR).mkdir(parents=True)  # both sources exist; features win by default
    return root, expected


# --- labels ---------------------------------------------------------------------------------------


def test_window_takes_the_annotation_at_its_start_and_zero_counts_as_positive() -> None:
    annotation_ms = np.array([15000, 15500, 16000, 16500, 17000, 17500])
    valence = np.array([0.0, -0.1, 0.2, 0.0, -0.1, -0.3])
    arousal = np.array([0.0, 0.3, -0.4, -0.1, 0.0, -0.2])
    window_ms = np.array([14500, 15000, 15500, 16000, 16500, 17000, 17500, 18000])
    kept, labels = deam.window_labels(window_ms, annotation_ms, valence, arousal)
    assert kept.tolist() == [1, 2, 3, 4, 5, 6]  # 14.5 s and 18.0 s have no annotation
    assert [QUADRANTS[q] for q in labels] == ["Q1", "Q2", "Q4", "Q4", "Q2", "Q3"]


def test_a_window_needs_both_series_so_the_shorter_wins(tmp_path: Path) -> None:
    folder = tmp_path / deam_layout.DYNAMIC_DIR
    write_dynamic(folder / deam.AROUSAL_FILE, AROUSAL_MS[:4], {1: np.array([0.1, 0.2, 0.3, 0.4]),
                                                             2: np.array([0.5, -0.5]),
                                                             3: np.array([0.1, 0.1, 0.1, 0.1])})
    write_dynamic(folder / deam.VALENCE_FILE, AROUSAL_MS[:3], {1: np.array([-0.1, -0.2, -0.3]),
                                                             2: np.array([0.5, 0.5, 0.5])})
    annotations = deam.read_annotations(tmp_path)
    window_ms = AROUSAL_MS[:5]
    kept = {song: deam.window_labels(window_ms, annotations.times_ms, *annotations.of(song))[0]
            for song in ("1", "2", "3")}
    assert kept["1"].tolist() == [0, 1, 2]  # valence ends first
    assert kept["2"].tolist() == [0, 1]     # arousal ends first
    assert kept["3"].tolist() == []         # no valence at all: the song is not annotated


def test_real_deam_series_of_unequal_length_keep_the_shorter(shared: Path) -> None:
    annotations = deam.read_annotations(shared / "data" / "mini-deam")
    for song in ("2002", "2011", "2020", "2027", "2036", "2042", "2045"):
        valence, arousal = annotations.of(song)
        shorter = min(np.count_nonzero(~np.isnan(valence)), np.count_nonzero(~np.isnan(arousal)))
        kept, _ = deam.window_labels(annotations.times_ms, annotations.times_ms, valence, arousal)
        assert len(kept) == shorter > 0 and np.count_nonzero(~np.isnan(valence)) != np.count_nonzero(
            ~np.isnan(arousal))


def test_feature_songs_without_annotations_are_skipped_and_counted(features_deam) -> None:
    root, expected = features_deam
    data = deam.load_windows(root, deam.SOURCE_FEATURES, progress=False)
    assert data.skipped == {deam.SKIP_NO_ANNOTATIONS: [str(UNANNOTATED_SONG)]}
    assert data.song_ids == [str(song) for song in range(1, N_SONGS + 1)]
    assert data.y.tolist() == np.concatenate([expected[s] for s in range(1, N_SONGS + 1)]).tolist()
    assert data.X.shape == (len(data.y), len(FEATURE_NAMES))


def test_song_level_is_the_mean_probability_against_the_majority_label() -> None:
    songs = np.array(["b", "b", "b", "a", "a"], dtype=object)
    y = np.array([2, 2, 1, 0, 3])  # song a: a tie between Q1 and Q4 goes to Q1
    proba = np.array([[0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 1, 0], [1, 0, 0, 0], [0.5, 0, 0, 0.5]])
    song_true, song_proba = pretrain.song_level(songs, y, proba)
    assert song_true.tolist() == [0, 2]  # sorted ids: a, b
    assert np.allclose(song_proba, [[0.75, 0, 0, 0.25], [0, 0, 2 / 3, 1 / 3]])


# --- folds and determinism --------------------------------------------------------------------------


def song_windows(songs: np.ndarray) -> LabelledWindows:
    """Labelled windows of `songs` (n_windows,) in turning quadrants, each song its own group."""
    return LabelledWindows(np.zeros((len(songs), 1)), np.arange(len(songs)) % 4, songs, songs,
                           deam.SOURCE_FEATURES)


def test_folds_never_share_a_song_and_test_every_song_once() -> None:
    songs = np.repeat([f"s{i}" for i in range(23)], np.arange(23) % 5 + 1).astype(object)
    folds = pretrain.grouped_folds(song_windows(songs), 5, seed=1987)
    assert len(folds) == 5
    tested = np.concatenate([test for _, test in folds])
    assert sorted(tested.tolist()) == list(range(len(songs)))
    for train, test in folds:
        assert not set(songs[train]) & set(songs[test])
        assert len(train) + len(test) == len(songs)
    again = pretrain.grouped_folds(song_windows(songs), 5, seed=1987)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))
    other = pretrain.grouped_folds(song_windows(songs), 5, seed=1988)
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(folds, other, strict=True))


def test_fold_counts_are_checked() -> None:
    songs = np.array(["1", "1", "2", "3"], dtype=object)
    with pytest.raises(TrainingError, match="-cv must be at least 2, not 1"):
        pretrain.grouped_folds(song_windows(songs), 1, seed=0)
    with pytest.raises(TrainingError, match="-cv 4 needs at least 4 songs; only 3 have"):
        pretrain.grouped_folds(song_windows(songs), 4, seed=0)


def test_two_runs_give_identical_members_and_the_seed_matters(features_deam) -> None:
    data = deam.load_windows(features_deam[0], deam.SOURCE_FEATURES, progress=False)
    kinds = recipes.recipe_kinds(recipes.ORIGINAL)
    runs = [pretrain.pretrain(data, kinds, 3, seed, {}, threads=1) for seed in (1987, 1987, 7)]
    X = runs[0].committee.scaler.transform(data.X)
    probas = [run.committee.proba(X) for run in runs]
    assert list(runs[0].committee.members) == [committee.member_file(k, f) for k in sorted(kinds)
                                               for f in range(3)]
    assert np.array_equal(probas[0], probas[1])
    assert runs[0].metrics == runs[1].metrics
    assert not np.array_equal(probas[0], probas[2])


# --- the script -------------------------------------------------------------------------------------


def test_features_path_writes_a_whole_committee(features_deam, tmp_path: Path) -> None:
    root, expected = features_deam
    out = tmp_path / "committee"
    result = run_script("deam_classifier.py", "--deam", root, "-cv", 3, "--recipe", "original", "-o", out,
                        "--threads", 1, check=True)
    assert "source: features (both exist: --source audio for the other)" in result.stdout
    assert f"skipped 1 songs (no annotations): {UNANNOTATED_SONG}" in result.stdout
    made = committee.load_committee(out)
    assert list(made.members) == made.manifest["members"] == [
        committee.member_file(kind, fold) for kind in ("gnb", "sgd", "xgb") for fold in range(3)]
    trained_on = made.manifest["trained_on"]
    all_labels = np.concatenate(list(expected.values()))
    assert trained_on["source"] == "features" and trained_on["songs"] == N_SONGS
    assert trained_on["windows"] == len(all_labels) == 11 * len(VALENCE_MS) + SHORT_LENGTH
    assert trained_on["windows_per_quadrant"] == dict(zip(QUADRANTS, np.bincount(all_labels).tolist(),
                                                          strict=True))
    assert trained_on["skipped"] == {deam.SKIP_NO_ANNOTATIONS: 1}
    metrics = json.loads((out / pretrain.METRICS_FILE).read_text())
    assert list(metrics["models"]) == ["xgb", "gnb", "sgd", "committee"]
    for name, model in metrics["models"].items():
        assert sum(fold["songs"] for fold in model["folds"]) == N_SONGS
        assert np.asarray(model["confusion"]["window"]).sum() == len(all_labels)
        assert made.manifest["metrics"]["models"][name]["mean"] == model["mean"]
        assert (out / pretrain.CONFUSION_FILE.format(model=name)).read_bytes()[:4] == b"\x89PNG"
        for level in pretrain.LEVELS:
            assert f"{name:<10} {level:<7} {model['mean'][level]['precision']:.3f} ±" in result.stdout
    assert metrics["models"]["committee"]["mean"]["window"]["f1"] > 0.8  # the fixture is separable


def test_a_new_run_replaces_the_committee_whole(features_deam, tmp_path: Path) -> None:
    out = tmp_path / "committee"
    make_committee(out, kinds=("xgb",), folds=4, rounds=2)
    run_script("deam_classifier.py", "--deam", features_deam[0], "-cv", 2, "--recipe", "original",
               "-m", "gnb", "-o", out, check=True)
    assert sorted(p.name for p in committee.member_paths(out)) == ["classifier_gnb.it_0.pkl",
                                                                  "classifier_gnb.it_1.pkl"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["committee"]  # no staging or old folder left


def make_refusal(tmp_path: Path, features_root: Path, case: str) -> tuple[list, str]:
    """Arguments for one refused run and the error it must print."""
    out = tmp_path / "committee"
    if case == "no folder":
        return ["--deam", tmp_path / "nowhere"], f"DEAM folder not found: {tmp_path / 'nowhere'} (see --deam)"
    if case == "more folds than songs":
        return (["--deam", features_root, "-cv", 13],
                f"-cv 13 needs at least 13 songs; only {N_SONGS} have features and annotations")
    if case == "not a committee":
        out.mkdir()
        (out / "notes.txt").write_text("mine")
        return (["--deam", features_root, "-o", out],
                f"output folder {out} is not a committee folder: refusing to replace it")
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["no folder", "more folds than songs", "not a committee"])
def test_refusals_are_one_error_line_and_change_nothing(features_deam, tmp_path: Path, case: str) -> None:
    args, message = make_refusal(tmp_path, features_deam[0], case)
    out = tmp_path / "committee"
    if not out.exists():
        make_committee(out, kinds=("gnb",), folds=2)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    result = run_script("deam_classifier.py", *args, *([] if "-o" in args else ["-o", out]))
    assert error_line(result) == f"error: {message}"
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("committee")) == ["committee"]


def test_a_folder_without_annotations_or_features_is_refused(tmp_path: Path) -> None:
    (tmp_path / deam.FEATURES_DIR).mkdir()
    with pytest.raises(DeamError, match=f"DEAM annotations not found: .*{deam.AROUSAL_FILE}$"):
        deam.load_windows(tmp_path, deam.SOURCE_FEATURES, progress=False)
    (tmp_path / deam.FEATURES_DIR).rmdir()
    rows = {song: np.full(len(AROUSAL_MS), 0.5) for song in (1, 2, 3)}
    for name in (deam.AROUSAL_FILE, deam.VALENCE_FILE):
        write_dynamic(tmp_path / deam_layout.DYNAMIC_DIR / name, AROUSAL_MS, rows)
    with pytest.raises(DeamError, match=f"has neither features/ nor {deam_layout.AUDIO_DIR}/$"):
        deam.choose_source(tmp_path, None)
    (tmp_path / deam_layout.AUDIO_DIR).mkdir(parents=True)
    assert deam.choose_source(tmp_path, None) == (deam.SOURCE_AUDIO, False)
    with pytest.raises(DeamError, match=f"--source features: {tmp_path / deam.FEATURES_DIR} not found"):
        deam.choose_source(tmp_path, deam.SOURCE_FEATURES)
    with pytest.raises(AudioError, match=f"no audio files .* in {tmp_path / deam_layout.AUDIO_DIR}"):  # empty
        deam.load_windows(tmp_path, deam.SOURCE_AUDIO, tmp_path / "cache", smile_command(), progress=False)


# --- audio ------------------------------------------------------------------------------------------


def smile_command() -> smile.SmileCommand:
    return smile.find_smilextract(settings.SMILEXTRACT, settings.OPENSMILE_DIRECTORY)


def quadrant_counts(dynamic: Path, songs: list[str]) -> dict[str, int]:
    """Windows per quadrant of `songs`, straight from DEAM's CSVs: both values present, sign rule."""
    arousal = pd.read_csv(dynamic / deam.AROUSAL_FILE, index_col="song_id")
    valence = pd.read_csv(dynamic / deam.VALENCE_FILE, index_col="song_id")
    counts = dict.fromkeys(QUADRANTS, 0)
    for song in map(int, songs):
        for column in arousal.columns.intersection(valence.columns):
            a, v = arousal.at[song, column], valence.at[song, column]
            if not (np.isnan(a) or np.isnan(v)):
                counts[QUADRANTS[quadrant_of(v, a)]] += 1
    return counts


def test_audio_path_on_mini_deam_learns_four_columns_without_q2(shared: Path, tmp_path: Path) -> None:
    mini = shared / "data" / "mini-deam"
    cache, out = tmp_path / "cache", tmp_path / "committee"
    result = run_script("deam_classifier.py", "--deam", mini, "--cache", cache, "-cv", 2,
                        "--recipe", "original", "-o", out, "-j", 2, "--threads", 1, check=True)
    assert result.stdout.startswith("source: audio\n")
    songs = sorted((p.stem for p in (mini / deam_layout.AUDIO_DIR).glob("*.mp3")), key=int)
    assert sorted((p.stem for p in cache.glob("*.csv")), key=int) == songs
    made = committee.load_committee(out)
    trained_on = made.manifest["trained_on"]
    expected = quadrant_counts(mini / deam_layout.DYNAMIC_DIR, songs)
    assert trained_on["windows_per_quadrant"] == expected and expected["Q2"] == 0
    assert trained_on["songs"] == len(songs) and trained_on["source"] == "audio"
    X = made.scaler.transform(table.read_timed_features(cache / f"{songs[0]}.csv")[1])
    for member in made.members.values():  # no fold saw Q2, every member still gives four columns
        proba = members.predict_proba(member, X)
        assert proba.shape == (len(X), 4) and np.allclose(proba.sum(axis=1), 1)


@pytest.fixture(scope="module")
def heldout(tmp_path_factory: pytest.TempPathFactory) -> LabelledWindows:
    """Labelled windows of a synthetic corpus no test trains on (seed 1)."""
    root = tmp_path_factory.mktemp("heldout") / "deam"
    synth.write_corpus(root, 8, seed=1, duration=20.0, annotation_start=0.0)
    return deam.load_windows(root, deam.SOURCE_AUDIO, command=smile_command(), jobs=2, progress=False)


def committee_scores(made: Committee, data: LabelledWindows) -> dict:
    """Scores of a committee's mean probability on labelled windows."""
    proba = made.proba(made.scaler.transform(data.X)).mean(axis=0)
    return pretrain.evaluate(data.songs, data.y, proba)


CHANCE_F1 = 0.25
"""Weighted F1 of guessing among four balanced quadrants."""


def test_a_committee_trained_on_a_synthetic_corpus_beats_chance_on_another(
        tmp_path: Path, heldout: LabelledWindows) -> None:
    root = tmp_path / "deam"
    synth.write_corpus(root, 8, seed=0, duration=20.0, annotation_start=0.0)
    data = deam.load_windows(root, deam.SOURCE_AUDIO, command=smile_command(), jobs=2, progress=False)
    cache = root / deam.CACHE_DIR
    extracted = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    assert len(extracted) == 8
    again = deam.load_windows(root, deam.SOURCE_AUDIO, command=smile_command(), progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == extracted  # nothing re-extracted
    assert np.array_equal(again.X, data.X)
    made = pretrain.pretrain(data, recipes.recipe_kinds(recipes.ORIGINAL), 2, 1987, {}, threads=1).committee
    scores = committee_scores(made, heldout)
    print(f"held-out synthetic F1: window {scores['window']['f1']:.3f}, song {scores['song']['f1']:.3f}")
    assert scores["window"]["f1"] > CHANCE_F1 + 0.2


# --- the committed default committee ------------------------------------------------------------------


def test_committed_committee_loads_and_matches_its_manifest() -> None:
    made = committee.load_committee(COMMITTED)
    manifest = made.manifest
    trained_on = manifest["trained_on"]
    assert trained_on["recipe"] == recipes.DEFAULT_RECIPE
    recipe = recipes.RECIPES[recipes.DEFAULT_RECIPE]
    kinds = sorted(recipe)
    assert list(made.members) == manifest["members"] == [
        committee.member_file(kind, fold) for kind in kinds for fold in range(5)]
    assert manifest["feature_names"] == list(recipes.feature_names(recipe))
    assert manifest["families"] == {kind: members.KINDS[kind].family for kind in recipe}
    assert manifest["classes"] == {name: index for index, name in enumerate(QUADRANTS)}
    installed = committee.library_versions()
    for library in ("xgboost", "scikit-learn"):
        assert manifest["versions"][library] == installed[library], "rebuild it: make pretrained"
    assert made.scaler.n_features_in_ == len(manifest["feature_names"])
    for name, member in made.members.items():
        kind = members.KINDS[committee.MEMBER_PATTERN.match(name)["kind"]]
        assert isinstance(member, kind.estimator)
        assert member.n_features_in_ == len(FAMILIES[kind.family])
    assert "4Q audio emotion dataset" in trained_on["note"] and "Panda" in trained_on["note"]
    assert trained_on["songs"] == 600 and trained_on["group_column"] == "artist"
    assert trained_on["split"] == "StratifiedGroupKFold by artist, stratified by quadrant"
    metrics = json.loads((COMMITTED / pretrain.METRICS_FILE).read_text())
    assert {name: {k: m[k] for k in ("mean", "std")} for name, m in metrics["models"].items()} \
        == manifest["metrics"]["models"]


def test_committed_committee_reproduces_its_out_of_fold_scores_on_4q_dev(shared: Path) -> None:
    """The figures the manifest claims come from these members: fold k's IS13 members, on fold k's songs
    (artists they never saw), score the song-level F1 that metrics.json records for their kind on fold
    k. ../shared holds the IS13 features of 4q-dev; its vibenet members need the family extracted from
    the audio (make pretrained does it, some minutes), which this test does not wait for."""
    made = committee.load_committee(COMMITTED)
    trained_on = made.manifest["trained_on"]
    fourq = shared / "data" / "4q-dev"
    data = labelled.load_windows(fourq / "labels.csv", fourq / "feats", "artist", progress=False)
    assert hashlib.sha256((fourq / "labels.csv").read_bytes()).hexdigest() == trained_on["labels_sha256"]
    folds = pretrain.grouped_folds(data, trained_on["folds"], trained_on["fold_seed"])
    metrics = json.loads((COMMITTED / pretrain.METRICS_FILE).read_text())["models"]
    is13 = [kind for kind, family in made.manifest["families"].items() if family == IS13]
    width = len(FEATURE_NAMES)
    assert is13 and made.feature_names[:width] == list(FEATURE_NAMES)
    X = (data.X - made.scaler.mean_[:width]) / made.scaler.scale_[:width]  # the scaler, on IS13's columns
    for fold, (_, test) in enumerate(folds):
        for kind in is13:
            member = made.members[committee.member_file(kind, fold)]
            scores = pretrain.evaluate(data.songs[test], data.y[test], members.predict_proba(member, X[test]))
            recorded = metrics[kind]["folds"][fold]["song"]["f1"]
            assert scores["song"]["f1"] == pytest.approx(recorded, abs=1e-12)


def test_calibration_error_by_hand() -> None:
    """A right answer at 0.9 and a wrong one at 0.6, in two bins: ½·|1 − 0.9| + ½·|0 − 0.6| = 0.35."""
    proba = np.array([[0.9, 0.1, 0, 0], [0.6, 0.4, 0, 0]])
    assert pretrain.calibration_error(np.array([0, 1]), proba) == pytest.approx(0.35)
    assert pretrain.calibration_error(np.array([0, 0]), np.array([[1.0, 0, 0, 0]] * 2)) == 0


def test_a_grid_lists_every_combination_and_a_plain_value_is_one() -> None:
    assert pretrain.grid({"hidden": 64, "alpha": [1.0, 3.0]}) == [{"hidden": 64, "alpha": 1.0},
                                                                  {"hidden": 64, "alpha": 3.0}]
    assert pretrain.grid({}) == [{}]
