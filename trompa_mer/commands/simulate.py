"""Simulate personalization on labelled data: learning curves of every query strategy, per listener.

python3 simulate.py --feats DIR --labels LABELS.csv [--crowd FILE] --strategies mc,hc,mix,rand
                    --iterations 10 --queries 10 --min-annotations 150 --test-size 0.15 --seeds 3
                    -o OUTDIR [-j N] [--committee DIR]
"""

import argparse
from pathlib import Path

from trompa_mer import names
from trompa_mer.commands import cli, settings
from trompa_mer.simulation.experiment import simulate
from trompa_mer.simulation.plan import Plan


def strategy_list(text: str) -> tuple[str, ...]:
    """`mc,hc,mix,rand` → ('mc', 'hc', 'mix', 'rand'), each once, in the order given."""
    chosen = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    unknown = [name for name in chosen if name not in names.STRATEGIES]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"invalid strategies {text!r}: use a comma-separated list of "
                                         f"{','.join(names.STRATEGIES)}")
    return chosen


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feats", type=Path, required=True, help="folder of per-song feature CSVs")
    parser.add_argument("--labels", type=Path, required=True,
                        help="each listener's own labels: CSV user_id,song_id,quadrant (Q1..Q4) or a "
                             "TROMPA study JSON")
    parser.add_argument("--crowd", type=Path, default=None,
                        help="crowd annotations for hc and mix: TROMPA study JSON or CSV "
                             "song_id,user_id,quadrant (default: the labels; a user's own are left out)")
    parser.add_argument("--strategies", type=strategy_list, default=names.STRATEGIES,
                        help="comma-separated query strategies (default mc,hc,mix,rand)")
    parser.add_argument("--iterations", type=int, default=10, help="updates per user (default 10)")
    parser.add_argument("--queries", type=int, default=10, help="songs asked per iteration (default 10)")
    parser.add_argument("--min-annotations", type=int, default=150,
                        help="users with fewer labelled songs that have features are left out (default 150)")
    parser.add_argument("--test-size", type=float, default=0.15,
                        help="share of each user's songs held out for testing (default 0.15)")
    parser.add_argument("--seeds", type=int, default=3, help="repetitions with different splits (default 3)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="folder for the report")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="simulations run at once (default 1)")
    parser.add_argument("--committee", type=Path, default=settings.PRETRAINED_DIRECTORY,
                        help="the pretrained committee every user starts from (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=settings.XGB_UPDATE_ROUNDS,
                        help="boosting rounds added to each xgb member per update (default %(default)s)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="pool cache folder for --feats (default OUTDIR/pool_cache)")
    cli.add_scaling_option(parser)
    return parser


def run(args: argparse.Namespace) -> None:
    plan = Plan(args.strategies, args.iterations, args.queries, args.min_annotations, args.test_size,
                args.seeds, args.rounds, args.scaling)
    summary = simulate(args.feats, args.labels, args.crowd, args.committee, args.output, plan, args.jobs,
                       args.cache)
    print(summary.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"report: {args.output}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return cli.run(lambda: run(args))

