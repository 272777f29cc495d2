"""Simulate personalization on labelled data: learning curves of every query strategy, per listener.

python3 simulate.py --feats DIR (--labels LABELS.csv | --truth DATASET.csv --listeners N
                    [--agreeing-share 0.33]) [--crowd FILE] --strategies mc,hc,mix,rand
                    [--rules original,layer] --iterations 10 --queries 10 --min-annotations 150
                    --test-size 0.15 --seeds 3 -o OUTDIR [-j N] [--committee DIR]
"""

import argparse
from pathlib import Path

from trompa_mer import names
from trompa_mer.commands import cli, settings
from trompa_mer.datasets.listeners import DEFAULT_AGREEING_SHARE
from trompa_mer.errors import SimulationError
from trompa_mer.simulation.experiment import Listeners, simulate
from trompa_mer.simulation.plan import Plan


def name_list(text: str, known: tuple[str, ...], what: str) -> tuple[str, ...]:
    """`a,b` → ('a', 'b'), each once, in the order given, every one of `known`."""
    chosen = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    unknown = [name for name in chosen if name not in known]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"invalid {what} {text!r}: use a comma-separated list of "
                                         f"{','.join(known)}")
    return chosen


def strategy_list(text: str) -> tuple[str, ...]:
    """`mc,hc,mix,rand` → ('mc', 'hc', 'mix', 'rand'), each once, in the order given."""
    return name_list(text, names.STRATEGIES, "strategies")


def rule_list(text: str) -> tuple[str, ...]:
    """`original,layer` → ('original', 'layer'), each once, in the order given."""
    return name_list(text, names.UPDATE_RULES, "update rules")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feats", type=Path, required=True, help="folder of per-song feature CSVs")
    parser.add_argument("--labels", type=Path, default=None,
                        help="each listener's own labels: CSV user_id,song_id,quadrant (Q1..Q4) or a "
                             "TROMPA study JSON (or --truth and --listeners)")
    parser.add_argument("--truth", type=Path, default=None,
                        help="the dataset's labels, CSV song_id,quadrant: simulated listeners (--listeners) "
                             "hear each song's quadrant through their own confusions")
    parser.add_argument("--listeners", type=int, default=None,
                        help="simulated listeners drawn per seed from the listening study's statistics")
    parser.add_argument("--agreeing-share", type=float, default=None,
                        help="share of the simulated listeners who mostly agree with the dataset "
                             "(default 1/3; the others err systematically)")
    parser.add_argument("--crowd", type=Path, default=None,
                        help="crowd annotations for hc and mix: TROMPA study JSON or CSV "
                             "song_id,user_id,quadrant (default: the labels; a user's own are left out)")
    parser.add_argument("--strategies", type=strategy_list, default=names.STRATEGIES,
                        help="comma-separated query strategies (default mc,hc,mix,rand)")
    parser.add_argument("--rules", type=rule_list, default=(names.DEFAULT_UPDATE_RULE,),
                        help=f"comma-separated update rules to compare, of {','.join(names.UPDATE_RULES)} "
                             f"(default {names.DEFAULT_UPDATE_RULE})")
    parser.add_argument("--iterations", type=int, default=10, help="updates per user (default 10)")
    parser.add_argument("--queries", type=int, default=10, help="songs asked per iteration (default 10)")
    parser.add_argument("--min-annotations", type=int, default=150,
                        help="users with fewer labelled songs that have features are left out (default 150)")
    parser.add_argument("--test-size", type=float, default=0.15,
                        help="share of each user's songs held out for testing (default 0.15)")
    parser.add_argument("--seeds", type=int, default=3, help="repetitions with different splits (default 3)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="folder for the report")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="simulations run at once (default 1)")
    parser.add_argument("--committee", type=Path, default=settings.DEFAULT_COMMITTEE,
                        help="the pretrained committee every user starts from (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=settings.XGB_UPDATE_ROUNDS,
                        help="boosting rounds added to each xgb member per update by the original rule "
                             "(default %(default)s)")
    parser.add_argument("--no-crowd", dest="crowd_member", action="store_false",
                        help="the committee alone: the other listeners' answers (the crowd) are not a member "
                             "of each user's committee (by default they are, as on a platform: mc, mix, the "
                             "layer and the report's `user` model count them)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="pool cache folder for --feats (default OUTDIR/pool_cache)")
    cli.add_scaling_option(parser)
    return parser


def listeners_of(args: argparse.Namespace) -> Listeners | None:
    """The simulated listeners the flags ask for (None for --labels); mixed or missing flags are a
    SimulationError (one `error:` line, like every other refusal)."""
    if args.labels is not None and args.truth is not None:
        raise SimulationError("give either --labels (real listeners) or --truth with --listeners "
                              "(simulated ones), not both")
    if args.truth is None:
        if args.listeners is not None or args.agreeing_share is not None:
            raise SimulationError("--listeners and --agreeing-share need --truth (the dataset's labels)")
        if args.labels is None:
            raise SimulationError("give --labels (real listeners) or --truth with --listeners "
                                  "(simulated ones)")
        return None
    if args.listeners is None:
        raise SimulationError("--truth needs --listeners N (simulated listeners per seed)")
    share = DEFAULT_AGREEING_SHARE if args.agreeing_share is None else args.agreeing_share
    return Listeners(args.truth, args.listeners, share)


def run(args: argparse.Namespace) -> None:
    listeners = listeners_of(args)
    plan = Plan(args.strategies, args.iterations, args.queries, args.min_annotations, args.test_size,
                args.seeds, args.rounds, args.scaling, args.rules, args.crowd_member)
    report = simulate(args.feats, args.labels, args.crowd, args.committee, args.output, plan, args.jobs,
                      args.cache, listeners=listeners)
    if report.listeners is not None:
        print(report.listeners.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(report.comparison.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"report: {args.output}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return cli.run(lambda: run(args))

