"""Extract window features from audio into `;`-separated CSVs: openSMILE IS13_ComParE, vibenet's, musicnn's.

One file:  python3 extract_features.py -i song.mp3 -o song.csv
A folder:  python3 extract_features.py -i audio/ -o data/feats/ -j 4
A cluster: python3 extract_features.py -i audio/ -o data/feats/ --dask-scheduler tcp://host:8786
IS13 only, as the original tool:  python3 extract_features.py -i song.mp3 -o song.csv --families is13
Add what older CSVs lack:         python3 extract_features.py --add -i audio/ -o data/feats/
"""

import argparse
import glob
import sys
from pathlib import Path

from trompa_mer import storage
from trompa_mer.commands import cli, settings
from trompa_mer.errors import OutputError
from trompa_mer.features import extract, smile, table
from trompa_mer.features.columns import FAMILIES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--input", nargs="+", required=True, type=Path,
                        help="an audio file (wav, mp3, flac, ogg, opus, m4a), several, or a folder (searched "
                             "with its subfolders)")
    parser.add_argument("-o", "--output", required=True, type=Path,
                        help="the CSV to write; a folder when the input is a folder or several files")
    parser.add_argument("--window", type=float, default=settings.WINDOW_SECONDS,
                        help="window length in seconds (default %(default)s)")
    parser.add_argument("--hop", type=float, default=settings.HOP_SECONDS,
                        help="hop between windows in seconds (default %(default)s)")
    parser.add_argument("-j", "--jobs", type=int, default=settings.JOBS,
                        help="files extracted at once in batch mode (default: all cores)")
    parser.add_argument("--dask-scheduler", metavar="ADDRESS",
                        help="run the batch on the workers of this Dask scheduler (tcp://host:8786) "
                             "instead of -j local threads; workers must see the same paths")
    parser.add_argument("--overwrite", action="store_true",
                        help="re-extract files whose CSV already exists (batch mode)")
    parser.add_argument("--families", nargs="+", choices=FAMILIES, default=list(FAMILIES),
                        help="descriptor families to extract: is13 (openSMILE, always; the original tool's "
                             "columns), vibenet (a learned music model's outputs and embedding per 5 s) and "
                             "musicnn (the MSD musicnn model's penultimate layer and tags per 3 s) "
                             "(default: all)")
    parser.add_argument("--add", action="store_true",
                        help="add to existing CSVs the families they lack, from their audio, keeping what "
                             "they hold (IS13 is not extracted again)")
    return parser


def run(args: argparse.Namespace) -> int:
    command = smile.find_smilextract(settings.SMILEXTRACT, settings.OPENSMILE_DIRECTORY)
    storage.remove_stale_temporaries()
    inputs: list[Path] = args.input
    families = extract.check_families(tuple(args.families))
    if len(inputs) == 1 and not inputs[0].is_dir():
        if args.output.parent.is_dir():
            storage.remove_stale_writes(args.output.parent, glob.escape(args.output.name))
        if args.add:
            added = extract.add_families(inputs[0], args.output, args.window, families)
            print(f"added {' and '.join(added)} to {args.output}" if added
                  else f"{args.output} already holds {' and '.join(families)}")
            return 0
        extraction = extract.extract_file(inputs[0], args.output, command, args.window, args.hop, families)
        shortfall = extraction.shortfall(args.window)
        if shortfall:
            print(f"warning: {inputs[0]}: {shortfall}", file=sys.stderr)
        print(f"wrote {extraction.windows} windows to {args.output}")
        return 0
    if args.output.suffix.lower() == table.FEATURE_SUFFIX and not args.output.is_dir():
        raise OutputError(f"-i is a folder or several files, so -o must be a folder (one <stem>.csv per "
                          f"audio file), not {args.output}")
    if args.output.is_dir():
        storage.remove_stale_writes(args.output, f"*{table.FEATURE_SUFFIX}")
    report = extract.extract_batch(extract.audio_files(inputs), args.output, command,
                                   args.window, args.hop, args.jobs, args.overwrite,
                                   scheduler=args.dask_scheduler,
                                   connect_seconds=settings.DASK_CONNECT_SECONDS,
                                   families=families, add=args.add)
    print(report.summary(), file=sys.stderr)
    return 1 if report.failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.dask_scheduler and len(args.input) == 1 and not args.input[0].is_dir():
        parser.error("--dask-scheduler runs batches: give a folder or several files")
    if args.add and args.overwrite:
        parser.error("--add keeps what existing CSVs hold; --overwrite extracts them again: choose one")
    return cli.run(lambda: run(args))

