"""The HTTP service under load, a real serve.py process: requests per second and p50 / p95 latency of
`POST /predict` (a 60-window feature CSV, the default committee) at 1, 4 and 16 concurrent clients, with
1 and with 2 server processes (`serve.py --workers`), and the latency of `GET /health` alone and while a
user's retrain runs (with the first worker count).

    python bench/service.py [--songs 500] [--requests 64] [--retrains 3] [--rule layer] [--workers 1 2]
                            [--committee models/pretrained] [--work DIR]

The clients run in this process (one thread and one connection each), on the same cores as the server.
"""

import argparse
import os
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trompa_mer.interpreter import use_project_python

use_project_python(__file__, ROOT)  # the checkout's .venv, when this Python lacks the requirements

import httpx

from tests import service_server
from tests.committees import write_quadrant_pool
from trompa_mer.committee import files as committees
from trompa_mer.names import QUADRANTS, UPDATE_RULES

TOKEN = "bench-token-0123456789abcdef"
LEVELS = (1, 4, 16)


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def load(url: str, clients: int, requests: int, csv: Path) -> tuple[float, list[float]]:
    """`requests` predictions of `csv` spread over `clients` threads: wall seconds, latencies."""
    body = csv.read_bytes()
    latencies: list[float] = []
    todo = iter(range(requests))
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=300) as http:
            while True:
                with lock:
                    if next(todo, None) is None:
                        return
                started = time.perf_counter()
                response = http.post("/predict", files={"file": (csv.name, body)})
                elapsed = time.perf_counter() - started
                response.raise_for_status()
                with lock:
                    latencies.append(elapsed)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, latencies


def health_latencies(url: str, busy: threading.Thread | None, seconds: float = 2.0) -> list[float]:
    """GET /health every 20 ms while `busy` runs (or for `seconds` when None)."""
    found = []
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=url, timeout=60) as http:
        while (busy.is_alive() if busy else time.monotonic() < deadline):
            started = time.perf_counter()
            http.get("/health").raise_for_status()
            found.append(time.perf_counter() - started)
            time.sleep(0.02)
    return found


def retrain_rounds(url: str, rule: str, rounds: int,
                   truth: dict[str, str]) -> tuple[list[float], list[float]]:
    """`rounds` query + retrain rounds of a new user, /health polled during each retrain: retrain
    seconds, /health latencies."""
    retrains, during = [], []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=600) as http:
        user = f"bench-{rule}"
        http.delete(f"/users/{user}")
        http.post("/users", json={"user_id": user, "update_rule": rule}).raise_for_status()
        for _ in range(rounds):
            query = http.post(f"/users/{user}/queries", json={"n": 10}).json()
            songs = [song["song_id"] for song in query["songs"]]
            answers = {"annotations": {song: truth[song] for song in songs}}
            result: dict = {}

            def retrain(answers: dict = answers, result: dict = result) -> None:
                started = time.perf_counter()
                result["response"] = http.post(f"/users/{user}/annotations", json=answers)
                result["seconds"] = time.perf_counter() - started

            thread = threading.Thread(target=retrain)
            thread.start()
            during += health_latencies(url, thread)
            thread.join()
            result["response"].raise_for_status()
            retrains.append(result["seconds"])
    return retrains, during


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=500, help="songs in the pool (60 windows each)")
    parser.add_argument("--requests", type=int, default=64, help="predictions per concurrency level")
    parser.add_argument("--retrains", type=int, default=3, help="retrains per update rule")
    parser.add_argument("--rule", choices=[*UPDATE_RULES, "both"], default="both")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="server processes: one server, and one /predict table, per count")
    parser.add_argument("--committee", type=Path, default=ROOT / "models" / "pretrained")
    parser.add_argument("--work", type=Path, default=ROOT / "data" / "bench-service")
    args = parser.parse_args()
    names = committees.read_manifest(args.committee)["feature_names"]
    feats = args.work / f"feats-{args.songs}x60x{len(names)}"
    if not feats.is_dir():
        write_quadrant_pool(feats, 0, args.songs, 60, seed=1, names=names)
    truth = {f"song_{i:06d}": QUADRANTS[i % 4] for i in range(args.songs)}  # write_quadrant_pool's
    shutil.rmtree(args.work / "users", ignore_errors=True)
    env = {**os.environ, "TPL_FEATS_DIRECTORY": str(feats), "TPL_POOL_CACHE_DIRECTORY": str(feats) + ".cache",
           "TPL_USERS_DIRECTORY": str(args.work / "users"), "TPL_PRETRAINED_DIRECTORY": str(args.committee),
           "TPL_API_TOKEN": TOKEN}
    for workers in args.workers:
        (args.work / "server.log").unlink(missing_ok=True)  # wait_until_up reads the first URL in it
        process = service_server.launch(args.work, "--port", "0", "--workers", str(workers), env=env)
        try:
            url = service_server.wait_until_up(process, args.work / "server.log")
            print(f"serve.py --workers {workers} at {url}; committee {args.committee}; pool {args.songs} "
                  f"songs × 60 windows; {os.cpu_count()} cores; load {os.getloadavg()[0]:.2f}")
            predictions(url, feats / "song_000000.csv", args.requests, workers)
            if workers == args.workers[0]:
                health_and_retrains(url, args, truth)
        finally:
            service_server.stop(process)


def predictions(url: str, csv: Path, requests: int, workers: int) -> None:
    """The /predict table at each of LEVELS' client counts."""
    for _ in range(2 * workers):  # warm-up: each worker loads the committee on its first prediction
        load(url, 1, 2, csv)
    print(f"\n| /predict, 60-window CSV, {workers} worker{'s' if workers > 1 else ''} | requests | req/s | "
          "p50 ms | p95 ms |\n|---|---:|---:|---:|---:|")
    for clients in LEVELS:
        wall, latencies = load(url, clients, requests, csv)
        print(f"| {clients} client{'s' if clients > 1 else ''} | {len(latencies)} | "
              f"{len(latencies) / wall:.1f} | {1000 * statistics.median(latencies):.0f} | "
              f"{1000 * percentile(latencies, 95):.0f} |")


def health_and_retrains(url: str, args: argparse.Namespace, truth: dict[str, str]) -> None:
    """The /health table: idle, and during retrains by each update rule asked for."""
    idle = health_latencies(url, None)
    print("\n| /health | polls | p50 ms | p95 ms | max ms | retrain s (mean) |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| idle | {len(idle)} | {1000 * statistics.median(idle):.1f} | "
          f"{1000 * percentile(idle, 95):.1f} | {1000 * max(idle):.1f} | |")
    for rule in UPDATE_RULES if args.rule == "both" else [args.rule]:
        retrains, during = retrain_rounds(url, rule, args.retrains, truth)
        print(f"| during a retrain ({rule} rule, 10 songs) | {len(during)} | "
              f"{1000 * statistics.median(during):.1f} | {1000 * percentile(during, 95):.1f} | "
              f"{1000 * max(during):.1f} | {statistics.mean(retrains):.2f} |")
    print(f"\nload after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
