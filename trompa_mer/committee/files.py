"""A committee on disk: `classifier_<kind>.it_<k>.pkl` members, `scaler.pkl`, `manifest.json`."""

import functools
import hashlib
import json
import platform
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from trompa_mer import storage
from trompa_mer.committee.layer import ListenerLayer
from trompa_mer.committee.model import MEMBER_PATTERN, Committee
from trompa_mer.committee.shift import read_shift
from trompa_mer.errors import CommitteeError
from trompa_mer.features.columns import IS13, family_names
from trompa_mer.names import QUADRANTS, SCALING_COMMITTEE, SCALING_ORIGINAL

if TYPE_CHECKING:
    from sklearn.preprocessing import StandardScaler

MEMBER_GLOB = "classifier_*.pkl"
SCALER_FILE = "scaler.pkl"
MANIFEST_FILE = "manifest.json"
LAYER_FILE = "layer.json"
"""A user's listener layer (committee/layer.py), beside the members it sits over."""
DEFAULT_MEMBER = "classifier_xgb.it_0.pkl"
"""What `predict_emotion.py -m default` uses, as the original, where the pretrained committee has it."""

def member_file(kind: str, fold: int) -> str:
    return f"classifier_{kind}.it_{fold}.pkl"


def _installed_version(*distributions: str) -> str:
    """The version of the first of `distributions` installed (xgboost comes as xgboost or xgboost-cpu)."""
    for name in distributions:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    raise CommitteeError(f"none of {', '.join(distributions)} is installed: run make venv")


def library_versions() -> dict[str, str]:
    """The versions of what trains and scores a committee, read without importing it."""
    return dict(_versions())


@functools.cache
def _versions() -> tuple[tuple[str, str], ...]:
    """Read once per process: package metadata costs milliseconds, and a request reads it."""
    return (("python", platform.python_version()), ("xgboost", _installed_version("xgboost", "xgboost-cpu")),
            ("scikit-learn", _installed_version("scikit-learn")), ("numpy", np.__version__))


def new_manifest(trained_on: dict, metrics: dict | None = None, scaling: str = SCALING_COMMITTEE,
                 kinds: tuple[str, ...] = ()) -> dict:
    """The manifest of a freshly trained committee of `kinds`: the columns its rows hold (every
    family its kinds read; IS13 alone when no kinds are named) and each kind's family."""
    from trompa_mer.committee import members

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


def load_member(path: Path, blob: bytes | None = None) -> object:
    """A member file (or its bytes `blob`, as read before); CommitteeError if it is not a classifier
    we can use."""
    from trompa_mer.committee import members
    from trompa_mer.committee.unpickling import UNPICKLING_ERRORS, load_model_file

    try:
        member = load_model_file(path, blob)
    except FileNotFoundError:
        raise CommitteeError(f"model file not found: {path}") from None
    except UNPICKLING_ERRORS as exc:
        raise CommitteeError(f"cannot load model {path}: {type(exc).__name__}: {exc}") from None
    try:
        members.kind_of(member)
    except ValueError as exc:
        raise CommitteeError(f"{path}: {exc}") from None
    return member


def load_scaler(path: Path, blob: bytes | None = None) -> "StandardScaler | None":
    """The scaler file (or its bytes `blob`, as read before); None when there is none."""
    from sklearn.preprocessing import StandardScaler

    from trompa_mer.committee.unpickling import UNPICKLING_ERRORS, load_model_file

    if blob is None and not path.is_file():
        return None
    try:
        scaler = load_model_file(path, blob)
    except UNPICKLING_ERRORS as exc:
        raise CommitteeError(f"cannot load scaler {path}: {exc}") from None
    if not isinstance(scaler, StandardScaler):
        raise CommitteeError(f"{path} is not a StandardScaler")
    return scaler


class LazyMembers(Mapping):
    """Member file name → member, unpickled from the bytes read with the committee at the first use
    of any member: reading a committee's digest, manifest and layer imports no model library."""

    def __init__(self, blobs: dict[Path, bytes]) -> None:
        self._blobs = {path.name: (path, blob) for path, blob in blobs.items()}
        self._members: dict[str, object] | None = None

    def _loaded(self) -> dict[str, object]:
        if self._members is None:
            self._members = {name: load_member(path, blob) for name, (path, blob) in self._blobs.items()}
        return self._members

    def __getitem__(self, name: str) -> object:
        return self._loaded()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._blobs)

    def __len__(self) -> int:
        return len(self._blobs)


class LazyScaler:
    """A committee's scaler, unpickled from the bytes read with the committee at its first use."""

    def __init__(self, path: Path, blob: bytes) -> None:
        self._path, self._blob = path, blob
        self._scaler: StandardScaler | None = None

    def load(self) -> "StandardScaler":
        if self._scaler is None:
            self._scaler = load_scaler(self._path, self._blob)
        return self._scaler

    def transform(self, X: np.ndarray) -> np.ndarray:
        return self.load().transform(X)


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


def load_committee(folder: Path, lazy: bool = False) -> Committee:
    """Every member of a committee folder, with its scaler, manifest, layer, digest and shift
    (`storage.reading_folder`: whole, even after a kill in the middle of replacing it). `lazy`: the
    files are read now but the members and scaler unpickled at their first use (`LazyMembers`,
    `LazyScaler`), so a broken member file is an error then, not now."""
    with storage.reading_folder(folder):
        return _load_committee(folder, lazy)


def _load_committee(folder: Path, lazy: bool) -> Committee:
    if not folder.is_dir():
        raise CommitteeError(f"committee folder not found: {folder}")
    paths = member_paths(folder)
    if not paths:
        raise CommitteeError(f"no classifier_<kind>.it_<k>.pkl members in {folder}")
    manifest = read_manifest(folder)
    scaler_path = folder / SCALER_FILE
    if not scaler_path.is_file() and manifest.get("scaling", SCALING_ORIGINAL) == SCALING_COMMITTEE:
        raise CommitteeError(f"{folder} lacks the {SCALER_FILE} its manifest names")
    blobs = {path: path.read_bytes() for path in paths + [scaler_path] if path.is_file()}
    scaler_blob = blobs.pop(scaler_path, None)
    digest = files_digest({**blobs, **({} if scaler_blob is None else {scaler_path: scaler_blob})}, manifest)
    if lazy:
        scaler = None if scaler_blob is None else LazyScaler(scaler_path, scaler_blob)
        return Committee(LazyMembers(blobs), scaler, manifest, load_layer(folder), digest, read_shift(folder))
    scaler = None if scaler_blob is None else load_scaler(scaler_path, scaler_blob)
    return Committee({path.name: load_member(path, blob) for path, blob in blobs.items()}, scaler,
                     manifest, load_layer(folder), digest, read_shift(folder))


def files_digest(blobs: dict[Path, bytes], manifest: dict) -> str:
    """sha256 hex of the files `blobs` (name and bytes, in name order) and of the columns the manifest
    says their members read: two committees of equal digest score every row alike."""
    digest = hashlib.sha256()
    columns = {key: manifest.get(key) for key in ("feature_names", "families")}
    digest.update(json.dumps(columns, sort_keys=True).encode())
    for path in sorted(blobs, key=lambda p: p.name):
        digest.update(b"\0" + path.name.encode() + b"\0" + blobs[path])
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
        scaler = committee.scaler
        files[SCALER_FILE] = scaler.load() if isinstance(scaler, LazyScaler) else scaler
    return files


def save_committee(folder: Path, committee: Committee) -> None:
    """Write a committee folder (members, scaler, manifest), each file atomically."""
    import joblib

    folder.mkdir(parents=True, exist_ok=True)
    for name, obj in committee_files(committee).items():
        with storage.atomic_path(folder / name) as tmp:
            joblib.dump(obj, tmp)
    storage.write_json(folder / MANIFEST_FILE, committee.manifest)
