"""Promises of the legacy import: the original tool's 35 pickles predict as they did with
xgboost 1.3.3 / scikit-learn 0.24.1, stay trainable, and nothing but them is ever unpickled."""

import json
import struct
from dataclasses import replace
from pathlib import Path

import joblib
import numpy as np
import pytest
import xgboost
from sklearn.linear_model import SGDClassifier
from sklearn.naive_bayes import GaussianNB

from trompa_mer.errors import LegacyError
from trompa_mer.legacy.pickles import load_legacy_model, read_legacy_pickle
from trompa_mer.legacy.xgb_format import SNAPSHOT_HEADER, load_booster, read_handle
from trompa_mer.legacy.xgb_model import LegacyBooster, to_current_json

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DATA = SHARED / "data" / "legacy-models"
REFERENCE = DATA / "reference_predictions.json"
TOLERANCE = 1e-6
XGB_FILE = "users/2/hc/classifier_xgb.it_3.pkl"
ONE_OF_EACH = ("pretrained/classifier_xgb.it_0.pkl", "pretrained/classifier_gnb.it_0.pkl",
               "pretrained/classifier_sgd.it_0.pkl")

if REFERENCE.is_file():
    with open(REFERENCE, encoding="utf-8") as handle:
        REFERENCE_KEYS = sorted(json.load(handle)["proba"])
else:
    print(f"test_legacy: {DATA} is absent, the tests on the original files are skipped")
    REFERENCE_KEYS = []

needs_data = pytest.mark.skipif(not REFERENCE.is_file(),
                                reason=f"{DATA} is absent: the original files are not beside "
                                       "this checkout")


@pytest.fixture(scope="module")
def reference() -> dict:
    """X (200, 260) and the original predict_proba (200, 4) of every file; read-only."""
    if not REFERENCE.is_file():
        pytest.skip(f"{REFERENCE} is absent")
    with open(REFERENCE, encoding="utf-8") as handle:
        data = json.load(handle)
    return {"X": np.asarray(data["X"]),
            "proba": {key: np.asarray(value) for key, value in data["proba"].items()}}


@needs_data
@pytest.mark.parametrize("key", REFERENCE_KEYS)
def test_converted_model_reproduces_original_probabilities(key: str, reference: dict) -> None:
    model = load_legacy_model(DATA / key)
    kind = {"xgb": xgboost.XGBClassifier, "gnb": GaussianNB, "sgd": SGDClassifier}
    assert type(model) is kind[Path(key).name.split("_")[1].split(".")[0]]
    assert list(model.classes_) == [0, 1, 2, 3]
    proba = model.predict_proba(reference["X"])
    assert proba.shape == (200, 4)
    assert np.max(np.abs(proba - reference["proba"][key])) <= TOLERANCE


def test_every_reference_key_names_a_file() -> None:
    if not REFERENCE_KEYS:
        pytest.skip(f"{DATA} is absent")
    assert len(REFERENCE_KEYS) == 35
    assert all((DATA / key).is_file() for key in REFERENCE_KEYS)


def _handle(key: str) -> bytes:
    """The booster bytes of an original XGBClassifier pickle."""
    return bytes(read_legacy_pickle(DATA / key).state["_Booster"].state["handle"])


def _walk(tree: dict, row: np.ndarray) -> float:
    node = 0
    while tree["left_children"][node] != -1:
        value = row[tree["split_indices"][node]]
        go_left = tree["default_left"][node] if np.isnan(value) else (
            value < np.float32(tree["split_conditions"][node]))
        node = tree["left_children"][node] if go_left else tree["right_children"][node]
    return float(np.float32(tree["split_conditions"][node]))


@needs_data
def test_xgb_margin_is_stored_base_score_plus_leaves(reference: dict) -> None:
    """1.3 added base_score (0.5) to each class margin as is; the probabilities cannot show it,
    softmax ignores a shift common to all classes, so the margins are checked by a tree walk."""
    snapshot = json.loads(_handle(XGB_FILE))
    learner = snapshot["Model"]["learner"]
    assert learner["learner_model_param"]["base_score"] == "5E-1"
    gbtree = learner["gradient_booster"]["model"]
    rows = reference["X"][:10].astype(np.float32)
    expected = np.full((len(rows), 4), 0.5)
    for tree, group in zip(gbtree["trees"], gbtree["tree_info"], strict=True):
        expected[:, group] += [_walk(tree, row) for row in rows]
    margin = load_legacy_model(DATA / XGB_FILE).get_booster().predict(
        xgboost.DMatrix(rows), output_margin=True)
    assert np.max(np.abs(margin - expected)) < 1e-4


@needs_data
def test_xgb_continues_training_with_native_api(reference: dict) -> None:
    model = load_legacy_model(DATA / XGB_FILE)
    old = model.get_booster()
    rounds = old.num_boosted_rounds()
    X = reference["X"][:60]
    y = np.array([0, 2] * 30)  # a user who only ever answered Q1 and Q3
    params = {"objective": "multi:softprob", "num_class": 4, "max_depth": 5}
    new = xgboost.train(params, xgboost.DMatrix(X, label=y), 10, xgb_model=old)
    assert new.num_boosted_rounds() == rounds + 10
    dmatrix = xgboost.DMatrix(reference["X"])
    kept = new.predict(dmatrix, output_margin=True, iteration_range=(0, rounds))
    assert np.array_equal(kept, old.predict(dmatrix, output_margin=True))
    model.load_model(bytearray(new.save_raw("json")))
    proba = model.predict_proba(reference["X"])
    assert proba.shape == (200, 4)
    assert not np.allclose(proba, reference["proba"][XGB_FILE])
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)


@needs_data
def test_xgb_keeps_original_hyperparameters() -> None:
    params = load_legacy_model(DATA / "pretrained/classifier_xgb.it_0.pkl").get_params()
    assert (params["objective"], params["max_depth"], params["n_estimators"]) == (
        "multi:softprob", 5, 100)
    assert (params["eval_metric"], params["n_jobs"]) == ("auc", 4)


@needs_data
@pytest.mark.parametrize("key", ["pretrained/classifier_gnb.it_1.pkl",
                                 "users/2/hc/classifier_sgd.it_2.pkl"])
def test_linear_and_bayes_models_survive_partial_fit(key: str, reference: dict) -> None:
    model = load_legacy_model(DATA / key)
    if isinstance(model, SGDClassifier):
        model.set_params(random_state=0)
    counts = getattr(model, "class_count_", np.zeros(4)).copy()
    y = np.array([1, 3] * 10)
    model.partial_fit(reference["X"][:20], y, classes=[0, 1, 2, 3])
    proba = model.predict_proba(reference["X"])
    assert proba.shape == (200, 4)
    assert np.all(np.isfinite(proba))
    assert not np.allclose(proba, reference["proba"][key])
    if isinstance(model, GaussianNB):
        assert np.array_equal(model.class_count_ - counts, [0, 10, 0, 10])


@needs_data
@pytest.mark.parametrize("key", ONE_OF_EACH)
def test_converted_model_survives_joblib_round_trip(key: str, reference: dict,
                                                    tmp_path: Path) -> None:
    joblib.dump(load_legacy_model(DATA / key), tmp_path / "member.pkl")
    proba = joblib.load(tmp_path / "member.pkl").predict_proba(reference["X"])
    assert np.max(np.abs(proba - reference["proba"][key])) <= TOLERANCE


def test_refuses_pickle_that_calls_os_system(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    path = tmp_path / "classifier_xgb.it_0.pkl"
    path.write_bytes(b"cos\nsystem\n(V touch " + str(marker).encode() + b"\ntR.")
    with pytest.raises(LegacyError, match=r"classifier_xgb\.it_0\.pkl.*os\.system"):
        load_legacy_model(path)
    assert not marker.exists()


def test_refuses_unknown_class_inside_an_estimator(tmp_path: Path) -> None:
    path = tmp_path / "classifier_gnb.it_0.pkl"
    path.write_bytes(b"\x80\x03csklearn.naive_bayes\nGaussianNB\n)\x81}X\x04\x00\x00\x00tool"
                     b"csubprocess\nPopen\nsb.")
    with pytest.raises(LegacyError, match=r"classifier_gnb\.it_0\.pkl.*subprocess\.Popen"):
        load_legacy_model(path)


def test_refuses_pickle_extension_codes(tmp_path: Path) -> None:
    path = tmp_path / "classifier_sgd.it_0.pkl"
    path.write_bytes(b"\x80\x02\x82\x01.")
    with pytest.raises(LegacyError, match=r"classifier_sgd\.it_0\.pkl.*extension"):
        load_legacy_model(path)


@needs_data
@pytest.mark.parametrize("key", ONE_OF_EACH)
@pytest.mark.parametrize("fraction", [0.01, 0.3, 0.999])
def test_truncated_file_is_refused_with_its_name(key: str, fraction: float,
                                                 tmp_path: Path) -> None:
    data = (DATA / key).read_bytes()
    path = tmp_path / Path(key).name
    path.write_bytes(data[:int(len(data) * fraction)])
    with pytest.raises(LegacyError, match=Path(key).name.replace(".", r"\.")):
        load_legacy_model(path)


@pytest.mark.parametrize("content", [b"", b"frameTime,F0final_sma\n0,1\n", b"\x80\x03K\x05."])
def test_non_model_files_are_refused(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "classifier_gnb.it_2.pkl"
    path.write_bytes(content)
    with pytest.raises(LegacyError, match=r"classifier_gnb\.it_2\.pkl"):
        load_legacy_model(path)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LegacyError, match=r"classifier_xgb\.it_4\.pkl"):
        load_legacy_model(tmp_path / "classifier_xgb.it_4.pkl")


def _string(text: str) -> bytes:
    return struct.pack("<Q", len(text.encode())) + text.encode()


def _encode_binary(model: LegacyBooster, attributes: dict[str, str]) -> bytes:
    """Write `model` in the 1.x binary layout, field by field from the layout notes.

    No original file uses this layout and xgboost 3.2 can neither write nor read it, so this
    encoder is the only producer: the test shows the reader and the notes agree, not more.
    """
    out = [b"binf", struct.pack("<fIiiiII27i", model.base_score, model.num_feature,
                                model.num_class, 1, 0, 1, 3, *[0] * 27),
           _string(model.objective), _string("gbtree"),
           struct.pack("<iiiiqii32i", len(model.trees), 1, model.num_feature, 0, 0,
                       model.num_class, 0, *[0] * 32)]
    for tree in model.trees:
        n = len(tree.left)
        parent = [0xFFFF_FFFF] * n  # the root's -1
        for node in np.flatnonzero(tree.left != -1):
            parent[tree.left[node]] = int(node) | 1 << 31  # bit 31: is a left child
            parent[tree.right[node]] = int(node)
        out.append(struct.pack("<iiiiii31i", 1, n, 0, 5, model.num_feature, 0, *[0] * 31))
        for k in range(n):
            sindex = int(tree.split_index[k]) | int(tree.default_left[k]) << 31
            out.append(struct.pack("<IiiIf", parent[k], tree.left[k], tree.right[k], sindex,
                                   tree.split_condition[k]))
        for k in range(n):
            out.append(struct.pack("<fffi", tree.loss_change[k], tree.sum_hessian[k],
                                   tree.base_weight[k], 0))
    out.append(np.asarray(model.tree_info, dtype="<i4").tobytes())
    out.append(struct.pack("<Q", len(attributes)))
    out.extend(_string(key) + _string(value) for key, value in attributes.items())
    return b"".join(out)


@needs_data
def test_binary_layout_reads_back_to_the_same_model(reference: dict) -> None:
    key = "pretrained/classifier_xgb.it_2.pkl"
    model = read_handle(_handle(key))
    binary = _encode_binary(model, {"origin": "test"})
    again = read_handle(binary)
    assert again.attributes == {"origin": "test"}
    assert to_current_json(again) == to_current_json(replace(model, attributes={"origin": "test"}))
    config = json.dumps({"learner": {"gradient_booster": {
        "gbtree_train_param": {"num_parallel_tree": "1"}}}}).encode()
    snapshot = SNAPSHOT_HEADER + struct.pack("<q", len(binary)) + binary + config
    proba = load_booster(snapshot).predict(xgboost.DMatrix(reference["X"]))
    assert np.max(np.abs(proba - reference["proba"][key])) <= TOLERANCE
    with pytest.raises(LegacyError, match="truncated"):
        read_handle(binary[:len(binary) // 2])


@needs_data
def test_unreachable_nodes_are_dropped_and_bad_children_refused(reference: dict) -> None:
    """1.x pruning left deleted nodes in a tree; they must not change predictions."""
    key = "pretrained/classifier_xgb.it_1.pkl"
    snapshot = json.loads(_handle(key))
    tree = snapshot["Model"]["learner"]["gradient_booster"]["model"]["trees"][0]
    for field, value in [("left_children", -1), ("right_children", -1), ("parents", 0),
                         ("split_indices", 0), ("default_left", True), ("split_type", 0),
                         ("split_conditions", 99.0), ("loss_changes", 0.0),
                         ("sum_hessian", 0.0), ("base_weights", 0.0)]:
        tree[field].insert(1, value)
    for field in ("left_children", "right_children"):
        tree[field] = [child + 1 if child > 0 else child for child in tree[field]]
    tree["tree_param"]["num_nodes"] = str(len(tree["left_children"]))
    proba = load_booster(json.dumps(snapshot).encode()).predict(xgboost.DMatrix(reference["X"]))
    assert np.max(np.abs(proba - reference["proba"][key])) <= TOLERANCE
    tree["left_children"][0] = 10_000
    with pytest.raises(LegacyError, match="tree 0: node 0 has bad children"):
        read_handle(json.dumps(snapshot).encode())


@needs_data
def test_xgb_predicts_with_best_ntree_limit_rounds_as_1_3_did(reference: dict,
                                                              tmp_path: Path) -> None:
    """1.3's predict_proba used the first best_ntree_limit rounds, however many were stored."""
    key = "pretrained/classifier_xgb.it_0.pkl"
    data = (DATA / key).read_bytes()
    at = data.index(b"K\x64", data.index(b"best_ntree_limit"))  # BININT1 100
    path = tmp_path / "classifier_xgb.it_0.pkl"
    path.write_bytes(data[:at] + b"K\x32" + data[at + 2:])  # BININT1 50
    limited = load_legacy_model(path)
    full = load_legacy_model(DATA / key).get_booster()
    assert limited.get_booster().num_boosted_rounds() == 50
    expected = full.predict(xgboost.DMatrix(reference["X"]), iteration_range=(0, 50))
    assert np.array_equal(limited.predict_proba(reference["X"]), expected)
