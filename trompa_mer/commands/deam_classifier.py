"""Pretrain the committee on DEAM or song-labelled features: one model per fold and model kind.

    python3 deam_classifier.py -cv 5 [--recipe real-music|original] [-m KIND|all] [--deam DIR]
                               [-o models/deam | --replace-pretrained]
                               [--source features|audio] [--cache DIR] [-j N] [--threads N]
                               [--seed 1987] [--note TEXT]
    python3 deam_classifier.py -cv 5 -m all --labels LABELS.csv --feats DIR [--group-column artist]
                               [-o models/deam | --replace-pretrained] [--threads N] [--seed 1987]
                               [--note TEXT]

The corpus is a DEAM folder (dynamic valence/arousal annotations label each window), or a features
folder of `<song_id>.csv` with a labels CSV (`song_id,quadrant[,…]`: every window of a song gets its
quadrant). Folds never split a group: a song, or with --group-column the songs sharing that column's
value (e.g. one artist's).
"""

import argparse
from pathlib import Path

from trompa_mer import storage
from trompa_mer.commands import cli, settings
from trompa_mer.datasets import deam, labelled
from trompa_mer.datasets.windows import GROUP_SONG, LabelledWindows
from trompa_mer.errors import TrainingError
from trompa_mer.features import smile
from trompa_mer.features.columns import FEATURE_NAMES
from trompa_mer.training import pretrain, recipes

DEFAULT_OUTPUT = settings.MODELS_DIRECTORY / "deam"
"""Where a committee goes without -o: never the shipped pretrained one, which needs --replace-pretrained."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-cv", "--folds", type=int, default=5,
                        help="cross-validation folds, by song (or --group-column): one model per fold "
                             "(default %(default)s)")
    parser.add_argument("--recipe", choices=recipes.RECIPES, default=None,
                        help="the committee's kinds and hyperparameters: vibenet (mlp + sgd on IS13 and on "
                             "the vibenet family), real-music (mlp + sgd on IS13, chosen on real clips) or "
                             "original (the original tool's xgb + gnb + sgd) (default "
                             f"{recipes.DEFAULT_RECIPE} with --labels, {recipes.DEAM_RECIPE} on DEAM, whose "
                             "features are IS13 alone)")
    parser.add_argument("-m", "--model", choices=pretrain.KIND_CHOICES, default=recipes.KIND_ALL,
                        help="one of the recipe's model kinds, or all of them (default %(default)s)")
    parser.add_argument("--deam", type=Path, default=None,
                        help=f"DEAM folder as distributed (default {settings.DEAM_DIRECTORY}; "
                             "not with --labels)")
    parser.add_argument("--labels", type=Path, default=None,
                        help="labels CSV of song-labelled features: song_id and quadrant (Q1..Q4) columns, "
                             "others ignored; trains on the --feats folder instead of DEAM")
    parser.add_argument("--feats", type=Path, default=None,
                        help="with --labels: folder of the songs' feature CSVs, <song_id>.csv as "
                             "extract_features.py writes them")
    parser.add_argument("--group-column", default=None,
                        help="with --labels: the column (e.g. artist) whose songs always share a fold "
                             "(default: each song alone)")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="committee folder to write; an existing committee there is replaced whole "
                             f"(default {DEFAULT_OUTPUT}; the pretrained committee only with "
                             "--replace-pretrained)")
    parser.add_argument("--replace-pretrained", action="store_true",
                        help=f"write the committee new users start from, {settings.PRETRAINED_DIRECTORY}, "
                             "replacing it whole")
    parser.add_argument("--source", choices=deam.SOURCES, default=None,
                        help=f"DEAM only. features: DEAM's own {deam.FEATURES_DIR}/<song_id>.csv; audio: "
                             f"extract {deam.AUDIO_DIR}/<song_id>.mp3 with our extractor (default: "
                             "features when that folder exists, else audio)")
    parser.add_argument("--cache", type=Path, default=None,
                        help=f"DEAM only: folder of the features extracted from DEAM's audio, reused on "
                             f"re-runs (default <deam>/{deam.CACHE_DIR})")
    parser.add_argument("-j", "--jobs", type=int, default=settings.JOBS,
                        help="audio files extracted at once (default: all cores)")
    parser.add_argument("--threads", type=int, default=0,
                        help="xgboost's threads (default 0: all cores; 1 is faster on a busy machine)")
    parser.add_argument("--seed", type=int, default=settings.DEAM_SEED,
                        help="seed of the folds and the members (default %(default)s)")
    parser.add_argument("--note", default="",
                        help="what the corpus is, recorded in manifest.json (default: DEAM, or the "
                             "labels file's name)")
    return parser


def check_sources(args: argparse.Namespace) -> None:
    """--labels with --feats, and neither with DEAM's own flags."""
    if args.labels is None:
        extra = [flag for flag, value in (("--feats", args.feats), ("--group-column", args.group_column))
                 if value is not None]
        if extra:
            raise TrainingError(f"{' and '.join(extra)} need --labels")
        return
    conflicting = [flag for flag, value in (("--deam", args.deam), ("--source", args.source),
                                            ("--cache", args.cache)) if value is not None]
    if conflicting:
        raise TrainingError(f"--labels trains on a features folder: it cannot be used with "
                            f"{' or '.join(conflicting)}")
    if args.feats is None:
        raise TrainingError("--labels needs --feats, the folder of the songs' feature CSVs")


def output_folder(args: argparse.Namespace) -> Path:
    """The committee folder to write: -o, the pretrained one with --replace-pretrained (and only
    then: a casual run must not replace the committee every new user starts from), else DEFAULT_OUTPUT."""
    pretrained = settings.PRETRAINED_DIRECTORY
    if args.replace_pretrained:
        if args.output is not None and args.output.resolve() != pretrained.resolve():
            raise TrainingError(f"--replace-pretrained writes {pretrained}: it cannot be used with "
                                f"-o {args.output}")
        return pretrained
    output = args.output or DEFAULT_OUTPUT
    if output.resolve() == pretrained.resolve():
        raise TrainingError(f"{output} is the pretrained committee every new user starts from: add "
                            "--replace-pretrained to replace it, or choose another -o")
    return output


def load_deam(args: argparse.Namespace, names: tuple[str, ...]) -> tuple[LabelledWindows, dict]:
    if names != FEATURE_NAMES:
        raise TrainingError(f"recipe {args.recipe} reads descriptors beyond IS13, which a DEAM folder does "
                            "not hold: train it on a features folder with --labels and --feats")
    folder = args.deam or settings.DEAM_DIRECTORY
    deam.check_folder(folder)
    source, both = deam.choose_source(folder, args.source)
    other = deam.SOURCE_AUDIO if source == deam.SOURCE_FEATURES else deam.SOURCE_FEATURES
    print(f"source: {source}" + (f" (both exist: --source {other} for the other)" if both else ""))
    command = None
    if source == deam.SOURCE_AUDIO:
        command = smile.find_smilextract(settings.SMILEXTRACT, settings.OPENSMILE_DIRECTORY)
        storage.remove_stale_temporaries()
    data = deam.load_windows(folder, source, args.cache, command, args.jobs, progress=True)
    return data, deam.corpus_record(folder, source)


def load_labelled(args: argparse.Namespace, names: tuple[str, ...]) -> tuple[LabelledWindows, dict]:
    print(f"source: {args.labels} on {args.feats}"
          + (f", grouped by {args.group_column}" if args.group_column else ""))
    data = labelled.load_windows(args.labels, args.feats, args.group_column, progress=True, names=names)
    return data, labelled.corpus_record(data, args.labels, args.feats, args.group_column)


def run(args: argparse.Namespace) -> int:
    args.recipe = args.recipe or (recipes.DEFAULT_RECIPE if args.labels else recipes.DEAM_RECIPE)
    kinds = recipes.recipe_kinds(args.recipe, args.model)
    pretrain.check_folds(args.folds)
    check_sources(args)
    output = output_folder(args)
    pretrain.check_output(output)
    names = recipes.feature_names(kinds)
    data, corpus = load_deam(args, names) if args.labels is None else load_labelled(args, names)
    for reason, songs in data.skipped.items():
        shown = ", ".join(songs[:5]) + (" …" if len(songs) > 5 else "")
        print(f"skipped {len(songs)} songs ({reason}): {shown}")
    print(f"training on {len(data.song_ids)} songs"
          + (f" of {data.n_groups} {data.group_by}s" if data.group_by != GROUP_SONG else "")
          + f", {len(data.y)} windows; {args.folds} folds × {', '.join(kinds)}")
    record = pretrain.training_record(data, corpus, kinds, args.folds, args.seed, args.note,
                                     args.recipe)
    result = pretrain.pretrain(data, kinds, args.folds, args.seed, record, threads=args.threads,
                               progress=True)
    print(pretrain.format_table(result.metrics))
    pretrain.write_pretrained(output, result)
    print(f"wrote {len(result.committee.members)} members, {pretrain.METRICS_FILE} and confusion "
          f"matrices to {output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return cli.run(lambda: run(args))
