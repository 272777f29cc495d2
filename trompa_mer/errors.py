"""Exceptions of the library. Each names the bad value in the domain's words; each face (the CLI, the
HTTP service) chooses the exit code or status, and adds how to fix it in its own terms."""


class TrompaError(Exception):
    """Base of every expected failure: bad input, bad state, a failed external program."""


class AudioError(TrompaError):
    """Audio that cannot be read, decoded or is too short."""


class AudioTooLongError(AudioError):
    """Audio longer than the caller allows."""


class SmileError(TrompaError):
    """SMILExtract could not be found or failed."""


class FeatureError(TrompaError):
    """A feature table with missing columns or non-numeric values."""


class MissingFamilyError(FeatureError):
    """A feature table without a descriptor family (vibenet, …) the committee needs: its IS13 columns
    are there, the family can be added from the audio."""


class CommitteeError(TrompaError):
    """A committee folder or member file that cannot be used."""


class NoScalerError(CommitteeError):
    """The committee's own scaling asked of a committee without a fitted scaler."""


class UserError(TrompaError):
    """An unknown, invalid or already existing user."""


class UnknownUserError(UserError):
    """A user id without a folder."""


class UserExistsError(UserError):
    """A user id that already has a folder."""


class TokenError(TrompaError):
    """A listener token that cannot be minted or revoked as asked."""


class UnknownTokenError(TokenError):
    """A listener token id the user does not have."""


class TooManyUsersError(UserError):
    """A new user beyond the most a place may hold."""


class BusyError(TrompaError):
    """A folder another command holds, when the caller asked not to wait for it."""


class QueryError(TrompaError):
    """A query that cannot be made (pending query, empty pool, too many songs asked)."""


class PendingQueryError(QueryError):
    """A new query while the last one waits for its annotations."""


class EmptyPoolError(QueryError):
    """A query of a pool that has no feature CSVs."""


class TooManySongsError(QueryError):
    """A query asking for more songs than the pool has left."""


class AnnotationError(TrompaError):
    """Annotations that do not answer the pending query."""


class NoPendingQueryError(AnnotationError):
    """Annotations for a user who has no query waiting for them."""


class DeamError(TrompaError):
    """A DEAM folder, annotation file or fold setting that cannot be used."""


class LabelsError(TrompaError):
    """A labels CSV or features folder of song-labelled music that cannot be used."""


class LegacyError(TrompaError):
    """An original TROMPA-MER file that cannot be imported."""


class CrowdError(TrompaError):
    """A crowd-annotation or listener-label file that cannot be used, or a strategy lacking one."""


class MissingCrowdError(CrowdError):
    """A strategy that needs crowd annotations, with no crowd file to read them from."""


class SimulationError(TrompaError):
    """Simulation settings or data that leave nothing to simulate."""


class ClusterError(TrompaError):
    """A Dask scheduler that cannot be reached."""


class OutputError(TrompaError):
    """An output path that cannot be used: the wrong suffix, a missing folder, a folder where a file goes."""


class CorpusError(TrompaError):
    """Settings of a synthetic corpus that cannot be rendered."""


class TrainingError(TrompaError):
    """A training setting that cannot be used: the model kind, the number of folds, the output, the
    boosting rounds of an update."""


class ServiceError(TrompaError):
    """Settings the HTTP service cannot start with: no token, --no-auth off loopback, a busy port."""
