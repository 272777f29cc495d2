"""Recommendations from a real serve.py process on a large pool: `GET /users/{id}/recommendations?
quadrant=Q1&n=10` latency at one client, then `/health` while 16 clients ask for recommendations.

    python bench/recommend.py [--feats DIR] [--cache DIR] [--songs 100000] [--windows 4] [--rule RULE]
                              [--requests 200] [--clients 16] [--committee models/pretrained] [--work DIR]

Without --feats a pool of --songs songs × --windows windows is generated into --work (once; 100,000
songs take a few minutes, and the first request then builds the store and scores the catalogue,
which takes minutes more). The user is new, of the default update rule unless --rule says another;
the server runs one worker. The clients run in this process (one thread and one connection each), on
the same cores as the server.
Targets (issue 24): p50 under 20 ms at one client on 100,000 songs; /health under 50 ms with 16.
"""

import argparse
import os
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

from bench.service import TOKEN, health_latencies, percentile
from tests import service_server
from tests.committees import write_quadrant_pool
from trompa_mer.committee import files as committees
from trompa_mer.names import DEFAULT_UPDATE_RULE, UPDATE_RULES

USER = "bench-recommend"
PATH = f"/users/{USER}/recommendations"
PARAMS = {"quadrant": "Q1", "n": 10}


def hammer(url: str, clients: int, stop: threading.Event) -> list[float]:
    """Recommendations asked by `clients` threads until `stop`: their latencies."""
    latencies: list[float] = []
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=600) as http:
            while not stop.is_set():
                started = time.perf_counter()
                http.get(PATH, params=PARAMS).raise_for_status()
                with lock:
                    latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    stop.wait()
    for thread in threads:
        thread.join()
    return latencies


def ms(values: list[float]) -> str:
    return (f"{len(values)} | {1000 * statistics.median(values):.1f} | {1000 * percentile(values, 95):.1f} | "
            f"{1000 * max(values):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feats", type=Path, help="an existing features folder (default: generated)")
    parser.add_argument("--cache", type=Path, help="the pool cache folder (default: beside the features)")
    parser.add_argument("--songs", type=int, default=100_000)
    parser.add_argument("--windows", type=int, default=4)
    parser.add_argument("--requests", type=int, default=200, help="recommendations at one client")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rule", choices=UPDATE_RULES, default=DEFAULT_UPDATE_RULE,
                        help="the user's update rule")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long the clients ask at once")
    parser.add_argument("--committee", type=Path, default=ROOT / "models" / "pretrained")
    parser.add_argument("--work", type=Path, default=ROOT / "data" / "bench-recommend")
    args = parser.parse_args()
    names = committees.read_manifest(args.committee)["feature_names"]
    feats = args.feats or args.work / f"feats-{args.songs}x{args.windows}x{len(names)}"
    if not feats.is_dir():
        write_quadrant_pool(feats, 0, args.songs, args.windows, seed=1, names=names)
    args.work.mkdir(parents=True, exist_ok=True)
    cache = args.cache or Path(f"{feats}.cache")
    env = {**os.environ, "TPL_FEATS_DIRECTORY": str(feats), "TPL_POOL_CACHE_DIRECTORY": str(cache),
           "TPL_USERS_DIRECTORY": str(args.work / "users"), "TPL_PRETRAINED_DIRECTORY": str(args.committee),
           "TPL_API_TOKEN": TOKEN}
    (args.work / "server.log").unlink(missing_ok=True)  # wait_until_up reads the first URL in it
    process = service_server.launch(args.work, "--port", "0", env=env)
    try:
        url = service_server.wait_until_up(process, args.work / "server.log")
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=3600) as http:
            http.delete(f"/users/{USER}")
            http.post("/users", json={"user_id": USER, "update_rule": args.rule}).raise_for_status()
            started = time.perf_counter()
            http.get(PATH, params=PARAMS).raise_for_status()
            first = time.perf_counter() - started
            one = []
            for _ in range(args.requests):
                started = time.perf_counter()
                http.get(PATH, params=PARAMS).raise_for_status()
                one.append(time.perf_counter() - started)
        idle = health_latencies(url, None)
        stop = threading.Event()
        found: dict[str, list[float]] = {}
        busy = threading.Thread(target=lambda: found.setdefault("latencies", hammer(url, args.clients, stop)))
        busy.start()
        time.sleep(1.0)  # every client under way
        timer = threading.Timer(args.seconds, stop.set)
        timer.start()
        during = health_latencies(url, busy)
        busy.join()
    finally:
        service_server.stop(process)
    print(f"serve.py, 1 worker; pool {feats} ({args.committee.name} committee); a {args.rule}-rule user; "
          f"{os.cpu_count()} cores; "
          f"load after {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"first request (the pool loaded, its catalogue read or scored): {first:.1f} s")
    print("\n| what | requests | p50 ms | p95 ms | max ms |\n|---|---:|---:|---:|---:|")
    print(f"| recommendations Q1 n 10, 1 client | {ms(one)} |")
    print(f"| recommendations, {args.clients} clients at once | {ms(found['latencies'])} |")
    print(f"| /health, idle | {ms(idle)} |")
    print(f"| /health while {args.clients} clients ask | {ms(during)} |")
    print(f"\np50 at one client vs the 20 ms target: {1000 * statistics.median(one) / 20:.2f}×; "
          f"/health p95 with {args.clients} clients vs 50 ms: {1000 * percentile(during, 95) / 50:.2f}×")


if __name__ == "__main__":
    main()
