"""Create a user: models/users/USER_ID/ with a copy of the pretrained committee.

python3 create_user.py -i USER_ID
"""

import argparse
import sys

import settings
from trompa_mer import cli, user


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--user_id", required=True, help="1-64 characters of A-Z a-z 0-9 _ -")
    return parser


def run(args: argparse.Namespace) -> None:
    folder = user.create_user(settings.USERS_DIRECTORY, args.user_id, settings.PRETRAINED_DIRECTORY)
    print(f"created user {args.user_id} in {folder}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return cli.run(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
