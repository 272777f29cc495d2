"""Shared pieces of the root scripts: error translation to stderr and exit codes, in one place."""

import argparse
import sys
from collections.abc import Callable

from trompa_mer import progress
from trompa_mer.commands import settings
from trompa_mer.errors import (
    EmptyPoolError,
    MissingCrowdError,
    MissingFamilyError,
    NoScalerError,
    PendingQueryError,
    TooManySongsError,
    TrompaError,
    UnknownUserError,
)
from trompa_mer.names import SCALINGS

HINTS: tuple[tuple[type[TrompaError], str], ...] = (
    (UnknownUserError, "run create_user.py first"),
    (PendingQueryError, "annotate it and run retrain_model.py, or pass --requery to replace it"),
    (TooManySongsError, "ask for fewer with -q"),
    (EmptyPoolError, "extract your audio into it first (python3 extract_features.py -i YOUR_AUDIO/ -o "
                     "FEATURES_FOLDER)"),
    (MissingCrowdError, "set TPL_CROWD_ANNOTATIONS to a TROMPA JSON or song_id,user_id,quadrant CSV"),
    (NoScalerError, "use --scaling original"),
    (MissingFamilyError, "add them from the audio: python3 extract_features.py --add -i AUDIO -o CSV (or a "
                         "folder of each)"),
)
"""How to fix a library error, in the scripts' words (flags, variables), after the library's message."""


def message(exc: TrompaError | OSError) -> str:
    """What failed: a TrompaError's own message and, where HINTS has one, how to fix it; for an OSError
    (a folder where a file goes, a full disk, a read-only folder) the file and the reason, the
    destination of a failed rename."""
    if not isinstance(exc, OSError):
        hint = next((hint for kind, hint in HINTS if isinstance(exc, kind)), None)
        return f"{exc}; {hint}" if hint else str(exc)
    path = exc.filename if exc.filename2 is None else exc.filename2
    reason = exc.strerror or str(exc)
    return reason if path is None else f"{path}: {reason}"


def run(action: Callable[[], int | None]) -> int:
    """Run a script's action; a TrompaError or an OSError becomes one `error:` line on stderr and
    exit code 1.

    Anything unexpected keeps its traceback (and Python's non-zero exit).
    """
    progress.log_every(settings.PROGRESS_SECONDS)
    try:
        result = action()
    except (TrompaError, OSError) as exc:
        print(f"error: {message(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0 if result is None else result


def add_user_option(parser: argparse.ArgumentParser, what: str) -> None:
    """`-i/--user_id`, the original's flag for the user a command works on."""
    parser.add_argument("-i", "--user_id", required=True,
                        help=f"{what} (1-64 characters of A-Z a-z 0-9 _ -, as given to create_user.py)")


def add_crowd_option(parser: argparse.ArgumentParser) -> None:
    """`--no-crowd`: the user's committee without the other listeners' answers as a member."""
    parser.add_argument("--no-crowd", dest="crowd", action="store_false",
                        help="leave out what other listeners answered (the users folder's answers and "
                             f"{settings.CROWD_ANNOTATIONS}, TPL_CROWD_ANNOTATIONS): the committee alone")


def add_scaling_option(parser: argparse.ArgumentParser) -> None:
    """`--scaling committee|original`; unset means the committee's own (its scaler.pkl if it has one)."""
    parser.add_argument("--scaling", choices=SCALINGS, default=None,
                        help="committee: standardise with the committee's scaler.pkl (default when it has "
                             "one); original: fit a StandardScaler on the data at hand, as the original tool")
