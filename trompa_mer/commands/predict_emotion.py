"""Predict the emotion quadrant of a song's feature CSV, per window and for the song.

python3 predict_emotion.py -i song.csv -o song.json -m default
python3 predict_emotion.py -i song.csv -o song.json -u USER_ID     (the user's whole committee)
python3 predict_emotion.py -i data/feats/ -o predictions/ -m default   (one <stem>.json per CSV)
"""

import argparse
import glob
import sys
from pathlib import Path

from trompa_mer import names, storage
from trompa_mer.commands import cli, settings
from trompa_mer.committee import files as committees
from trompa_mer.committee.model import Committee
from trompa_mer.committee.predict import predict_file
from trompa_mer.errors import FeatureError, OutputError, TrompaError
from trompa_mer.features import audio, table
from trompa_mer.learning.personal import UserView
from trompa_mer.users import personalize


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--input", required=True, type=Path,
                        help="features CSV of one song, or a folder of them")
    parser.add_argument("-o", "--output", required=True, type=Path,
                        help="the JSON to write; a folder (created if missing) for a folder input")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("-m", "--model", help="a member .pkl, a committee folder, or 'default': the "
                     f"pretrained {committees.DEFAULT_MEMBER} as the original, or the whole pretrained "
                     "committee when it has no such member")
    who.add_argument("-u", "--user_id", help="predict with this user's whole committee, what other "
                     "listeners answered and the user's own answers")
    cli.add_crowd_option(parser)
    cli.add_scaling_option(parser)
    return parser


def load(args: argparse.Namespace) -> tuple[Committee, str, UserView | None]:
    """The committee `-m` or `-u` names, how the prediction JSON names it, and the user's view of it
    (None for `-m`)."""
    if args.user_id:
        committee, view = personalize.load_user(settings.USERS_DIRECTORY, args.user_id,
                                                settings.CROWD_ANNOTATIONS, args.crowd)
        return committee, f"user:{args.user_id}", view
    if args.model == "default":
        path, name = committees.default_model(settings.DEFAULT_COMMITTEE)
    else:
        path = Path(args.model)
        name = str(path)
    return committees.load_model(path), name, None


def predict_one(committee: Committee, csv: Path, scaling: str, model: str, view: UserView | None) -> dict:
    """The prediction JSON of one feature CSV; a user's (`personalize.personal_prediction`) with a view."""
    result = predict_file(committee, csv, scaling, model)
    return result if view is None else personalize.personal_prediction(result, table.song_id_of(csv), view)


def check_paths(source: Path, output: Path) -> None:
    """Refuse, before any model loads, an audio input and a file/folder mismatch of -i and -o."""
    if source.suffix.lower() in audio.SUPPORTED_SUFFIXES:
        csv = source.with_suffix(table.FEATURE_SUFFIX)
        raise FeatureError(f"{source} is audio: extract its features first (python3 extract_features.py "
                           f"-i {source} -o {csv}), then predict that CSV")
    if source.is_dir():
        if output.is_file() or output.suffix.lower() == ".json":
            raise OutputError(f"-i {source} is a folder, so -o must be a folder (one <stem>.json per CSV), "
                              f"not the file {output}")
        if not output.parent.is_dir():
            raise OutputError(f"output folder's parent does not exist: {output.parent}")
    elif output.is_dir():
        raise OutputError(f"-o {output} is a folder, so -i must be a folder of feature CSVs, "
                          f"not the file {source}")
    else:
        storage.check_output_file(output, ".json")


def predict_folder(committee: Committee, source: Path, out_dir: Path, scaling: str,
                   model: str, view: UserView | None) -> int:
    """One `<stem>.json` in `out_dir` per CSV of `source`; a failing CSV is reported, the others go on.
    Returns the exit code: 1 if any CSV failed."""
    csvs = list(table.feature_files(source).values())
    if not csvs:
        raise FeatureError(f"no feature CSVs in {source}: run extract_features.py on your audio first")
    out_dir.mkdir(exist_ok=True)
    storage.remove_stale_writes(out_dir, "*.json")  # what killed runs left
    failed = 0
    quadrants = dict.fromkeys(names.QUADRANTS, 0)
    for csv in csvs:
        try:
            result = predict_one(committee, csv, scaling, model, view)
            storage.write_json(out_dir / f"{csv.stem}.json", result)
            quadrants[result["highest_prob_quad"]] += 1
        except (TrompaError, OSError) as exc:
            failed += 1
            print(f"error: {csv}: {cli.message(exc)}", file=sys.stderr)
    counts = ", ".join(f"{quadrant} {count}" for quadrant, count in quadrants.items())
    print(f"predicted {len(csvs) - failed} ({counts}), failed {failed} → {out_dir}", file=sys.stderr)
    return 1 if failed else 0


def run(args: argparse.Namespace) -> int:
    check_paths(args.input, args.output)
    committee, model, view = load(args)
    scaling = args.scaling or committee.default_scaling()
    if scaling == names.SCALING_ORIGINAL and args.scaling is None:
        print(f"note: no {committees.SCALER_FILE} beside {model}: scaling as the original tool "
              "(a StandardScaler fitted on each file's rows)", file=sys.stderr)
    if args.input.is_dir():
        return predict_folder(committee, args.input, args.output, scaling, model, view)
    result = predict_one(committee, args.input, scaling, model, view)
    storage.remove_stale_writes(args.output.parent, glob.escape(args.output.name))  # what killed runs left
    storage.write_json(args.output, result)
    print(f"{result['highest_prob_quad']} (mean probabilities "
          f"{', '.join(f'{p:.2f}' for p in result['mean_probs'])}) → {args.output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return cli.run(lambda: run(args))

