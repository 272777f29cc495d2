"""The whole TROMPA-MER loop on a small synthetic catalogue, through the same scripts a user runs.

Everything lives under data/demo/ (its own pool, pool cache and users); data/feats and real users
are never touched. Re-running reuses the catalogue and its features and starts a fresh demo user.
"""

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from trompa_mer.commands import settings
from trompa_mer.committee import files as committees
from trompa_mer.datasets import deam_layout, synth
from trompa_mer.features.pool import load_pool
from trompa_mer.learning.scoring import quadrant_probabilities
from trompa_mer.names import QUADRANTS
from trompa_mer.users import personalize

DEMO = settings.DATA_DIRECTORY / "demo"
AUDIO = DEMO / "audio"
FEATS = DEMO / "feats"
TRUTH = DEMO / "quadrants.csv"
USER = "demo"
OTHERS, OTHERS_ANSWER = ("demo-other-1", "demo-other-2"), 8
"""Other listeners of the demo platform, who answer a few songs (at random) before the demo user."""
SONGS, SECONDS, SEED = 24, 30, 7
ROUNDS, QUERIES = 3, 5
DEMO_SETTINGS = {"TPL_FEATS_DIRECTORY": FEATS, "TPL_POOL_CACHE_DIRECTORY": DEMO / "pool_cache",
                 "TPL_USERS_DIRECTORY": DEMO / "users"}
"""The demo's own pool and users, so data/feats and real users are never touched."""


def shown(value: object) -> str:
    """A path as a user can type it from the checkout (relative there), anything else as text."""
    if isinstance(value, Path) and value.is_relative_to(settings.ROOT):
        return str(value.relative_to(settings.ROOT))
    return str(value)


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def run(script: str, *args: object) -> str:
    """Run a root script as a user would, printing a command line that does the same when copied into
    a shell in the checkout; stop the demo if it fails."""
    argv = [sys.executable, str(settings.ROOT / script), *map(str, args)]
    env = " ".join(f"{name}={shown(path)}" for name, path in DEMO_SETTINGS.items())
    print("$", env, "python3", script, *map(shown, args), flush=True)
    result = subprocess.run(argv, env={**os.environ, **{k: str(v) for k, v in DEMO_SETTINGS.items()}},
                            stdout=subprocess.PIPE, text=True)
    if result.returncode != 0:
        sys.exit(f"demo stopped: {script} failed with exit code {result.returncode}")
    return result.stdout


def make_catalogue() -> dict[str, str]:
    """~24 synthetic 30 s excerpts with known quadrants (made once, then reused)."""
    if not TRUTH.is_file():
        with tempfile.TemporaryDirectory(dir=DEMO) as tmp:
            run("make_synthetic_deam.py", "-o", tmp, "-n", SONGS, "--seed", SEED,
                "--duration", SECONDS, "--annotation-start", 0)
            shutil.rmtree(AUDIO, ignore_errors=True)
            shutil.move(Path(tmp) / deam_layout.AUDIO_DIR, AUDIO)
            shutil.move(Path(tmp) / synth.QUADRANTS_FILE, TRUTH)
    else:
        print(f"reusing {len(list(AUDIO.glob('*.wav')))} excerpts in {AUDIO}")
    with open(TRUTH, newline="") as handle:
        return {row["song_id"]: row["quadrant"] for row in csv.DictReader(handle)}


def accuracy(truth: dict[str, str]) -> tuple[float, float, int]:
    """On the demo songs the user has not answered (how many: the third value), the share whose
    quadrant is the true one: by the user's committee alone, and by their probabilities with what the
    other demo listeners answered and their shift (predict_emotion.py -u)."""
    committee, view = personalize.load_user(DEMO / "users", USER, None)
    with load_pool(FEATS, DEMO / "pool_cache", names=committee.feature_names) as pool:
        songs = [song for song in pool.song_ids if song not in view.own]
        heard = quadrant_probabilities(committee, pool, songs, committee.default_scaling())
    true = np.array([QUADRANTS.index(truth[song]) for song in songs])
    alone = float(np.mean(heard.argmax(axis=1) == true))
    return alone, float(np.mean(view.probabilities(songs, heard).argmax(axis=1) == true)), len(songs)


def main() -> int:
    DEMO.mkdir(parents=True, exist_ok=True)
    step(f"1. a demo catalogue of {SONGS} synthetic {SECONDS} s excerpts with known quadrants")
    truth = make_catalogue()
    step("2. features of every excerpt, in parallel: IS13 (openSMILE), musicnn and vibenet")
    run("extract_features.py", "-i", AUDIO, "-o", FEATS, "--add")  # --add: a rerun completes older CSVs
    example = FEATS / f"{sorted(truth, key=int)[0]}.csv"
    step(f"3. emotion of one excerpt ({example.name}, truly {truth[example.stem]})")
    out = DEMO / "prediction.json"
    run("predict_emotion.py", "-i", example, "-o", out, "-m", "default")
    result = json.loads(out.read_text())
    probs = ", ".join(f"{q} {p:.2f}" for q, p in zip(QUADRANTS, result["mean_probs"], strict=True))
    print(f"   pretrained committee: {result['highest_prob_quad']} ({probs}); "
          f"windows per quadrant {result['freq_pred']}")
    step(f"4. other listeners: {', '.join(OTHERS)} each answer {OTHERS_ANSWER} songs, asked at random")
    if (DEMO / "users").exists():
        print(f"removing the previous demo users in {DEMO / 'users'}")
        shutil.rmtree(DEMO / "users")
    for other in OTHERS:
        run("create_user.py", "-i", other)
        asked = json.loads(run("get_hard_tracks.py", "-i", other, "-q", OTHERS_ANSWER, "--strategy", "rand",
                               "--json"))
        answers = DEMO / f"answers_{other}.json"
        answers.write_text(json.dumps({song: truth[song] for song in asked["queried"]}, indent=2))
        run("retrain_model.py", "-i", other, "-a", answers)
    step(f"5. a fresh user '{USER}'")
    run("create_user.py", "-i", USER)
    step(f"6. {ROUNDS} rounds: query {QUERIES} songs, a simulated listener answers, the user's shift learns")
    table = []
    for round_number in range(1, ROUNDS + 1):
        before = accuracy(truth)
        asked = json.loads(run("get_hard_tracks.py", "-i", USER, "-q", QUERIES, "--json"))
        answers = DEMO / f"answers_round{round_number}.json"
        answers.write_text(json.dumps({song: truth[song] for song in asked["queried"]}, indent=2))
        changed = run("retrain_model.py", "-i", USER, "-a", answers).strip().split("; ", 2)[-1]
        table.append((round_number, asked["queried"], asked["scores"], before, accuracy(truth), changed))
    step("7. what happened")
    trained_on = committees.read_manifest(settings.PRETRAINED_DIRECTORY).get("trained_on", {})
    print(f"The pretrained committee learnt from: {trained_on.get('note', 'unknown')}.\n"
          "These numpy-rendered excerpts are not real music: its accuracy on them says little about real\n"
          "songs (see the README for its figures on real music). Accuracy here is on the songs the user\n"
          "has NOT answered (a song they answered is predicted as they answered it, so counting it would\n"
          "flatter): by the committee alone, and with what the other listeners answered for those songs\n"
          "(the crowd, a member of every user's committee) and the user's shift (how their answers lean\n"
          "toward some quadrants, learnt from all of them). The consensus entropy beside each queried\n"
          "song is how much the committee's members (and the crowd) disagree about it, natural log:\n"
          f"0 when all are sure of one quadrant, {np.log(4):.2f} when all four are alike.\n")
    print(f"{'round':>5}  {'queried songs (consensus entropy)':<58} {'not answered':>12}  "
          f"{'committee alone':>15}  {'crowd + shift':>14}")
    for round_number, songs, scores, before, after, changed in table:
        listed = ", ".join(f"{s} ({scores[s]:.2f})" for s in songs)
        print(f"{round_number:>5}  {listed:<58} {before[2]:>5} → {after[2]:<4}  "
              f"{before[0]:>6.0%} → {after[0]:<5.0%}  {before[1]:>5.0%} → {after[1]:<5.0%}")
        print(f"{'':>7}retrain: {changed}")
    print(f"\nThe demo catalogue, features and user are in {DEMO}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
