"""The songs' audio files under the audio folder, found by song id; never a file outside the folder.

A song id only ever selects an entry of an index built by walking the folder (symlinked folders not
entered, every file resolved and kept only if it stays inside), so no id can name a path.
"""

import os
import re
import threading
import time
from pathlib import Path

from trompa_mer.features import audio, table

SONG_ID_PATTERN = re.compile(r"[^./\\\x00-\x1f][^/\\\x00-\x1f]{0,254}")
"""A song id as the pool names songs (a file stem): no separators or control characters, not hidden."""
RESCAN_SECONDS = 5.0
"""A song missing from the index rescans the folder, at most this often (new files show up)."""


class AudioIndex:
    """Song id (`table.song_id_of` of the audio file: its stem, lower-cased) → the audio file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder.resolve()
        self._songs: dict[str, Path] = {}
        self._scanned = float("-inf")
        self._lock = threading.Lock()

    def _scan(self) -> dict[str, Path]:
        songs: dict[str, Path] = {}
        for top, dirs, files in os.walk(self.folder):  # symlinked folders are listed, never entered
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                path = Path(top, name)
                if name.startswith(".") or path.suffix.lower() not in audio.SUPPORTED_SUFFIXES:
                    continue
                real = path.resolve()
                if real.is_relative_to(self.folder) and real.is_file():
                    songs.setdefault(table.song_id_of(path), real)
        return songs

    def find(self, song_id: str) -> Path | None:
        """The audio file of `song_id`, or None."""
        found = self._songs.get(song_id)
        if found is None:
            with self._lock:
                if time.monotonic() - self._scanned >= RESCAN_SECONDS:
                    self._songs = self._scan() if self.folder.is_dir() else {}
                    self._scanned = time.monotonic()
                found = self._songs.get(song_id)
        if found is None or not found.is_file() or not found.resolve().is_relative_to(self.folder):
            return None  # deleted or replaced by a symlink since the scan
        return found
