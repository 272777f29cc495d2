"""Unpickling a committee's member and scaler files: joblib's format, only the globals a committee uses.

Its own module so that what merely reads a committee's manifest, layer or digest never imports
joblib, scikit-learn or xgboost.
"""

import io
import pickle
from pathlib import Path

from joblib.numpy_pickle import NumpyUnpickler, _validate_fileobject_and_memmap

from trompa_mer.errors import CommitteeError

MODEL_GLOBALS = frozenset({
    ("sklearn.naive_bayes", "GaussianNB"),
    ("sklearn.linear_model._stochastic_gradient", "SGDClassifier"),
    ("sklearn._loss._loss", "CyHalfBinomialLoss"),
    ("sklearn.neural_network._multilayer_perceptron", "MLPClassifier"),
    ("sklearn.neural_network._stochastic_optimizers", "AdamOptimizer"),
    ("sklearn.preprocessing._label", "LabelBinarizer"),
    ("sklearn.preprocessing._data", "StandardScaler"),
    ("xgboost.sklearn", "XGBClassifier"),
    ("xgboost.core", "Booster"),
    ("joblib.numpy_pickle", "NumpyArrayWrapper"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.random._pickle", "__randomstate_ctor"),
    ("numpy.random._pickle", "__bit_generator_ctor"),
    ("numpy.random._mt19937", "MT19937"),
    ("builtins", "bytearray"),
})
"""Every global a member or scaler file may name: what the committees we train, update and import
(import_legacy.py) reach, found by loading them. Anything else is refused unresolved."""

UNPICKLING_ERRORS = (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
                     ModuleNotFoundError, ImportError, KeyError, IndexError)
"""What loading a damaged or foreign pickle raises."""


class ModelUnpickler(NumpyUnpickler):
    """joblib's unpickler (arrays stored inline) resolving only MODEL_GLOBALS: loading a file runs no
    code it names; any other global is a CommitteeError naming the file and the global."""

    dispatch = NumpyUnpickler.dispatch.copy()

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in MODEL_GLOBALS:
            raise CommitteeError(f"{self.filename}: refusing to load {module}.{name} "
                                 "(not part of a committee member or scaler)")
        return super().find_class(module, name)


def load_model_file(path: Path, blob: bytes | None = None) -> object:
    """The object of a joblib file written by `save_committee`, unpickled by ModelUnpickler: the file
    at `path`, or its bytes `blob` as read before."""
    with (open(path, "rb") if blob is None else io.BytesIO(blob)) as handle, \
            _validate_fileobject_and_memmap(handle, str(path), None) as (fobj, _):
        if isinstance(fobj, str):  # joblib < 0.10: arrays in companion files, read by np.load
            raise CommitteeError(f"{path}: a joblib file older than joblib 0.10 is not supported")
        return ModelUnpickler(str(path), fobj, ensure_native_byte_order=True).load()
