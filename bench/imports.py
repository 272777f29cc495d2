"""What each command pays before it works: every root script's `--help`, and `extract_features.py` on a
30 s mp3, as whole processes: wall and CPU seconds (the process and the programs it runs), Python's
import time (`-X importtime`, all imports of the process) and which heavy libraries it imported.

python3 bench/imports.py [--repeat 5] [--checkout DIR]

Each figure is the best of --repeat runs (other processes only ever add time). --checkout measures
another checkout of the project (an older commit, to compare) with this interpreter.
"""

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trompa_mer.interpreter import use_project_python

use_project_python(__file__, ROOT)  # the checkout's .venv, when this Python lacks the requirements

from tests import signals

HEAVY = ("numpy", "pandas", "scipy", "sklearn", "xgboost", "joblib", "dask", "distributed", "opensmile",
         "pydub", "tqdm", "matplotlib", "fastapi", "uvicorn")
"""Libraries worth naming when a command imports them."""
CLIP_SECONDS = 30
RATE = 44100
IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+(?P<cumulative>\d+) \|(?P<indent> +)(?P<name>\S+)$")


def run(command: list[str], cwd: Path) -> tuple[float, float, str]:
    """Wall and CPU seconds of one process (with the processes it waited for), and its stderr."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"error: {' '.join(command)} failed:\n{result.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, result.stderr


def imports(stderr: str) -> tuple[float, list[str]]:
    """Seconds of all top-level imports in `-X importtime` output, and the HEAVY libraries among them."""
    total, heavy = 0, set()
    for line in stderr.splitlines():
        match = IMPORT_LINE.match(line)
        if not match:
            continue
        top = match["name"].split(".")[0]
        if top in HEAVY:
            heavy.add(top)
        if len(match["indent"]) == 1:
            total += int(match["cumulative"])
    return total / 1e6, [name for name in HEAVY if name in heavy]


def measure(args: list[str], checkout: Path, repeat: int) -> tuple[float, float, float, list[str]]:
    """Best wall, best CPU and best import seconds of `python <args>` run in `checkout`, and what it
    imported."""
    timings = [run([sys.executable, *args], checkout)[:2] for _ in range(repeat)]
    traced = [imports(run([sys.executable, "-X", "importtime", *args], checkout)[2]) for _ in range(repeat)]
    return (min(wall for wall, _ in timings), min(cpu for _, cpu in timings),
            min(seconds for seconds, _ in traced), traced[0][1])


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--checkout", type=Path, default=ROOT,
                        help="the checkout to measure (default: this one)")
    args = parser.parse_args()
    checkout = args.checkout.resolve()
    scripts = sorted(path.name for path in checkout.glob("*.py") if path.name != "demo.py")
    print(f"{checkout}, {sys.executable}, {os.cpu_count()} cores, load average {load()}, "
          f"best of {args.repeat}")
    print(f"{'command':<36} {'wall s':>7} {'CPU s':>7} {'imports s':>9}  heavy libraries imported")
    with tempfile.TemporaryDirectory(prefix="bench-imports.") as folder:
        work = Path(folder)
        wav = signals.write_wav(work / "clip.wav", signals.progression(CLIP_SECONDS / 4, rate=RATE), RATE)
        clip = signals.convert(wav, work / "clip.mp3", "-b:a", "192k")
        rows = [(f"{script} --help", [script, "--help"]) for script in scripts]
        rows.append((f"extract_features.py, {CLIP_SECONDS} s mp3",
                     ["extract_features.py", "-i", str(clip), "-o", str(work / "clip.csv")]))
        for label, command in rows:
            wall, cpu, seconds, heavy = measure(command, checkout, args.repeat)
            print(f"{label:<36} {wall:7.3f} {cpu:7.3f} {seconds:9.3f}  {', '.join(heavy) or '-'}", flush=True)
    print(f"load average after: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
