"""Query: the songs of the pool the user should annotate next, chosen by their query strategy.

python3 get_hard_tracks.py -i USER_ID -q NUM_TRACKS [--strategy mc|hc|mix|rand]
Prints one song a line: its id, a tab, and its audio file (under TPL_AUDIO_DIRECTORY) or feature CSV.
"""

import argparse
import json
import sys
from pathlib import Path

from trompa_mer import names
from trompa_mer.commands import cli, settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_user_option(parser, "the user to ask")
    parser.add_argument("-q", "--queries", type=int, required=True, help="how many songs to ask about")
    parser.add_argument("--requery", action="store_true",
                        help="replace a query that is still waiting for annotations")
    parser.add_argument("--json", action="store_true", help="print the query as JSON")
    parser.add_argument("--strategy", choices=names.STRATEGIES, default=None,
                        help="use this strategy for this query instead of the user's own; hc and mix "
                             f"read crowd annotations from {settings.CROWD_ANNOTATIONS} "
                             "(TPL_CROWD_ANNOTATIONS)")
    cli.add_crowd_option(parser)
    cli.add_scaling_option(parser)
    return parser


def run(args: argparse.Namespace) -> None:
    # imported by a run, not by --help: the library pulls in sklearn and xgboost (bench/imports.py)
    from trompa_mer.users import personalize

    result = personalize.make_query(settings.USERS_DIRECTORY, args.user_id, settings.FEATS_DIRECTORY,
                                    settings.POOL_CACHE_DIRECTORY, args.queries, args.scaling,
                                    args.requery, args.strategy, settings.CROWD_ANNOTATIONS,
                                    settings.JOBS, settings.POOL_CHUNK_SONGS, progress=True,
                                    crowd=args.crowd)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps({"user_id": args.user_id, "iteration": result.state.iteration,
                          "strategy": result.state.query_strategy, "queried": result.songs,
                          "scores": result.scores}))
    else:
        where = song_files(result.files)
        print("\n".join(f"{song}\t{where[song]}" for song in result.songs))


def song_files(features: dict[str, Path]) -> dict[str, Path]:
    """Where a person finds each song: its audio under TPL_AUDIO_DIRECTORY when set and found there,
    else its feature CSV (`features`)."""
    from trompa_mer.features.audio_files import AudioIndex

    index = AudioIndex(settings.AUDIO_DIRECTORY) if settings.AUDIO_DIRECTORY is not None else None
    return {song: (index and index.find(song)) or csv for song, csv in features.items()}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return cli.run(lambda: run(args))

