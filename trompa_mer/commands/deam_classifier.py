"""Pretrain the committee on DEAM: one model per cross-validation fold (by song) and model kind.

    python3 deam_classifier.py -cv 5 -m {xgb,gnb,sgd,all} [--deam DIR] [-o models/pretrained]
                               [--source features|audio] [--cache DIR] [-j N] [--threads N]
                               [--seed 1987] [--note TEXT]
"""

import argparse
import sys
from pathlib import Path

from trompa_mer.commands import cli, settings
from trompa_mer.datasets import deam
from trompa_mer.features import smile
from trompa_mer.training import pretrain


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-cv", "--folds", type=int, default=5,
                        help="cross-validation folds, by song: one model per fold (default %(default)s)")
    parser.add_argument("-m", "--model", choices=pretrain.KIND_CHOICES, default=pretrain.KIND_ALL,
                        help="model kind to train, or all of them (default %(default)s)")
    parser.add_argument("--deam", type=Path, default=settings.DEAM_DIRECTORY,
                        help="DEAM folder as distributed (default %(default)s)")
    parser.add_argument("-o", "--output", type=Path, default=settings.PRETRAINED_DIRECTORY,
                        help="committee folder to write; an existing committee there is replaced whole "
                             "(default %(default)s)")
    parser.add_argument("--source", choices=deam.SOURCES, default=None,
                        help=f"features: DEAM's own {deam.FEATURES_DIR}/<song_id>.csv; audio: extract "
                             f"{deam.AUDIO_DIR}/<song_id>.mp3 with our extractor (default: features "
                             "when that folder exists, else audio)")
    parser.add_argument("--cache", type=Path, default=None,
                        help=f"folder of the features extracted from DEAM's audio, reused on re-runs "
                             f"(default <deam>/{deam.CACHE_DIR})")
    parser.add_argument("-j", "--jobs", type=int, default=settings.JOBS,
                        help="audio files extracted at once (default: all cores)")
    parser.add_argument("--threads", type=int, default=0,
                        help="xgboost's threads (default 0: all cores; 1 is faster on a busy machine)")
    parser.add_argument("--seed", type=int, default=settings.DEAM_SEED,
                        help="seed of the folds and the members (default %(default)s)")
    parser.add_argument("--note", default="",
                        help="what the corpus is, recorded in manifest.json (default: DEAM)")
    return parser


def run(args: argparse.Namespace) -> int:
    kinds = pretrain.kinds_of(args.model)
    pretrain.check_folds(args.folds)
    pretrain.check_output(args.output)
    deam.check_folder(args.deam)
    source, both = deam.choose_source(args.deam, args.source)
    other = deam.SOURCE_AUDIO if source == deam.SOURCE_FEATURES else deam.SOURCE_FEATURES
    print(f"source: {source}" + (f" (both exist: --source {other} for the other)" if both else ""))
    command = None
    if source == deam.SOURCE_AUDIO:
        command = smile.find_smilextract(settings.SMILEXTRACT, settings.OPENSMILE_DIRECTORY)
    data = deam.load_windows(args.deam, source, args.cache, command, args.jobs,
                             progress=sys.stderr.isatty())
    for reason, songs in data.skipped.items():
        shown = ", ".join(songs[:5]) + (" …" if len(songs) > 5 else "")
        print(f"skipped {len(songs)} songs ({reason}): {shown}")
    print(f"training on {len(data.song_ids)} songs, {len(data.y)} windows; "
          f"{args.folds} folds × {', '.join(kinds)}")
    record = pretrain.training_record(data, args.deam, kinds, args.folds, args.seed, args.note)
    result = pretrain.pretrain(data, kinds, args.folds, args.seed, record, threads=args.threads,
                               progress=sys.stderr.isatty())
    print(pretrain.format_table(result.metrics))
    pretrain.write_pretrained(args.output, result)
    print(f"wrote {len(result.committee.members)} members, {pretrain.METRICS_FILE} and confusion "
          f"matrices to {args.output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return cli.run(lambda: run(args))

