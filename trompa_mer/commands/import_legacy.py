"""Import the original TROMPA-MER's models (xgboost 1.3.3 / scikit-learn 0.24.1 pickles) and users.

python3 import_legacy.py SRC -o DEST            the committee of SRC as a new folder DEST
python3 import_legacy.py SRC --user USER_ID     a user folder from an original user's folder and state
python3 import_legacy.py SRC --pretrained       the committee new users start from (the old one kept aside)
python3 import_legacy.py --undo-pretrained      put back the committee the last --pretrained kept aside
"""

import argparse
import sys
from pathlib import Path

from trompa_mer import names
from trompa_mer.commands import cli, settings
from trompa_mer.errors import LegacyError
from trompa_mer.legacy import migrate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path, metavar="SRC", nargs="?",
                        help="an original folder: classifier_*.pkl models, with pool_data.json for a "
                             f"user, or a user folder with a {'/'.join(names.STRATEGIES)} subfolder")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("-o", "--output", type=Path, metavar="DEST", help="a new committee folder")
    where.add_argument("--user", metavar="USER_ID",
                       help=f"create {settings.USERS_DIRECTORY}/USER_ID with the user's state")
    where.add_argument("--pretrained", action="store_true",
                       help=f"install as {settings.PRETRAINED_DIRECTORY}; the current one is copied to "
                            f"<folder>{migrate.ASIDE_INFIX}<timestamp>")
    where.add_argument("--undo-pretrained", action="store_true",
                       help=f"undo the last --pretrained: its <folder>{migrate.ASIDE_INFIX}<timestamp> "
                            f"becomes {settings.PRETRAINED_DIRECTORY} again (no SRC)")
    return parser


def run(args: argparse.Namespace) -> None:
    if args.undo_pretrained:
        if args.src is not None:
            raise LegacyError(f"--undo-pretrained takes no SRC (got {args.src})")
        aside = migrate.restore_pretrained(settings.PRETRAINED_DIRECTORY)
        print(f"restored {settings.PRETRAINED_DIRECTORY} from {aside}")
        return
    if args.src is None:
        raise LegacyError("SRC is missing: the original folder to import")
    if args.user is not None:
        result = migrate.import_user(args.src, settings.USERS_DIRECTORY, args.user)
    elif args.pretrained:
        result = migrate.install_pretrained(args.src, settings.PRETRAINED_DIRECTORY)
    else:
        result = migrate.import_committee(args.src, args.output)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"imported {len(result.members)} models from {args.src} into {result.folder} "
          "(scaling: original, as the original tool)")
    if result.aside is not None:
        print(f"the previous pretrained committee is kept in {result.aside} "
              "(import_legacy.py --undo-pretrained puts it back)")
    if result.state is not None:
        state = result.state
        waiting = f"query of {len(state.queried)} songs pending" if state.pending else "no query pending"
        print(f"user {args.user}: iteration {state.iteration}, strategy {state.strategy}, "
              f"{len(state.answered)} songs answered in {len(result.history)} batches, {waiting}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return cli.run(lambda: run(args))

