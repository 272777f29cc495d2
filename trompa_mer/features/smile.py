"""Find SMILExtract, run it on a wav, read its `-lldcsvoutput` CSV. Nothing is loaded at import."""

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trompa_mer.errors import AudioError, SmileError
from trompa_mer.features import smilextract
from trompa_mer.features.columns import DESCRIPTOR_NAMES, TIME_COLUMN
from trompa_mer.features.programs import run_program
from trompa_mer.features.smilextract import CSV_SEPARATOR

CONFIG_IN_FOLDER = Path("is09-13") / "IS13_ComParE.conf"
"""The IS13_ComParE configuration, relative to an openSMILE config folder."""

PROGRAM_NAME = "SMILExtract"


def package_config_folder() -> Path:
    """openSMILE's config folder shipped with the `opensmile` package."""
    try:
        return smilextract.package_root() / "core" / "config"
    except OSError as exc:
        raise SmileError(str(exc)) from exc


@dataclass(frozen=True)
class SmileCommand:
    """How to launch a SMILExtract(-compatible) program and which config folder goes with it."""

    argv: tuple[str, ...]
    config_folder: Path

    @property
    def config(self) -> Path:
        return self.config_folder / CONFIG_IN_FOLDER


def builtin_command() -> SmileCommand:
    """The project's own SMILExtract-compatible command, on the `opensmile` package's engine."""
    return SmileCommand((sys.executable, smilextract.__file__), package_config_folder())


def _config_beside(program: Path) -> Path:
    """An openSMILE distribution keeps `config/` beside `bin/`; otherwise use the package's configs."""
    distribution = program.resolve().parent.parent / "config"
    return distribution if (distribution / CONFIG_IN_FOLDER).is_file() else package_config_folder()


def find_smilextract(configured: str, original_folder: Path) -> SmileCommand:
    """Which SMILExtract to run: `configured` (SMILEXTRACT); else on PATH; else the original's
    `opensmile-3.0-linux-x64/bin/SMILExtract`; else the built-in command."""
    if configured:
        program = shutil.which(configured)
        if program is None:
            raise SmileError(f"SMILEXTRACT is set to {configured!r}, which is not an executable")
        return SmileCommand((program,), _config_beside(Path(program)))
    on_path = shutil.which(PROGRAM_NAME)
    if on_path:
        return SmileCommand((on_path,), _config_beside(Path(on_path)))
    original = original_folder / "bin" / PROGRAM_NAME
    if os.access(original, os.X_OK):
        return SmileCommand((str(original),), original_folder / "config")
    return builtin_command()


def run_smilextract(command: SmileCommand, wav: Path, lld_csv: Path, source: Path | str) -> None:
    """Run `SMILExtract -C IS13_ComParE.conf -I wav -lldcsvoutput lld_csv -noconsoleoutput 1`.

    `source` is the file the user named (wav may be its temporary conversion), for messages.
    """
    argv = [*command.argv, "-C", str(command.config), "-I", str(wav),
            "-lldcsvoutput", str(lld_csv), "-noconsoleoutput", "1"]
    run_program(argv, SmileError, f"openSMILE cannot process {source} (corrupt or unsupported audio?)")


def read_lld_csv(path: Path, source: Path | str) -> tuple[np.ndarray, np.ndarray]:
    """Frame times (n_frames,) in seconds and descriptors (n_frames, 130) of an `-lldcsvoutput` CSV.

    Columns are taken by name, so a leading `name` column or a different column order is fine.
    """
    with open(path, encoding="utf-8") as handle:
        header = handle.readline().strip().split(CSV_SEPARATOR)
        if not handle.readline().strip():
            raise AudioError(f"audio too short: openSMILE made no 10 ms frame of {source}")
    missing = [name for name in (TIME_COLUMN, *DESCRIPTOR_NAMES) if name not in header]
    if missing:
        raise SmileError(f"{path.name}: openSMILE output lacks columns {', '.join(missing[:5])}")
    position = {name: index for index, name in enumerate(header)}
    columns = [position[TIME_COLUMN]] + [position[name] for name in DESCRIPTOR_NAMES]
    table = np.loadtxt(path, delimiter=CSV_SEPARATOR, skiprows=1, usecols=columns,
                       dtype=np.float64, ndmin=2)
    return table[:, 0], table[:, 1:]
