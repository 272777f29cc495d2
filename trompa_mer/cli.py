"""Shared pieces of the root scripts: error translation to stderr and exit codes."""

import sys
from collections.abc import Callable

from trompa_mer.errors import TrompaError


def run(action: Callable[[], int | None]) -> int:
    """Run a script's action; a TrompaError becomes one `error:` line on stderr and exit code 1.

    Anything unexpected keeps its traceback (and Python's non-zero exit).
    """
    try:
        result = action()
    except TrompaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0 if result is None else result
