"""Predict the emotion quadrant of a song's feature CSV, per window and for the song.

python3 predict_emotion.py -i song.csv -o song.json -m default
python3 predict_emotion.py -i song.csv -o song.json -u USER_ID     (the user's whole committee)
"""

import argparse
import sys
from pathlib import Path

from trompa_mer import names, storage
from trompa_mer.commands import cli, settings
from trompa_mer.committee import folder as committees
from trompa_mer.committee.predict import predict
from trompa_mer.users import folder as user


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--input", required=True, type=Path, help="features CSV of one song")
    parser.add_argument("-o", "--output", required=True, type=Path, help="the JSON to write")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("-m", "--model", help="a member .pkl, a committee folder, or 'default': the "
                     f"pretrained {committees.DEFAULT_MEMBER} as the original, or the whole pretrained "
                     "committee when it has no such member")
    who.add_argument("-u", "--user_id", help="predict with this user's whole committee")
    cli.add_scaling_option(parser)
    return parser


def load(args: argparse.Namespace) -> tuple[committees.Committee, str]:
    if args.user_id:
        with user.open_user(settings.USERS_DIRECTORY, args.user_id) as folder:
            return committees.load_committee(folder), f"user:{args.user_id}"
    path = Path(args.model)
    if args.model == "default":
        path = settings.PRETRAINED_DIRECTORY / committees.DEFAULT_MEMBER
        if not path.is_file():
            path = settings.PRETRAINED_DIRECTORY
    if path.is_dir():
        return committees.load_committee(path), str(path)
    return committees.load_single(path), str(path)


def run(args: argparse.Namespace) -> None:
    storage.check_output_file(args.output, ".json")
    committee, model = load(args)
    scaling = args.scaling or committee.default_scaling()
    if scaling == names.SCALING_ORIGINAL and args.scaling is None:
        print(f"note: no {committees.SCALER_FILE} beside {model}: scaling as the original tool "
              "(a StandardScaler fitted on this file's rows)", file=sys.stderr)
    result = predict(committee, args.input, scaling, model)
    storage.write_json(args.output, result)
    print(f"{result['highest_prob_quad']} (mean probabilities "
          f"{', '.join(f'{p:.2f}' for p in result['mean_probs'])}) → {args.output}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return cli.run(lambda: run(args))

