"""The one progress display: a tqdm bar on stderr, so that stdout keeps only a command's results."""

import sys
from collections.abc import Iterable

from tqdm import tqdm


def progress_bar(unit: str, desc: str, show: bool, total: int | None = None,
                 items: Iterable | None = None) -> tqdm:
    """A bar over `items`, or counting to `total` by `update()`; nothing is drawn unless `show`."""
    return tqdm(items, total=total, unit=unit, desc=desc, disable=not show, file=sys.stderr)
