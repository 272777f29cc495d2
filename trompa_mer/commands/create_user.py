"""Create a user: models/users/USER_ID/ with a copy of the pretrained committee.

python3 create_user.py -i USER_ID [-m mc|hc|mix|rand] [--update-rule shift|layer|original]
"""

import argparse
from typing import TYPE_CHECKING

from trompa_mer import names
from trompa_mer.commands import cli, settings

if TYPE_CHECKING:
    from trompa_mer.committee.model import Committee


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_user_option(parser, "the new user's id")
    parser.add_argument("-m", "--strategy", choices=names.STRATEGIES, default=names.DEFAULT_STRATEGY,
                        help="how the user's queries are chosen: mc machine consensus (committee "
                             "entropy), hc human consensus (crowd entropy), mix the larger of both, "
                             "rand random (default %(default)s)")
    parser.add_argument("--update-rule", choices=names.UPDATE_RULES, default=names.DEFAULT_UPDATE_RULE,
                        help="how the user's answers update their committee: shift, a per-user shift of "
                             "the quadrants' log-probabilities after the other listeners' answers, "
                             "refitted on all their answers; layer, a per-user 4x4 layer over the "
                             "pretrained members refitted on all their answers; original, every member "
                             "trains on each new batch, as the original tool (default %(default)s)")
    return parser


def run(args: argparse.Namespace) -> None:
    # imported by a run, not by --help: the library pulls in sklearn and xgboost (bench/imports.py)
    from trompa_mer.learning import strategies
    from trompa_mer.users import account as user

    # hc and mix without their crowd file are refused now, not at the first query
    strategies.load_crowd(args.strategy, settings.CROWD_ANNOTATIONS)
    folder, start = user.create_user(settings.USERS_DIRECTORY, args.user_id, settings.DEFAULT_COMMITTEE,
                                     args.strategy, args.update_rule)
    print(f"created user {args.user_id} in {folder} from {settings.DEFAULT_COMMITTEE} "
          f"({describe(start)}): query strategy {args.strategy}, update rule {args.update_rule}")


def describe(start: "Committee") -> str:
    """The committee a user starts from in a few words: its kinds, size and training data."""
    from trompa_mer.committee.files import MEMBER_PATTERN

    kinds = dict.fromkeys(MEMBER_PATTERN.match(name)["kind"] for name in start.members)
    trained_on = start.manifest.get("trained_on", {})
    data = trained_on.get("labels") or trained_on.get("deam") or trained_on.get("provenance")
    return f"{'+'.join(kinds)}, {len(start.members)} members" + (f", trained on {data}" if data else "")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return cli.run(lambda: run(args))

