"""A committee in memory: its members, scaler, manifest and listener layer, how it scales rows, and
which columns each member reads."""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from trompa_mer.committee.layer import ListenerLayer
from trompa_mer.committee.shift import LabelShift
from trompa_mer.errors import NoScalerError
from trompa_mer.features.columns import FAMILIES, FEATURE_NAMES
from trompa_mer.names import SCALING_COMMITTEE, SCALING_ORIGINAL

if TYPE_CHECKING:
    from sklearn.preprocessing import StandardScaler

MEMBER_PATTERN = re.compile(r"^classifier_(?P<kind>[a-z0-9]+)\.it_(?P<fold>\d+)\.pkl$")
"""Member file names: `classifier_<kind>.it_<k>.pkl`, k the cross-validation fold."""


@dataclass
class Committee:
    """Members in sorted file-name order, the scaler (None: original scaling), the manifest, a
    user's listener layer over the members' probabilities (None: the members as they are), the
    digest of the member and scaler files it was loaded from and the columns they read (None: built
    or changed in memory): committees with one digest give every song the same member probabilities;
    and a user's label-prior shift (None: none), which is not the committee's to apply: it moves the
    user's probabilities after the other listeners' answers (`learning.personal.UserView`)."""

    members: Mapping[str, object]
    scaler: "StandardScaler | None"
    manifest: dict = field(default_factory=dict)
    layer: ListenerLayer | None = None
    digest: str | None = None
    shift: LabelShift | None = None

    @property
    def feature_names(self) -> list[str]:
        """Every column its members read, in the order its rows X hold them."""
        return list(self.manifest.get("feature_names", FEATURE_NAMES))

    def member_columns(self, name: str) -> np.ndarray | slice:
        """The columns of X that member `name` reads: those of the descriptor family its manifest's
        `families` names for its kind, or all of them (a committee of one family names none)."""
        match = MEMBER_PATTERN.match(name)
        family = self.manifest.get("families", {}).get(match["kind"]) if match else None
        if family is None:
            return slice(None)
        where = {column: i for i, column in enumerate(self.feature_names)}
        return np.array([where[column] for column in FAMILIES[family]])

    def default_scaling(self) -> str:
        return SCALING_COMMITTEE if self.scaler is not None else SCALING_ORIGINAL

    def proba(self, X: np.ndarray) -> np.ndarray:
        """(n_members, n_rows, 4) probabilities of already scaled rows X (n_rows, 260)."""
        from trompa_mer.committee import members

        return self.heard(np.stack([members.predict_proba(member, X[:, self.member_columns(name)])
                                    for name, member in self.members.items()]))

    def heard(self, member_proba: np.ndarray) -> np.ndarray:
        """The members' probabilities as this committee's listener hears them (through the layer)."""
        return member_proba if self.layer is None else self.layer.apply(member_proba)



def scale(committee: Committee, X: np.ndarray, scaling: str,
          reference: np.ndarray | None = None) -> np.ndarray:
    """Standardise X (n_rows, 260) with the committee's scaler, or as the original did:
    a fresh StandardScaler fitted on `reference` (default: X itself)."""
    if scaling == SCALING_COMMITTEE:
        if committee.scaler is None:
            raise NoScalerError("this committee has no scaler.pkl to standardise with")
        return committee.scaler.transform(X)
    from sklearn.preprocessing import StandardScaler

    return StandardScaler().fit(X if reference is None else reference).transform(X)
