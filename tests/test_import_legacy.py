"""import_legacy.py through the real script: the original's committees predict as they did, and its
users go on with get_hard_tracks.py / retrain_model.py from where the original left off."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import StandardScaler

from tests.committees import make_committee, write_feature_csv
from tests.conftest import ROOT, error_line, run_script
from tests.test_loop import folder_digest
from trompa_mer import names
from trompa_mer.commands import import_legacy, settings
from trompa_mer.committee import files as committees
from trompa_mer.committee import members
from trompa_mer.features.columns import FEATURE_NAMES
from trompa_mer.features.table import read_feature_csv
from trompa_mer.legacy.pickles import load_legacy_model
from trompa_mer.names import QUADRANTS

TOLERANCE = 1e-6
ROUNDS = 10
"""Boosting rounds per retrain in these tests (the default 100 only costs time)."""
ONE_OF_EACH = ("classifier_xgb.it_0.pkl", "classifier_gnb.it_0.pkl", "classifier_sgd.it_0.pkl")


@pytest.fixture
def legacy(shared: Path) -> Path:
    return shared / "data" / "legacy-models"


@pytest.fixture
def env(tmp_path: Path) -> dict:
    """data/feats, models/users and the pretrained committee all under tmp_path; one xgboost thread
    per script, as the suite runs two workers on two shared cores."""
    return {"TPL_INTERNAL_DATA_DIRECTORY": str(tmp_path),
            "TPL_PRETRAINED_DIRECTORY": str(tmp_path / "models" / "pretrained"), "OMP_NUM_THREADS": "1"}


def random_songs(feats: Path, songs: list[str], seed: int, n_windows: int = 4) -> None:
    """A feature CSV of random windows for each song id (original ids: `dfx0951-0019`, ...)."""
    rng = np.random.default_rng(seed)
    feats.mkdir(parents=True, exist_ok=True)
    for song in songs:
        write_feature_csv(feats / f"{song}.csv", rng.normal(5, 2, size=(n_windows, len(FEATURE_NAMES))))


def state_of(folder: Path) -> dict:
    return json.loads((folder / "pool_data.json").read_text())


def history_of(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "annotations.jsonl").read_text().splitlines()]


def xgb_rounds(folder: Path) -> int:
    return joblib.load(folder / "classifier_xgb.it_0.pkl").get_booster().num_boosted_rounds()


def test_imported_pretrained_reproduces_the_original_probabilities(tmp_path: Path, legacy: Path,
                                                                   env: dict) -> None:
    dest = tmp_path / "committee"
    result = run_script("import_legacy.py", legacy / "pretrained", "-o", dest, env=env, check=True)
    assert "imported 15 models" in result.stdout
    committee = committees.load_committee(dest)
    assert sorted(committee.members) == sorted(p.name for p in (legacy / "pretrained").glob("*.pkl"))
    assert committee.scaler is None and not (dest / committees.SCALER_FILE).exists()
    assert committee.default_scaling() == names.SCALING_ORIGINAL
    assert committee.manifest["scaling"] == names.SCALING_ORIGINAL
    trained_on = committee.manifest["trained_on"]
    assert trained_on["source"] == str((legacy / "pretrained").resolve())
    assert trained_on["original_versions"] == {"python": "3.6-3.8", "xgboost": "1.3.3",
                                               "scikit-learn": "0.24.1"}
    with open(legacy / "reference_predictions.json", encoding="utf-8") as handle:
        reference = json.load(handle)
    X = np.asarray(reference["X"])
    for name, member in committee.members.items():
        assert members.kind_of(member) == name.split("_")[1].split(".")[0]
        expected = np.asarray(reference["proba"][f"pretrained/{name}"])
        assert np.max(np.abs(member.predict_proba(X) - expected)) <= TOLERANCE, name


def test_imported_user_goes_on_from_iteration_3(tmp_path: Path, legacy: Path, env: dict) -> None:
    original = legacy / "users" / "2" / "hc"
    pool_data = json.loads((original / "pool_data.json").read_text())
    logged = {int(k): labels for entry in pool_data["log"] for k, labels in entry.items()}
    env["TPL_CROWD_ANNOTATIONS"] = str(legacy.parent / "trompa" / "data_09_08_2021.json")  # for hc
    result = run_script("import_legacy.py", legacy / "users" / "2", "--user", "2", env=env, check=True)
    assert "iteration 3" in result.stdout
    folder = tmp_path / "models" / "users" / "2"
    state = state_of(folder)
    # The original's iteration 2 query was answered (its log holds batches 0, 1, 2): next is 3.
    assert state["iteration"] == 3 and not state["pending"] and state["strategy"] == "hc"
    assert state["queried"] == pool_data["queried"] and state["next_pool"] == pool_data["next_pool"]
    assert state["answered"] == sorted(song for labels in logged.values() for song in labels)
    history = history_of(folder)
    assert [(r["iteration"], r["labels"]) for r in history] == sorted(logged.items())
    assert history[-1]["labels"] == json.loads((original / "last_anno.json").read_text())
    assert (folder / "consensus.csv").read_bytes() == (original / "consensus.csv").read_bytes()
    assert xgb_rounds(folder) == 400  # 100 pretrained + 100 per answered batch

    consensus = pd.read_csv(original / "consensus.csv", index_col=0)
    never_asked = set(consensus.index[consensus["log"] == -1])  # the crowd annotated these
    unasked = [s for s in pool_data["next_pool"] if s in never_asked][:30]
    random_songs(tmp_path / "data" / "feats", unasked + pool_data["queried"], seed=2)
    query = run_script("get_hard_tracks.py", "-i", "2", "-q", 30, "--json", env=env, check=True)
    asked = json.loads(query.stdout)
    assert asked["iteration"] == 3
    assert sorted(asked["queried"]) == sorted(unasked)  # the 10 answered songs are not asked again
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({s: QUADRANTS[i % 4] for i, s in enumerate(asked["queried"])}))
    retrain = run_script("retrain_model.py", "-i", "2", "-a", answers, "--rounds", ROUNDS, env=env,
                         check=True)
    assert "iteration 4" in retrain.stdout
    assert state_of(folder)["iteration"] == 4
    assert [r["iteration"] for r in history_of(folder)] == [0, 1, 2, 3]
    assert xgb_rounds(folder) == 400 + ROUNDS


def test_seed_era_user_imports_with_its_query_pending(tmp_path: Path, legacy: Path, env: dict) -> None:
    original = legacy / "users" / "827"
    pool_data = json.loads((original / "pool_data.json").read_text())
    result = run_script("import_legacy.py", original, "--user", "827", env=env, check=True)
    assert "pending" in result.stderr
    folder = tmp_path / "models" / "users" / "827"
    state = state_of(folder)
    # No record of answers and xgb members still at their 100 pretrained rounds: iteration 0 waits.
    assert state["iteration"] == 0 and state["pending"] and state["strategy"] == "mc"
    assert state["queried"] == pool_data["queried"] and state["answered"] == []
    assert sorted(p.name for p in folder.glob("*.pkl")) == [f"classifier_xgb.it_{k}.pkl" for k in range(5)]
    assert not (folder / "annotations.jsonl").exists() and xgb_rounds(folder) == 100
    before = folder_digest(folder)
    again = run_script("import_legacy.py", original, "--user", "827", env=env)
    assert "already exists" in error_line(again) and folder_digest(folder) == before

    random_songs(tmp_path / "data" / "feats", pool_data["queried"], seed=827)
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({s: "Q3" for s in pool_data["queried"]}))
    run_script("retrain_model.py", "-i", "827", "-a", answers, "--rounds", ROUNDS, env=env, check=True)
    assert state_of(folder)["iteration"] == 1 and not state_of(folder)["pending"]
    assert [r["iteration"] for r in history_of(folder)] == [0]


def test_pretrained_install_keeps_the_old_one_and_predicts_as_the_original(
        tmp_path: Path, legacy: Path, env: dict) -> None:
    pretrained = Path(env["TPL_PRETRAINED_DIRECTORY"])
    make_committee(pretrained)
    before = folder_digest(pretrained)
    src = tmp_path / "src"
    src.mkdir()
    for name in ONE_OF_EACH:
        shutil.copyfile(legacy / "pretrained" / name, src / name)
    result = run_script("import_legacy.py", src, "--pretrained", env=env, check=True)
    asides = list(pretrained.parent.glob("pretrained.before-import-*"))
    assert len(asides) == 1 and str(asides[0]) in result.stdout
    assert folder_digest(asides[0]) == before
    assert sorted(p.name for p in pretrained.glob("*.pkl")) == sorted(ONE_OF_EACH)

    song = write_feature_csv(tmp_path / "song.csv",
                             np.random.default_rng(7).normal(3, 4, size=(20, len(FEATURE_NAMES))))
    X = StandardScaler().fit_transform(read_feature_csv(song))  # the original: scaled per file
    original = {name: load_legacy_model(src / name).predict_proba(X) for name in ONE_OF_EACH}
    out = tmp_path / "default.json"
    run_script("predict_emotion.py", "-i", song, "-o", out, "-m", "default", env=env, check=True)
    predicted = json.loads(out.read_text())
    assert np.max(np.abs(np.array(predicted["output_probs"]) - original[ONE_OF_EACH[0]])) <= TOLERANCE
    run_script("create_user.py", "-i", "newcomer", env=env, check=True)
    out = tmp_path / "user.json"
    run_script("predict_emotion.py", "-i", song, "-o", out, "-u", "newcomer", env=env, check=True)
    committee_mean = np.mean(list(original.values()), axis=0)
    assert np.max(np.abs(np.array(json.loads(out.read_text())["output_probs"]) - committee_mean)) <= TOLERANCE


def _truncated(src: Path, legacy: Path) -> Path:
    data = (legacy / "pretrained" / "classifier_sgd.it_0.pkl").read_bytes()
    (src / "classifier_sgd.it_0.pkl").write_bytes(data[: len(data) // 2])
    return src / "classifier_sgd.it_0.pkl"


def _unknown(src: Path, legacy: Path) -> Path:
    shutil.copyfile(legacy / "pretrained" / "classifier_sgd.it_0.pkl", src / "model.pkl")
    return src / "model.pkl"


def _misnamed(src: Path, legacy: Path) -> Path:
    shutil.copyfile(legacy / "pretrained" / "classifier_sgd.it_0.pkl", src / "classifier_xgb.it_0.pkl")
    return src / "classifier_xgb.it_0.pkl"


def _bad_state(src: Path, legacy: Path) -> Path:
    (src / "pool_data.json").write_text('{"iteration": 1, "queried": ["a"], "next_pool": "b"}')
    return src / "pool_data.json"


def _bad_answers(src: Path, legacy: Path) -> Path:
    (src / "pool_data.json").write_text('{"iteration": 0, "queried": ["a"], "next_pool": ["b"]}')
    (src / "last_anno.json").write_text('{"a": "happy"}')
    return src / "last_anno.json"


USER = ("--user", "x")
COMMITTEE = ("-o", "out")


@pytest.mark.parametrize(("damage", "modes"), [(_truncated, (USER, COMMITTEE)), (_unknown, (COMMITTEE,)),
                                               (_misnamed, (USER,)), (_bad_state, (USER,)),
                                               (_bad_answers, (USER,))])
def test_damaged_source_names_the_file_and_creates_nothing(tmp_path: Path, legacy: Path, damage,
                                                          modes: tuple, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture) -> None:
    """In-process main(): the same code path as the script, without a subprocess per case."""
    monkeypatch.setattr(settings, "USERS_DIRECTORY", tmp_path / "models" / "users")
    src = tmp_path / "src"
    src.mkdir()
    shutil.copyfile(legacy / "pretrained" / "classifier_gnb.it_0.pkl", src / "classifier_gnb.it_0.pkl")
    bad = damage(src, legacy)
    for flag, value in modes:
        code = import_legacy.main([str(src), flag, str(tmp_path / value if flag == "-o" else value)])
        captured = capsys.readouterr()
        lines = captured.err.splitlines()
        assert code == 1 and len(lines) == 1 and lines[0].startswith("error: ") and str(bad) in lines[0]
        assert captured.out == "" and sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def _global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


HUGE = b"J\x00\x00\x00\x08"  # 2**27 elements: 1 GiB of object pointers
BOMBS = {
    "ndarray called": _global("numpy", "ndarray") + HUGE + b"\x85" + _global("numpy", "dtype")
    + b"X\x02\x00\x00\x00O8\x85R\x86R.",
    "array state": _global("numpy.core.multiarray", "_reconstruct") + _global("numpy", "ndarray")
    + b"K\x00\x85C\x01b\x87R(K\x01" + HUGE + b"\x85" + _global("numpy", "dtype")
    + b"X\x02\x00\x00\x00O8\x85R\x89]tb.",
    "scalar": _global("numpy.core.multiarray", "scalar") + _global("numpy", "dtype")
    + b"X\x0a\x00\x00\x00U300000000\x85R\x85R.",
}


@pytest.mark.parametrize("bomb", BOMBS)
def test_tiny_pickle_declaring_a_huge_array_is_refused_without_allocating(tmp_path: Path, env: dict,
                                                                         bomb: str) -> None:
    """Run in a fresh parent, so that its children's peak RSS is the script's alone."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "classifier_gnb.it_0.pkl").write_bytes(BOMBS[bomb])
    parent = ("import json, resource, sys\nfrom tests.conftest import run_script\n"
              "env = json.loads(sys.argv[3])\n"
              "result = run_script('import_legacy.py', sys.argv[1], '-o', sys.argv[2], env=env)\n"
              "sys.stderr.write(result.stderr)\n"
              "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
              "sys.exit(result.returncode)\n")
    result = subprocess.run([sys.executable, "-c", parent, str(src), str(tmp_path / "out"), json.dumps(env)],
                            cwd=ROOT, capture_output=True, text=True)
    assert "classifier_gnb.it_0.pkl" in error_line(result)
    assert int(result.stdout) < 400_000, f"peak RSS {result.stdout.strip()} KiB"
    assert not (tmp_path / "out").exists()
