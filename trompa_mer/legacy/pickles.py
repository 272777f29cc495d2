"""Import the original tool's model pickles (xgboost 1.3.3, scikit-learn 0.24.1) as current models.

The files were written by `joblib.dump`: a pickle in which each numpy array is a
`joblib.numpy_pickle.NumpyArrayWrapper` whose raw bytes follow inline in the file. They are read
by a restricted unpickler that resolves only the names these files use, and resolves the
estimator classes to inert records of their pickled state: no estimator code of either version
runs while reading. Fresh estimators of the pinned versions are then built from the records.
"""

import math
import os
import pickle
import struct
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import xgboost
from numpy._core import multiarray
from sklearn.linear_model import SGDClassifier
from sklearn.naive_bayes import GaussianNB

from trompa_mer.errors import LegacyError
from trompa_mer.legacy.xgb_format import load_booster
from trompa_mer.names import CLASSES, N_CLASSES

LegacyModel = xgboost.XGBClassifier | GaussianNB | SGDClassifier
"""What `load_legacy_model` returns: a fitted estimator of the pinned versions."""


SGD_LOSS_RENAMES = {"log": "log_loss"}
"""scikit-learn 1.1 renamed SGDClassifier's logistic loss."""

MAX_ARRAY_ELEMENTS = 1 << 16
"""Most elements an array of a legacy file may declare, checked before anything is allocated: the
largest in the original's files (GaussianNB theta_ and var_, SGD coef_) hold 4 × 260 = 1040."""
MAX_ARRAY_BYTES = MAX_ARRAY_ELEMENTS * 8

XGB_KWARGS_KEPT = {"nthread": "n_jobs", "eval_metric": "eval_metric"}
"""Constructor `**kwargs` of 1.3 kept by the current XGBClassifier, under their current name."""


class PickledRecord:
    """Inert stand-in for a pickled class: keeps constructor arguments and BUILD state."""

    args: tuple = ()  # NEWOBJ creates instances without calling __init__
    state: Any = None

    def __init__(self, *args: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _record(name: str) -> type[PickledRecord]:
    return type(name, (PickledRecord,), {})


class _ArrayWrapper(PickledRecord):
    """joblib's NumpyArrayWrapper: its BUILD is followed by the array's raw bytes."""


class _NdarrayName(PickledRecord):
    """What the name numpy.ndarray resolves to: these files only pass it to `_reconstruct` and in
    joblib's array headers, so a pickle calling it (with any shape) gets an inert record."""


def _empty_array(subtype: type, shape: tuple, dtype: bytes) -> np.ndarray:
    """numpy's `_reconstruct` as pickles use it: an empty placeholder that BUILD then fills."""
    if subtype is not _NdarrayName or tuple(shape) != (0,):
        raise pickle.UnpicklingError(f"refusing numpy _reconstruct of {subtype!r}, shape {shape!r}")
    return multiarray._reconstruct(np.ndarray, shape, dtype)


def _check_array_size(shape: Any, dtype: Any) -> None:
    """UnpicklingError unless `shape` and `dtype` declare an array of at most MAX_ARRAY_ELEMENTS
    elements and MAX_ARRAY_BYTES bytes: checked before the array is allocated."""
    if not isinstance(dtype, np.dtype) or not isinstance(shape, tuple) \
            or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise pickle.UnpicklingError(f"refusing numpy array of shape {shape!r}, dtype {dtype!r}")
    elements = math.prod(shape)
    if elements > MAX_ARRAY_ELEMENTS or elements * dtype.itemsize > MAX_ARRAY_BYTES:
        raise pickle.UnpicklingError(f"refusing numpy array of shape {shape!r}, dtype {dtype}: "
                                     f"larger than any model's")


def _scalar(dtype: np.dtype, data: bytes) -> Any:
    """numpy's `scalar` as pickles use it: a value from exactly its dtype's bytes (without them
    numpy would allocate a zeroed value of whatever size the dtype declares)."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, bytes) \
            or len(data) != dtype.itemsize:
        raise pickle.UnpicklingError(f"refusing numpy scalar of {dtype!r}")
    return multiarray.scalar(dtype, data)


def _bytearray(data: bytes | str = b"", encoding: str = "latin-1") -> bytearray:
    """bytearray as pickles rebuild it: from bytes, or (protocol ≤ 2) from a latin-1 string."""
    if isinstance(data, bytes):
        return bytearray(data)
    if isinstance(data, str) and encoding == "latin-1":
        return bytearray(data, encoding)
    raise pickle.UnpicklingError(f"refusing bytearray from {type(data).__name__}")


_XGB = _record("XGBClassifier")
_BOOSTER = _record("Booster")
_GNB = _record("GaussianNB")
_SGD = _record("SGDClassifier")
_SGD_LOSS = _record("Log")
_LABEL_ENCODER = _record("LabelEncoder")

ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("xgboost.sklearn", "XGBClassifier"): _XGB,
    ("xgboost.core", "Booster"): _BOOSTER,
    ("sklearn.naive_bayes", "GaussianNB"): _GNB,
    ("sklearn.linear_model._stochastic_gradient", "SGDClassifier"): _SGD,
    ("sklearn.linear_model._sgd_fast", "Log"): _SGD_LOSS,
    ("sklearn.preprocessing._label", "LabelEncoder"): _LABEL_ENCODER,
    ("joblib.numpy_pickle", "NumpyArrayWrapper"): _ArrayWrapper,
    ("numpy", "ndarray"): _NdarrayName,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("numpy.core.multiarray", "_reconstruct"): _empty_array,
    ("numpy._core.multiarray", "_reconstruct"): _empty_array,
    ("builtins", "bytearray"): _bytearray,
}
"""Every global a legacy model file may name, and what it resolves to."""


class RestrictedUnpickler(pickle._Unpickler):
    """Unpickle a joblib file, resolving only ALLOWED_GLOBALS; anything else is a LegacyError.

    Built on the pure-Python unpickler, as joblib's own reader is: the C one reads ahead of the
    pickle opcodes, so the inline array bytes could not be found at the file position.
    """

    dispatch = pickle._Unpickler.dispatch.copy()

    def __init__(self, file: BinaryIO, name: str) -> None:
        super().__init__(file)
        self._source = file
        self._name = name

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise LegacyError(f"{self._name}: refusing to load {module}.{name}") from None

    def get_extension(self, code: int) -> None:
        # The copyreg extension cache would hand out objects without asking find_class.
        raise LegacyError(f"{self._name}: refusing pickle extension code {code}")

    def load_build(self) -> None:
        if isinstance(self.stack[-2], np.ndarray):  # ndarray.__setstate__ allocates the shape
            state = self.stack[-1]
            if not isinstance(state, tuple) or len(state) not in (4, 5):
                raise pickle.UnpicklingError("malformed numpy array state")
            _check_array_size(*state[-4:-2])
        super().load_build()
        if isinstance(self.stack[-1], _ArrayWrapper):
            self.stack[-1] = self._read_array(self.stack[-1].state)

    dispatch[pickle.BUILD[0]] = load_build

    def _read_array(self, state: Any) -> np.ndarray:
        """The array whose raw bytes follow a NumpyArrayWrapper (joblib ≥ 0.10 layout)."""
        if not isinstance(state, dict):
            raise LegacyError(f"{self._name}: malformed joblib array header")
        shape, dtype, order = state.get("shape"), state.get("dtype"), state.get("order")
        if (state.get("subclass") is not _NdarrayName or not isinstance(dtype, np.dtype)
                or dtype.hasobject or order not in ("C", "F") or not isinstance(shape, tuple)
                or not all(isinstance(n, int) and n >= 0 for n in shape)):
            raise LegacyError(f"{self._name}: unsupported joblib array {shape!r} {dtype!r}")
        _check_array_size(shape, dtype)
        if state.get("numpy_array_alignment_bytes") is not None:  # joblib ≥ 1.2 pads
            padding = self._source.read(1)
            self._exactly(padding[0] if padding else -1)
        size = math.prod(shape) * dtype.itemsize
        array = np.frombuffer(self._exactly(size), dtype=dtype).copy()
        array = array.reshape(shape[::-1]).T if order == "F" else array.reshape(shape)
        return array.astype(dtype.newbyteorder("="), copy=False)

    def _exactly(self, size: int) -> bytes:
        here = self._source.tell()
        left = self._source.seek(0, os.SEEK_END) - here
        self._source.seek(here)
        data = self._source.read(size) if 0 <= size <= left else b""
        if len(data) != size:
            raise LegacyError(f"{self._name}: truncated inside a numpy array")
        return data


_UNPICKLING_ERRORS = (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError,
                      IndexError, AttributeError, struct.error, UnicodeDecodeError,
                      OverflowError, RecursionError, MemoryError)


def read_legacy_pickle(path: Path) -> PickledRecord:
    """The top-level record of a legacy model file, read without running any estimator code."""
    name = Path(path).name
    try:
        with open(path, "rb") as handle:
            record = RestrictedUnpickler(handle, name).load()
            trailing = len(handle.read())
    except OSError as exc:
        raise LegacyError(f"{name}: cannot read: {exc.strerror}") from exc
    except _UNPICKLING_ERRORS as exc:
        raise LegacyError(f"{name}: damaged or not a model pickle: {exc!r}") from exc
    if trailing:
        raise LegacyError(f"{name}: {trailing} unexpected bytes after the pickle")
    if not isinstance(record, (_XGB, _GNB, _SGD)) or not isinstance(record.state, dict):
        raise LegacyError(f"{name}: holds {type(record).__name__}, not a TROMPA-MER model")
    return record


def load_legacy_model(path: Path) -> LegacyModel:
    """Load an original TROMPA-MER model file as a fitted estimator of the pinned versions.

    predict_proba of the result gives 4 columns, classes 0..3 (Q1..Q4), as the original did.
    LegacyError, naming the file, for a missing, damaged or truncated file, a file that is not
    such a pickle, or one that names any class outside ALLOWED_GLOBALS.
    """
    record = read_legacy_pickle(path)
    name = Path(path).name
    convert = {_XGB: _convert_xgb, _GNB: _convert_gnb, _SGD: _convert_sgd}[type(record)]
    return convert(record.state, name)


def _convert_gnb(state: dict, name: str) -> GaussianNB:
    theta = _array(state, "theta_", name, (N_CLASSES, -1))
    n_features = theta.shape[1]
    var_key = "var_" if "var_" in state else "sigma_"  # renamed in scikit-learn 1.0
    model = GaussianNB(**_params(state, GaussianNB))
    model.classes_ = _classes(state, name)
    model.theta_ = theta
    model.var_ = _array(state, var_key, name, (N_CLASSES, n_features))
    model.class_count_ = _array(state, "class_count_", name, (N_CLASSES,))
    model.class_prior_ = _array(state, "class_prior_", name, (N_CLASSES,))
    model.epsilon_ = float(_number(state, "epsilon_", name))
    model.n_features_in_ = n_features
    if np.any(model.var_ <= 0):
        raise LegacyError(f"{name}: {var_key} has non-positive variances")
    return model


def _convert_sgd(state: dict, name: str) -> SGDClassifier:
    params = _params(state, SGDClassifier)
    params["loss"] = SGD_LOSS_RENAMES.get(params.get("loss"), params.get("loss"))
    if params["loss"] not in ("log_loss", "modified_huber"):
        raise LegacyError(f"{name}: SGD loss {params['loss']!r} gives no probabilities")
    model = SGDClassifier(**params)
    model.classes_ = _classes(state, name)
    model.coef_ = _array(state, "coef_", name, (N_CLASSES, -1))
    model.intercept_ = _array(state, "intercept_", name, (N_CLASSES,))
    model.t_ = float(_number(state, "t_", name))
    model.n_iter_ = int(_number(state, "n_iter_", name))
    model.n_features_in_ = model.coef_.shape[1]
    return model


def _convert_xgb(state: dict, name: str) -> xgboost.XGBClassifier:
    _classes(state, name)
    encoder = state.get("_le")
    if encoder is not None:
        valid = isinstance(encoder, _LABEL_ENCODER) and isinstance(encoder.state, dict)
        _classes(encoder.state if valid else {}, name)
    record = state.get("_Booster")
    if not isinstance(record, _BOOSTER) or not isinstance(record.state, dict):
        raise LegacyError(f"{name}: XGBClassifier without a booster")
    handle = record.state.get("handle")
    if not isinstance(handle, (bytes, bytearray)):
        raise LegacyError(f"{name}: booster state without its model bytes")
    try:
        booster = load_booster(bytes(handle))
    except LegacyError as exc:
        raise LegacyError(f"{name}: {exc}") from exc
    rounds = booster.num_boosted_rounds()
    # 1.3 predicted with the first best_ntree_limit rounds; later rounds never reached a user.
    limit = state.get("best_ntree_limit", record.state.get("best_ntree_limit"))
    if isinstance(limit, int) and 0 < limit < rounds:
        booster = booster[:limit]
    # 3.2 would predict with best_iteration only, ignoring rounds a retraining adds later.
    booster.set_attr(best_iteration=None, best_ntree_limit=None, best_score=None)
    params = _params(state, xgboost.XGBClassifier)
    for old, new in XGB_KWARGS_KEPT.items():
        if old in (state.get("kwargs") or {}) and params.get(new) is None:
            params[new] = state["kwargs"][old]
    model = xgboost.XGBClassifier(**params)
    model.load_model(bytearray(booster.save_raw("json")))
    expected = _features(state)
    if model.n_classes_ != N_CLASSES or expected not in (None, booster.num_features()):
        raise LegacyError(f"{name}: booster has {model.n_classes_} classes and "
                          f"{booster.num_features()} features")
    return model


def _features(state: dict) -> int | None:
    count = state.get("_features_count", state.get("n_features_in_"))
    return count if isinstance(count, int) else None


def _params(state: dict, estimator: type) -> dict[str, Any]:
    """The pickled hyperparameters the current estimator still accepts."""
    accepted = estimator().get_params()
    return {key: value for key, value in state.items() if key in accepted and key != "kwargs"}


def _classes(state: dict, name: str) -> np.ndarray:
    classes = state.get("classes_")
    if not isinstance(classes, np.ndarray) or not np.array_equal(classes, CLASSES):
        raise LegacyError(f"{name}: classes {classes!r}, expected {list(CLASSES)}")
    return np.array(CLASSES)


def _array(state: dict, key: str, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """state[key] as float64 of `shape` (-1: any length), finite."""
    value = state.get(key)
    if (not isinstance(value, np.ndarray) or value.ndim != len(shape)
            or any(want not in (-1, got) for want, got in zip(shape, value.shape, strict=True))
            or value.dtype.kind not in "fiu"):
        raise LegacyError(f"{name}: {key} is {type(value).__name__} "
                          f"{getattr(value, 'shape', '')}, expected an array of shape {shape}")
    value = value.astype(np.float64)
    if not np.all(np.isfinite(value)):
        raise LegacyError(f"{name}: {key} has non-finite values")
    return value


def _number(state: dict, key: str, name: str) -> float:
    value = state.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise LegacyError(f"{name}: {key} is {value!r}, expected a number")
    return value
