"""Retrain a user's committee on their answers to the last query.

python3 retrain_model.py -i USER_ID -a ANNOTATIONS.json      ({"song_id": "Q1", ...})
"""

import argparse
from pathlib import Path

from trompa_mer.commands import cli, settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_user_option(parser, "the user who answered")
    parser.add_argument("-a", "--annotations", required=True, type=Path,
                        help='JSON {"song_id": "Q1", ...} answering the last query')
    parser.add_argument("--rounds", type=int, default=settings.XGB_UPDATE_ROUNDS,
                        help="boosting rounds added to each xgb member (default %(default)s)")
    cli.add_crowd_option(parser)
    cli.add_scaling_option(parser)
    return parser


def run(args: argparse.Namespace) -> None:
    # imported by a run, not by --help: the library pulls in sklearn and xgboost (bench/imports.py)
    from trompa_mer.users import personalize

    done = personalize.apply_annotations(settings.USERS_DIRECTORY, args.user_id, args.annotations,
                                         settings.FEATS_DIRECTORY, settings.POOL_CACHE_DIRECTORY,
                                         args.rounds, args.scaling, settings.JOBS, progress=True,
                                         crowd_file=settings.CROWD_ANNOTATIONS, crowd=args.crowd)
    layer = "" if done.layer_moved is None else f"layer moved by {done.layer_moved:.3f} (largest cell); "
    if done.shift_moved is not None:
        layer = f"shift moved by {done.shift_moved:.3f} (largest quadrant's log-probability); "
    print(f"user {args.user_id}: committee retrained on {len(done.state.queried)} songs; iteration "
          f"{done.state.iteration}; {layer}{done.songs_changed} of {done.pool_songs} pool songs changed "
          f"quadrant for this user (largest probability change {done.largest_change:.3f})")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return cli.run(lambda: run(args))

