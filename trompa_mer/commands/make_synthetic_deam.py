"""Write a synthetic DEAM-format corpus: numpy-rendered music with dynamic valence/arousal labels.

    python3 make_synthetic_deam.py -o DIR -n 200 --seed 0 [--duration 45] [--sample-rate 22050]
                                   [--annotation-start 15] [--listeners N]
"""

import argparse
from pathlib import Path

from trompa_mer.commands import cli
from trompa_mer.datasets.synth import write_corpus


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="new or empty folder to write the corpus into")
    parser.add_argument("-n", "--songs", type=int, default=200,
                        help="number of songs, ids 1..N (default: 200)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--duration", type=float, default=45.0,
                        help="excerpt length in seconds (default: 45)")
    parser.add_argument("--sample-rate", type=int, default=22050,
                        help="sample rate of the wav files in Hz (default: 22050)")
    parser.add_argument("--annotation-start", type=float, default=15.0,
                        help="time of the first dynamic annotation in seconds, as DEAM"
                             " (default: 15; use 0 for short excerpts such as 30 s)")
    parser.add_argument("--listeners", type=int, default=0,
                        help="also simulate N listeners: listeners/labels.csv and"
                             " listeners/crowd.json (default: 0)")
    return parser


def run(args: argparse.Namespace) -> int:
    write_corpus(args.output, args.songs, args.seed, duration=args.duration,
                 sample_rate=args.sample_rate, annotation_start=args.annotation_start,
                 listeners=args.listeners, progress=True)
    print(f"wrote {args.songs} songs to {args.output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return cli.run(lambda: run(args))

