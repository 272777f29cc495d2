"""Descriptor families beyond IS13: vibenet's and musicnn's models run by onnxruntime on real music,
CSVs that say what they hold, `extract_features.py --add`, committees whose members read their own
family, pools per family."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.committees import make_committee
from tests.conftest import SHARED, error_line, run_script
from trompa_mer.committee import files as committees
from trompa_mer.committee.model import Committee
from trompa_mer.committee.predict import predict_file
from trompa_mer.errors import MissingFamilyError
from trompa_mer.features import audio, learned, musicnn, table, vibenet
from trompa_mer.features.columns import FEATURE_NAMES, MUSICNN_NAMES, TIME_COLUMN, VIBENET_NAMES, family_names
from trompa_mer.features.pool import load_pool, store_folder
from trompa_mer.training import pretrain, recipes

CLIP = SHARED / "data" / "4q-dev" / "audio" / "MT0000011357.mp3"
"""A real 30 s clip of the 4Q dataset (Q2)."""


@pytest.fixture(scope="module")
def clip_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clip") / "clip.csv"
    run_script("extract_features.py", "-i", CLIP, "-o", out, check=True)
    return out


def test_the_default_csv_holds_is13_then_every_other_family_one_value_per_window(clip_csv: Path) -> None:
    frame = pd.read_csv(clip_csv, sep=";")
    assert list(frame.columns) == [TIME_COLUMN, *FEATURE_NAMES, *VIBENET_NAMES, *MUSICNN_NAMES]
    # musicnn: a 3 s patch every 3 s, so 9 or 10 distinct rows for 30 s; its tags are probabilities.
    patches = frame[list(MUSICNN_NAMES)].to_numpy()
    assert 9 <= len(np.unique(patches, axis=0)) <= 10
    assert ((patches[:, 200:] >= 0) & (patches[:, 200:] <= 1)).all()
    values = frame[list(VIBENET_NAMES)].to_numpy()
    assert np.isfinite(values).all()
    # 30 s of audio: 11 segments of 5 s every 2.5 s; each 1 s window takes the nearest one's values.
    assert 9 <= len(np.unique(values, axis=0)) <= 11
    assert np.array_equal(values[0], values[1]) and not np.array_equal(values[0], values[-1])


def test_the_model_gives_its_seven_outputs_and_its_256_d_embedding_on_real_music() -> None:
    with audio.as_wav(CLIP) as wav:
        starts, values = vibenet.segment_descriptors(learned.read_16k(wav))
    assert values.shape == (len(starts), 263) and list(starts[:3]) == [0.0, 2.5, 5.0]
    assert [output.name for output in vibenet.session().get_outputs()] == ["out", vibenet.EMBEDDING_NODE]
    # The embedding is the layer the heads read: segments differ in it, and it is not the outputs again.
    assert values[:, 7:].std(axis=0).max() > 0.01 and values[:, 7:].shape[1] == 256


def test_musicnn_runs_the_converted_model_on_patches_of_real_music() -> None:
    with audio.as_wav(CLIP) as wav:
        y = learned.read_16k(wav)
    starts, values = musicnn.patch_descriptors(y)
    assert values.shape == (len(starts), 250) and list(starts[:2]) == [0.0, 3.008]
    assert musicnn.log_mel(y).shape[1] == 96 and np.isfinite(values).all()
    # Too short for a patch: padded with silence to one, still its own row of descriptors.
    assert musicnn.patch_descriptors(y[:8000])[1].shape == (1, 250)


def test_a_window_takes_the_segment_whose_middle_is_nearest() -> None:
    starts = np.array([0.0, 2.5, 5.0])
    values = np.array([[0.0], [1.0], [2.0]])
    times = np.array([0.0, 1.5, 2.0, 4.5, 6.5])  # middles 0.5, 2.0, 2.5, 5.0, 7.0
    nearest = learned.nearest_segments(times, 1.0, starts, vibenet.SEGMENT_SECONDS, values)
    assert nearest[:, 0].tolist() == [0, 0, 0, 1, 2]


def test_add_completes_an_is13_csv_exactly_as_a_whole_extraction(clip_csv: Path, tmp_path: Path) -> None:
    older = tmp_path / "older.csv"
    run_script("extract_features.py", "-i", CLIP, "-o", older, "--families", "is13", check=True)
    assert list(pd.read_csv(older, sep=";").columns) == [TIME_COLUMN, *FEATURE_NAMES]
    added = run_script("extract_features.py", "--add", "-i", CLIP, "-o", older, check=True)
    assert "added vibenet" in added.stdout
    assert older.read_bytes() == clip_csv.read_bytes()
    again = run_script("extract_features.py", "--add", "-i", CLIP, "-o", older, check=True)
    assert "already holds" in again.stdout and older.read_bytes() == clip_csv.read_bytes()


def test_add_in_batch_completes_existing_csvs_and_counts_them(clip_csv: Path, tmp_path: Path) -> None:
    audio_dir, feats = tmp_path / "audio", tmp_path / "feats"
    audio_dir.mkdir()
    feats.mkdir()
    (audio_dir / "clip.mp3").symlink_to(CLIP)
    run_script("extract_features.py", "-i", audio_dir, "-o", feats, "--families", "is13", check=True)
    result = run_script("extract_features.py", "--add", "-i", audio_dir, "-o", feats, check=True)
    assert "completed 1" in result.stderr
    assert (feats / "clip.csv").read_bytes() == clip_csv.read_bytes()


def test_add_without_a_csv_and_add_with_overwrite_are_refused(tmp_path: Path) -> None:
    missing = run_script("extract_features.py", "--add", "-i", CLIP, "-o", tmp_path / "none.csv")
    assert missing.returncode == 1 and "features file not found" in error_line(missing)
    both = run_script("extract_features.py", "--add", "--overwrite", "-i", CLIP, "-o", tmp_path)
    assert both.returncode == 2 and "choose one" in both.stderr
    assert not list(tmp_path.iterdir())


def vibenet_committee(folder: Path) -> Committee:
    """A committee of the vibenet recipe's kinds trained on random rows of both families (a real
    pretraining, fast: fixed hyperparameters, 2 folds)."""
    from trompa_mer.datasets.windows import LabelledWindows

    rng = np.random.default_rng(0)
    names = recipes.feature_names(recipes.RECIPES[recipes.VIBENET])
    songs = np.repeat([f"s{i:02d}" for i in range(16)], 5)
    y = np.repeat(np.arange(16) % 4, 5)
    X = rng.normal(size=(len(y), len(names))) + y[:, None]
    data = LabelledWindows(X, y, songs, songs.copy(), "tests")
    kinds = {"sgd": {}, "vsgd": {}}
    made = pretrain.pretrain(data, kinds, 2, 0, {"data": "tests"})
    pretrain.write_pretrained(folder, made)
    return committees.load_committee(folder)


def test_a_members_reads_only_its_own_familys_columns(tmp_path: Path) -> None:
    committee = vibenet_committee(tmp_path / "committee")
    assert committee.manifest["families"] == {"sgd": "is13", "vsgd": "vibenet"}
    assert committee.feature_names == list(FEATURE_NAMES) + list(VIBENET_NAMES)
    X = np.random.default_rng(1).normal(size=(6, len(committee.feature_names)))
    changed = X.copy()
    changed[:, : len(FEATURE_NAMES)] += 5.0  # IS13 columns only
    before, after = committee.proba(X), committee.proba(changed)
    names = list(committee.members)
    for i, name in enumerate(names):
        moved = not np.allclose(before[i], after[i])
        assert moved == name.startswith("classifier_sgd"), name


def test_a_csv_lacking_a_family_is_refused_naming_it_and_the_command_that_adds_it(tmp_path: Path) -> None:
    committee = vibenet_committee(tmp_path / "committee")
    is13_only = tmp_path / "old.csv"
    table.write_feature_csv(is13_only, np.array([0.0, 0.5]), np.zeros((2, len(FEATURE_NAMES))))
    with pytest.raises(MissingFamilyError, match="old.csv lacks the vibenet descriptors the committee needs"):
        predict_file(committee, is13_only, "committee", "m")
    result = run_script("predict_emotion.py", "-i", is13_only, "-o", tmp_path / "p.json",
                        "-m", tmp_path / "committee")
    assert result.returncode == 1
    assert "lacks the vibenet descriptors" in error_line(result) and "--add" in error_line(result)
    assert not (tmp_path / "p.json").exists()


def test_each_set_of_columns_has_its_own_pool_store(tmp_path: Path) -> None:
    feats, cache = tmp_path / "feats", tmp_path / "cache"
    feats.mkdir()
    names = family_names(["is13", "vibenet"])
    rows = np.random.default_rng(2).normal(size=(3, len(names)))
    table.write_feature_csv(feats / "a.csv", np.array([0.0, 0.5, 1.0]), rows, names)
    with load_pool(feats, cache, jobs=1, names=names) as both, load_pool(feats, cache, jobs=1) as is13:
        np.testing.assert_allclose(both.windows(["a"])[0], rows, rtol=1e-6)
        np.testing.assert_allclose(is13.windows(["a"])[0], rows[:, : len(FEATURE_NAMES)], rtol=1e-6)
    assert store_folder(cache, names) == cache / "is13+vibenet" and (cache / "is13+vibenet").is_dir()


def test_an_is13_committee_predicts_from_a_csv_of_both_families(clip_csv: Path, tmp_path: Path) -> None:
    made = make_committee(tmp_path / "is13")
    result = predict_file(made, clip_csv, "committee", "m")
    narrowed = tmp_path / "narrow.csv"
    frame = pd.read_csv(clip_csv, sep=";")
    frame[[TIME_COLUMN, *FEATURE_NAMES]].to_csv(narrowed, sep=";", index=False)
    assert predict_file(made, narrowed, "committee", "m")["mean_probs"] == pytest.approx(result["mean_probs"])
