"""The built-in SMILExtract: the same arguments and `-lldcsvoutput` CSV, on the `opensmile` package.

`python -m trompa_mer.features.smilextract -C IS13_ComParE.conf -I in.wav -lldcsvoutput out.csv`
The package's config writes LLDs and deltas to two sinks; they are joined row by row into one
`name;frameTime;<65 LLDs>;<65 deltas>` file, keeping only frames present in both.
"""

import argparse
import ctypes
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

# This file runs as a program of its own (`python smilextract.py …`), so it imports nothing
# from the package.
CSV_SEPARATOR = ";"
"""The separator of SMILExtract's CSVs, and so of the feature CSVs (features/table.py), defined once."""

INSTANCE_NAME = "'unknown'"
"""What SMILExtract writes in the `name` column when no instance name is given."""


def package_root() -> Path:
    """Folder of the `opensmile` PyPI package, found without importing it (that import is slow)."""
    spec = importlib.util.find_spec("opensmile")
    if spec is None or not spec.submodule_search_locations:
        raise OSError("the opensmile package is not installed (pip install -r requirements.txt)")
    return Path(spec.submodule_search_locations[0])


def _library() -> ctypes.CDLL:
    found = sorted((package_root() / "core" / "bin").glob("*/libSMILEapi.*"))
    if not found:
        raise OSError("libSMILEapi not found in the opensmile package")
    lib = ctypes.CDLL(str(found[0]))
    lib.smile_new.restype = ctypes.c_void_p
    lib.smile_initialize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                                     ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int,
                                     ctypes.c_int, ctypes.c_char_p]
    lib.smile_run.argtypes = [ctypes.c_void_p]
    lib.smile_free.argtypes = [ctypes.c_void_p]
    lib.smile_error_msg.argtypes = [ctypes.c_void_p]
    lib.smile_error_msg.restype = ctypes.c_char_p
    return lib


def run_engine(config: Path, options: dict[str, str], loglevel: int) -> None:
    """Run openSMILE's engine on `config` with `\\cm[...]` options; OSError with its message."""
    lib = _library()
    flat = [str(item).encode() for pair in options.items() for item in pair]
    handle = lib.smile_new()
    try:
        status = lib.smile_initialize(handle, str(config).encode(), len(options),
                                      (ctypes.c_char_p * len(flat))(*flat), loglevel, 0, 0, None)
        if status == 0:
            status = lib.smile_run(handle)
        if status != 0:
            message = (lib.smile_error_msg(handle) or b"").decode(errors="replace").strip()
            raise OSError(message or f"openSMILE error code {status}")
    finally:
        lib.smile_free(handle)


def join_lld_csvs(lld: Path, deltas: Path, output: Path) -> None:
    """Join the LLD and delta CSVs row by row into one SMILExtract-style `-lldcsvoutput` file."""
    with open(lld, encoding="utf-8") as lld_in, open(deltas, encoding="utf-8") as de_in, \
            open(output, "w", encoding="utf-8") as out:
        for index, (left, right) in enumerate(zip(lld_in, de_in, strict=False)):
            name = "name" if index == 0 else INSTANCE_NAME
            rest = right.rstrip("\n").split(CSV_SEPARATOR, 1)[1]
            out.write(f"{name}{CSV_SEPARATOR}{left.rstrip()}{CSV_SEPARATOR}{rest}\n")


def extract(config: Path, wav: Path, output: Path, loglevel: int = 0) -> None:
    """LLD + delta CSV of `wav` into `output`, as SMILExtract's `-lldcsvoutput`."""
    shared = config.resolve().parent.parent / "shared"
    # Beside the output: extract_features.py's own temporary folder, removed with it even if this
    # program is killed (a folder of the system's would be left behind).
    with tempfile.TemporaryDirectory(prefix=".smilextract.", dir=output.resolve().parent) as folder:
        lld, deltas = Path(folder, "lld.csv"), Path(folder, "lld_de.csv")
        run_engine(config, {
            "source": str(shared / "standard_wave_input.conf.inc"),
            "sink": str(shared / "standard_data_output.conf.inc"),
            "filename": str(wav),
            "lld_csv_output": str(lld),
            "lld_de_csv_output": str(deltas),
        }, loglevel)
        if not lld.exists() or not deltas.exists():
            raise OSError("openSMILE wrote no frames")
        join_lld_csvs(lld, deltas, output)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="SMILExtract", allow_abbrev=False,
                                     description=__doc__.splitlines()[0])
    parser.add_argument("-C", dest="config", required=True, type=Path)
    parser.add_argument("-I", dest="input", required=True, type=Path)
    parser.add_argument("-lldcsvoutput", dest="output", required=True, type=Path)
    parser.add_argument("-noconsoleoutput", default="0")
    parser.add_argument("-l", dest="loglevel", type=int, default=0)
    args = parser.parse_args(argv)
    if not args.input.is_file():
        print(f"error: input file not found: {args.input}", file=sys.stderr)
        return 1
    try:
        extract(args.config, args.input, args.output, args.loglevel)
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        Path(args.output).unlink(missing_ok=True)
        return 1
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
