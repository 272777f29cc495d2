"""One entry per model kind: how a member is created, trained from scratch and updated.

Labels are always class indices 0..3 (Q1..Q4); a batch lacking some quadrants still trains all four.
An update returns a new member and leaves the one it started from as it was.
"""

import copy
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import xgboost as xgb
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier
from sklearn.naive_bayes import GaussianNB
from sklearn.neural_network import MLPClassifier

from trompa_mer.features.columns import IS13, MUSICNN, VIBENET
from trompa_mer.names import CLASSES, N_CLASSES

ALL_CLASSES = np.array(CLASSES)
SGD_EPOCHS = 20
"""Passes over the pretraining data for SGD (partial_fit keeps all four classes even if one is absent)."""
MLP_EPOCHS = 30
"""Passes of Adam over the pretraining data for an mlp member."""


def xgb_params(member: xgb.XGBClassifier) -> dict:
    """The member's own booster parameters for continued training with the native API."""
    params = {k: v for k, v in member.get_xgb_params().items() if v is not None}
    params.pop("n_jobs", None)
    params["objective"] = "multi:softprob"
    params["num_class"] = N_CLASSES
    return params


def create_xgb(seed: int, **params: object) -> xgb.XGBClassifier:
    """4-class softprob; by default the original's hyperparameters (depth 5, 100 rounds, eta 0.3,
    exact trees), each replaced by `params`."""
    chosen = {"max_depth": 5, "n_estimators": 100, "learning_rate": 0.3, "tree_method": "exact", **params}
    return xgb.XGBClassifier(objective="multi:softprob", random_state=seed, **chosen)


def _boost(member: xgb.XGBClassifier, X: np.ndarray, y: np.ndarray, rounds: int,
           start: xgb.Booster | None) -> xgb.XGBClassifier:
    """A shallow copy of `member` holding `start` boosted `rounds` more trees with the native API
    (num_class=4 whatever classes y holds). xgb.train copies `start`, so it is left as it was, and
    the copy of the wrapper is cheap where a deep copy would serialise every tree."""
    booster = xgb.train(xgb_params(member), xgb.DMatrix(X, label=y), num_boost_round=rounds,
                        xgb_model=start)
    boosted = copy.copy(member)
    boosted._Booster = booster
    boosted.n_classes_ = N_CLASSES
    return boosted


def fit_xgb(member: xgb.XGBClassifier, X: np.ndarray, y: np.ndarray, seed: int) -> xgb.XGBClassifier:
    return _boost(member, X, y, member.n_estimators, None)


def update_xgb(member: xgb.XGBClassifier, X: np.ndarray, y: np.ndarray, rounds: int,
               seed: int) -> xgb.XGBClassifier:
    return _boost(member, X, y, rounds, member.get_booster())


def create_gnb(seed: int, var_smoothing: float = 1e-9) -> GaussianNB:
    return GaussianNB(var_smoothing=var_smoothing)


def fit_gnb(member: GaussianNB, X: np.ndarray, y: np.ndarray, seed: int) -> GaussianNB:
    return member.partial_fit(X, y, classes=ALL_CLASSES)


def update_gnb(member: GaussianNB, X: np.ndarray, y: np.ndarray, rounds: int, seed: int) -> GaussianNB:
    return copy.deepcopy(member).partial_fit(X, y, classes=ALL_CLASSES)


def create_sgd(seed: int, alpha: float = 1e-4) -> SGDClassifier:
    """Logistic regression by SGD; the original's L2 weight is 1e-4."""
    return SGDClassifier(loss="log_loss", penalty="l2", alpha=alpha, random_state=seed)


def fit_sgd(member: SGDClassifier, X: np.ndarray, y: np.ndarray, seed: int) -> SGDClassifier:
    rng = np.random.default_rng(seed)
    for _ in range(SGD_EPOCHS):
        order = rng.permutation(len(y))
        member.partial_fit(X[order], y[order], classes=ALL_CLASSES)
    return member


def update_sgd(member: SGDClassifier, X: np.ndarray, y: np.ndarray, rounds: int,
               seed: int) -> SGDClassifier:
    return copy.deepcopy(member).set_params(random_state=seed).partial_fit(X, y, classes=ALL_CLASSES)


def create_mlp(seed: int, hidden: int = 64, alpha: float = 1.0) -> MLPClassifier:
    """One hidden layer of `hidden` ReLU units, L2 weight `alpha`, MLP_EPOCHS passes of Adam."""
    return MLPClassifier(hidden_layer_sizes=(hidden,), alpha=alpha, max_iter=MLP_EPOCHS, random_state=seed)


def fit_mlp(member: MLPClassifier, X: np.ndarray, y: np.ndarray, seed: int) -> MLPClassifier:
    if set(np.unique(y)) != set(CLASSES):
        raise ValueError("an mlp member learns from scratch only on data with all four quadrants")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a fixed number of epochs, by design
        return member.fit(X, y)


def update_mlp(member: MLPClassifier, X: np.ndarray, y: np.ndarray, rounds: int,
               seed: int) -> MLPClassifier:
    return copy.deepcopy(member).partial_fit(X, y, classes=ALL_CLASSES)


@dataclass(frozen=True)
class Kind:
    """What a model kind can do: create(seed), fit(member, X, y, seed) and
    update(member, X, y, rounds, seed), both returning the trained member (fit may train the one it
    is given, as gnb and sgd do; xgb returns a new wrapper), update never touching its input; and
    the descriptor family (features/columns.py) whose columns it reads."""

    estimator: type
    create: Callable
    fit: Callable
    update: Callable
    family: str = IS13


KINDS: dict[str, Kind] = {
    "xgb": Kind(xgb.XGBClassifier, create_xgb, fit_xgb, update_xgb),
    "gnb": Kind(GaussianNB, create_gnb, fit_gnb, update_gnb),
    "sgd": Kind(SGDClassifier, create_sgd, fit_sgd, update_sgd),
    "mlp": Kind(MLPClassifier, create_mlp, fit_mlp, update_mlp),
}
KINDS |= {"vsgd": replace(KINDS["sgd"], family=VIBENET), "vmlp": replace(KINDS["mlp"], family=VIBENET),
          "msgd": replace(KINDS["sgd"], family=MUSICNN), "mmlp": replace(KINDS["mlp"], family=MUSICNN)}
"""Model kinds by the name used in member file names (`classifier_<kind>.it_<k>.pkl`); `v<kind>` is
<kind> on the vibenet family, `m<kind>` on the musicnn family."""


def kind_of(member: object) -> str:
    """The kind name of a loaded member, the first of its model (`sgd` for a `vsgd` member, which
    learns as one); ValueError for anything that is not one of ours."""
    for name, kind in KINDS.items():
        if isinstance(member, kind.estimator):
            return name
    raise ValueError(f"not a committee member: {type(member).__name__}")


def predict_proba(member: object, X: np.ndarray) -> np.ndarray:
    """(n_rows, 4) probabilities in Q1..Q4 order, whatever classes the member has seen."""
    with np.errstate(divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # GaussianNB: log(0) prior of an unseen class
        proba = np.asarray(member.predict_proba(X), dtype=np.float64)
    classes = getattr(member, "classes_", ALL_CLASSES)
    if proba.shape[1] == N_CLASSES and np.array_equal(classes, ALL_CLASSES):
        return proba
    aligned = np.zeros((len(X), N_CLASSES))
    aligned[:, np.asarray(classes, dtype=int)] = proba
    return aligned
