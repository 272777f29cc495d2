"""Extraction speed on a 30 s, 44.1 kHz clip: the whole `extract_features.py` process (IS13 alone, and
every family) against the SMILExtract step alone, window aggregation loop against vectorised, a batch on
1 against 2 workers; and the whole process, wall and CPU, on a real 30 s mp3 of 4q-dev when it is there.

python bench/extract.py [--repeat 5] [--files 6] [--mp3 ../shared/data/4q-dev/audio/MT0000011357.mp3]

Each time is the best of --repeat runs (other processes on the machine only ever add time); CPU is the
process's and its children's (SMILExtract, ffmpeg) user + system time.
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trompa_mer.interpreter import use_project_python

use_project_python(__file__, ROOT)  # the checkout's .venv, when this Python lacks the requirements

from tests import signals
from tests.test_windows import loop_reference
from trompa_mer.commands import settings
from trompa_mer.features import smile, windows

RATE = 44100
CLIP_SECONDS = 30


def best(action: Callable[[], object], repeat: int) -> float:
    """Shortest wall time of `repeat` runs of `action`, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def cpu_and_wall(action: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Least CPU seconds (user + system of the children this process waited for) and least wall
    seconds of `repeat` runs of `action`."""
    cpu, wall = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        action()
        wall.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return min(cpu), min(wall)


def script(*args: object) -> None:
    subprocess.run([sys.executable, str(ROOT / "extract_features.py"), *map(str, args)], check=True,
                   cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--files", type=int, default=6, help="clips in the 1-vs-2-worker batch")
    parser.add_argument("--mp3", type=Path, default=ROOT.parent / "shared/data/4q-dev/audio/MT0000011357.mp3",
                        help="a real 30 s mp3 for the whole-process CPU figures (skipped when absent)")
    args = parser.parse_args()
    command = smile.find_smilextract(settings.SMILEXTRACT, settings.OPENSMILE_DIRECTORY)
    with tempfile.TemporaryDirectory(prefix="bench-extract.") as folder:
        work = Path(folder)
        clip = signals.write_wav(work / "clip.wav", signals.progression(CLIP_SECONDS / 4, rate=RATE), RATE)
        lld = work / "lld.csv"
        smile_alone = best(lambda: smile.run_smilextract(command, clip, lld, clip), args.repeat)
        whole = best(lambda: script("-i", clip, "-o", work / "clip.csv", "--families", "is13"), args.repeat)
        every = best(lambda: script("-i", clip, "-o", work / "every.csv"), args.repeat)
        mp3 = {families: cpu_and_wall(lambda f=families: script("-i", args.mp3, "-o", work / "mp3.csv",
                                                                "--families", *f), args.repeat)
               for families in (("is13",), ("is13", "vibenet"))} if args.mp3.is_file() else {}

        _, frames = smile.read_lld_csv(lld, clip)
        length = windows.window_frames(settings.WINDOW_SECONDS)
        hop = windows.window_frames(settings.HOP_SECONDS)
        loop = best(lambda: loop_reference(frames, length, hop), 1)
        vectorised = best(lambda: windows.window_statistics(frames, length, hop), args.repeat)

        batch = work / "batch"
        batch.mkdir()
        for i in range(args.files):
            os.link(clip, batch / f"clip_{i}.wav")
        jobs = {n: best(lambda n=n: script("-i", batch, "-o", work / f"out_{n}", "-j", n, "--overwrite"),
                        max(1, args.repeat // 2))
                for n in (1, 2)}

    print(f"cores {len(os.sched_getaffinity(0))}; SMILExtract: {' '.join(command.argv)}; "
          f"clip {CLIP_SECONDS} s at {RATE} Hz; best of {args.repeat}")
    print(f"extract_features.py, whole process   {whole:8.3f} s  (IS13 alone)")
    print(f"SMILExtract step alone                {smile_alone:8.3f} s")
    print(f"ratio whole / SMILExtract             {whole / smile_alone:8.2f}   (target <= 1.2)")
    print(f"extract_features.py, every family    {every:8.3f} s  (IS13 and vibenet)")
    for families, (cpu, wall) in mp3.items():
        print(f"{args.mp3.name}, {'+'.join(families):<12} {wall:6.3f} s wall, {cpu:6.3f} s CPU"
              + ("   (target <= 2.5 s CPU)" if len(families) > 1 else ""))
    print(f"aggregation, plain loop               {loop:8.3f} s  ({len(frames)} frames)")
    print(f"aggregation, vectorised               {vectorised:8.4f} s")
    print(f"ratio loop / vectorised               {loop / vectorised:8.0f}")
    print(f"batch of {args.files} clips, 1 worker           {jobs[1]:8.2f} s")
    print(f"batch of {args.files} clips, 2 workers          {jobs[2]:8.2f} s")
    print(f"speed-up 2 workers / 1                {jobs[1] / jobs[2]:8.2f}   (target >= 1.7)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
