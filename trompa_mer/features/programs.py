"""Running an external program of ours (SMILExtract): return code checked, failures become one exception.

ffmpeg is the other external program; pydub runs it when features/audio.py decodes a file.
"""

import subprocess
from collections.abc import Sequence

from trompa_mer.errors import TrompaError


def run_program(argv: Sequence[str], error: type[TrompaError], what: str) -> None:
    """Run `argv`; on a non-zero exit raise `error` with `what` and the program's last stderr line."""
    try:
        result = subprocess.run(list(argv), capture_output=True, text=True, errors="replace")
    except OSError as exc:
        raise error(f"{what}: cannot run {argv[0]}: {exc.strerror}") from exc
    if result.returncode != 0:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        detail = lines[-1] if lines else f"exit code {result.returncode}"
        raise error(f"{what}: {detail}")
