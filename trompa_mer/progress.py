"""The one progress display, on stderr so that stdout keeps only a command's results.

On a terminal it is tqdm's redrawn bar. Anywhere else (a log file, a pipe, a service's journal) a
redrawn bar is a pile of carriage returns, so tqdm's redraws go out as plain lines instead: one at
most every LOG_EVERY_SECONDS, the first once a step has run that long, and a last one when such a step
ends. A step that ends sooner prints nothing. tqdm is imported by the first bar, not by every command.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tqdm import tqdm

LOG_EVERY_SECONDS = 5.0
"""The default; commands take TPL_PROGRESS_SECONDS (log_every)."""
_log_every = LOG_EVERY_SECONDS


def log_every(seconds: float) -> None:
    """How often, at most, a progress line is written when stderr is not a terminal."""
    global _log_every
    _log_every = seconds


class _Lines:
    """What tqdm writes, as lines: each `\\r`-started redraw becomes one line; clearing writes vanish."""

    def write(self, text: str) -> None:
        line = text.strip("\r\n").strip()
        if line:
            sys.stderr.write(line + "\n")

    def flush(self) -> None:
        sys.stderr.flush()


@functools.cache
def _line_bar() -> type[tqdm]:
    """tqdm as plain lines (made at the first bar, so that importing this module imports no tqdm):
    when a step ends just after a line showed it done (`training: 100%`), the closing redraw, the
    same line again, is left out."""
    from tqdm import tqdm

    class LineBar(tqdm):
        def close(self) -> None:
            if not getattr(self, "disable", True) and getattr(self, "last_print_n", None) == self.n:
                self.leave = False  # a bar that is not left is cleared, and a clearing write vanishes
            super().close()

    return LineBar


def progress_bar(unit: str, desc: str, show: bool, total: int | None = None,
                 items: Iterable | None = None) -> tqdm:
    """A bar over `items`, or counting to `total` by `update()`; nothing is shown unless `show`."""
    from tqdm import tqdm

    if sys.stderr.isatty():
        return tqdm(items, total=total, unit=unit, desc=desc, disable=not show, file=sys.stderr)
    return _line_bar()(items, total=total, unit=unit, desc=desc, disable=not show, file=_Lines(),
                       delay=_log_every, mininterval=_log_every, ascii=True)
