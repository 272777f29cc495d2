"""A committee on disk: `classifier_<kind>.it_<k>.pkl` members, `scaler.pkl`, `manifest.json`."""

import hashlib
import json
import pickle
import platform
from pathlib import Path

import joblib
import numpy as np
from joblib.numpy_pickle import NumpyUnpickler, _validate_fileobject_and_memmap
from sklearn.preprocessing import StandardScaler

from trompa_mer import storage
from trompa_mer.committee import members
from trompa_mer.committee.layer import ListenerLayer
from trompa_mer.committee.model import MEMBER_PATTERN, Committee
from trompa_mer.errors import CommitteeError
from trompa_mer.features.columns import IS13, family_names
from trompa_mer.names import QUADRANTS, SCALING_COMMITTEE, SCALING_ORIGINAL

MEMBER_GLOB = "classifier_*.pkl"
SCALER_FILE = "scaler.pkl"
MANIFEST_FILE = "manifest.json"
LAYER_FILE = "layer.json"
"""A user's listener layer (committee/layer.py), beside the members it sits over."""
DEFAULT_MEMBER = "classifier_xgb.it_0.pkl"
"""What `predict_emotion.py -m default` uses, as the original, where the pretrained committee has it."""

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


def member_file(kind: str, fold: int) -> str:
    return f"classifier_{kind}.it_{fold}.pkl"


def library_versions() -> dict[str, str]:
    import sklearn
    import xgboost

    return {"python": platform.python_version(), "xgboost": xgboost.__version__,
            "scikit-learn": sklearn.__version__, "numpy": np.__version__}


def new_manifest(trained_on: dict, metrics: dict | None = None, scaling: str = SCALING_COMMITTEE,
                 kinds: tuple[str, ...] = ()) -> dict:
    """The manifest of a freshly trained committee of `kinds`: the columns its rows hold (every
    family its kinds read; IS13 alone when no kinds are named) and each kind's family."""
    families = {kind: members.KINDS[kind].family for kind in kinds}
    return {
        "feature_names": list(family_names(list(families.values()) or [IS13])),
        "families": families,
        "classes": {name: index for index, name in enumerate(QUADRANTS)},
        "versions": library_versions(),
        "scaling": scaling,
        "trained_on": trained_on,
        "metrics": metrics or {},
    }


class ModelUnpickler(NumpyUnpickler):
    """joblib's unpickler (arrays stored inline) resolving only MODEL_GLOBALS: loading a file runs no
    code it names; any other global is a CommitteeError naming the file and the global."""

    dispatch = NumpyUnpickler.dispatch.copy()

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in MODEL_GLOBALS:
            raise CommitteeError(f"{self.filename}: refusing to load {module}.{name} "
                                 "(not part of a committee member or scaler)")
        return super().find_class(module, name)


def load_model_file(path: Path) -> object:
    """The object of a joblib file written by `save_committee`, unpickled by ModelUnpickler."""
    with open(path, "rb") as handle, \
            _validate_fileobject_and_memmap(handle, str(path), None) as (fobj, _):
        if isinstance(fobj, str):  # joblib < 0.10: arrays in companion files, read by np.load
            raise CommitteeError(f"{path}: a joblib file older than joblib 0.10 is not supported")
        return ModelUnpickler(str(path), fobj, ensure_native_byte_order=True).load()


def load_member(path: Path) -> object:
    """A member file; CommitteeError if it is not a classifier we can use."""
    try:
        member = load_model_file(path)
    except FileNotFoundError:
        raise CommitteeError(f"model file not found: {path}") from None
    except UNPICKLING_ERRORS as exc:
        raise CommitteeError(f"cannot load model {path}: {type(exc).__name__}: {exc}") from None
    try:
        members.kind_of(member)
    except ValueError as exc:
        raise CommitteeError(f"{path}: {exc}") from None
    return member


def load_scaler(path: Path) -> StandardScaler | None:
    if not path.is_file():
        return None
    try:
        scaler = load_model_file(path)
    except UNPICKLING_ERRORS as exc:
        raise CommitteeError(f"cannot load scaler {path}: {exc}") from None
    if not isinstance(scaler, StandardScaler):
        raise CommitteeError(f"{path} is not a StandardScaler")
    return scaler


def read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST_FILE
    if not path.is_file():
        return {}
    try:
        return storage.read_json(path)
    except ValueError as exc:
        raise CommitteeError(f"malformed {path}: {exc}") from None


def member_paths(folder: Path) -> list[Path]:
    """Member files directly in `folder`, in sorted name order."""
    return sorted(p for p in folder.glob(MEMBER_GLOB) if MEMBER_PATTERN.match(p.name))


def load_committee(folder: Path) -> Committee:
    """Every member of a committee folder, with its scaler and manifest (`storage.reading_folder`:
    whole, even after a kill in the middle of replacing it)."""
    with storage.reading_folder(folder):
        return _load_committee(folder)


def _load_committee(folder: Path) -> Committee:
    if not folder.is_dir():
        raise CommitteeError(f"committee folder not found: {folder}")
    paths = member_paths(folder)
    if not paths:
        raise CommitteeError(f"no classifier_<kind>.it_<k>.pkl members in {folder}")
    manifest = read_manifest(folder)
    scaler = load_scaler(folder / SCALER_FILE)
    if scaler is None and manifest.get("scaling", SCALING_ORIGINAL) == SCALING_COMMITTEE:
        raise CommitteeError(f"{folder} lacks the {SCALER_FILE} its manifest names")
    return Committee({p.name: load_member(p) for p in paths}, scaler, manifest, load_layer(folder),
                     files_digest(paths + [folder / SCALER_FILE], manifest))


def files_digest(paths: list[Path], manifest: dict) -> str:
    """sha256 hex of the files `paths` that exist (name and bytes) and of the columns the manifest
    says their members read: two committees of equal digest score every row alike."""
    digest = hashlib.sha256()
    columns = {key: manifest.get(key) for key in ("feature_names", "families")}
    digest.update(json.dumps(columns, sort_keys=True).encode())
    for path in paths:
        if path.is_file():
            digest.update(b"\0" + path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def load_layer(folder: Path) -> ListenerLayer | None:
    path = folder / LAYER_FILE
    if not path.is_file():
        return None
    try:
        return ListenerLayer.from_json(storage.read_json(path))
    except (ValueError, KeyError, TypeError) as exc:
        raise CommitteeError(f"malformed {path}: {exc}") from None


def write_layer(path: Path, layer: ListenerLayer) -> None:
    storage.write_json(path, layer.to_json())


def load_single(path: Path) -> Committee:
    """A lone member file as a committee of one, with the scaler and manifest beside it."""
    with storage.reading_folder(path.parent):
        return Committee({path.name: load_member(path)}, load_scaler(path.parent / SCALER_FILE),
                         read_manifest(path.parent))


def default_model(pretrained: Path) -> tuple[Path, str]:
    """What `-m default` names, for the scripts and the service alike, and how a prediction names it:
    the pretrained DEFAULT_MEMBER as the original tool (`default:<member>`), or the whole pretrained
    committee when it has no such member (`default`); never by its path."""
    with storage.reading_folder(pretrained):  # a committee a killed replace left aside is put back first
        member = pretrained / DEFAULT_MEMBER
        return (member, f"default:{member.name}") if member.is_file() else (pretrained, "default")


def load_model(path: Path) -> Committee:
    """A committee folder, or a lone member .pkl as a committee of one."""
    with storage.reading_folder(path):  # a committee a killed replace left aside is put back first
        if path.is_dir():
            return load_committee(path)
        if path.is_file() and path.suffix.lower() != ".pkl":
            raise CommitteeError(f"{path} is not a committee member file (classifier_<kind>.it_<k>.pkl): "
                                 "give a member .pkl, a committee folder or 'default'")
        return load_single(path)


def committee_files(committee: Committee) -> dict[str, object]:
    """File name → object to pickle, for saving a whole committee."""
    files: dict[str, object] = dict(committee.members)
    if committee.scaler is not None:
        files[SCALER_FILE] = committee.scaler
    return files


def save_committee(folder: Path, committee: Committee) -> None:
    """Write a committee folder (members, scaler, manifest), each file atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, obj in committee_files(committee).items():
        with storage.atomic_path(folder / name) as tmp:
            joblib.dump(obj, tmp)
    storage.write_json(folder / MANIFEST_FILE, committee.manifest)
