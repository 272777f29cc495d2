"""Serve the HTTP API and the annotation page (FastAPI on uvicorn; its OpenAPI schema at /openapi.json).

python3 serve.py --host 127.0.0.1 --port 8000      (tokens from TPL_API_TOKEN, comma-separated)
python3 serve.py --no-auth                         (loopback only: no token asked)
"""

import argparse
import ipaddress
import multiprocessing
import socket

from trompa_mer.commands import cli, settings
from trompa_mer.errors import ServiceError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default %(default)s; 0.0.0.0 for every interface)")
    parser.add_argument("--port", type=int, default=8000,
                        help="port to listen on (default %(default)s; 0 picks a free one, printed)")
    parser.add_argument("--no-auth", action="store_true",
                        help="serve without tokens; only with a loopback --host")
    parser.add_argument("--workers", type=int, default=1,
                        help="server processes over the same folders (default %(default)s)")
    return parser


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_auth(host: str, no_auth: bool, tokens: tuple[str, ...]) -> tuple[str, ...]:
    """The tokens to require; refuse to serve unprotected anywhere but on loopback."""
    if no_auth:
        if not is_loopback(host):
            raise ServiceError(f"--no-auth is only allowed on a loopback --host (127.0.0.1, ::1, localhost), "
                               f"not {host}: set TPL_API_TOKEN instead")
        return ()
    if not tokens:
        raise ServiceError("no API token: set TPL_API_TOKEN (several comma-separated), or pass --no-auth "
                           "with a loopback --host")
    return tokens


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, so a taken port is one error line and --port 0 gets a free one."""
    if not 0 <= port <= 65535:
        raise ServiceError(f"--port must be between 0 and 65535, not {port}")
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP named, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
        # and without it every keep-alive response waited ~40 ms for a delayed ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        raise ServiceError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def run(args: argparse.Namespace) -> None:
    # imported by a run, not by --help: the service pulls in FastAPI, sklearn and xgboost (bench/imports.py)
    import uvicorn
    from threadpoolctl import threadpool_limits

    from trompa_mer import storage
    from trompa_mer.features import smile
    from trompa_mer.service.app import create_app
    from trompa_mer.service.browsers import LOOPBACK_NAMES
    from trompa_mer.service.config import ServiceConfig
    from trompa_mer.service.connections import HEAD_SECONDS, TimelyH11Protocol, accept_backlog
    from trompa_mer.service.workers import run_workers

    if args.workers < 1:
        raise ServiceError(f"--workers must be at least 1, not {args.workers}")
    tokens = check_auth(args.host, args.no_auth, settings.API_TOKENS)
    # Without tokens, a page of any site could reach the API through a name that resolves to loopback.
    allowed_hosts = settings.ALLOWED_HOSTS or (LOOPBACK_NAMES | {args.host.lower()} if not tokens else None)
    config = ServiceConfig(
        users_dir=settings.USERS_DIRECTORY, pretrained_dir=settings.DEFAULT_COMMITTEE,
        feats_dir=settings.FEATS_DIRECTORY, pool_cache_dir=settings.POOL_CACHE_DIRECTORY,
        crowd_file=settings.CROWD_ANNOTATIONS, audio_dir=settings.AUDIO_DIRECTORY, tokens=tokens,
        smilextract=smile.find_smilextract(settings.SMILEXTRACT, settings.OPENSMILE_DIRECTORY),
        window_seconds=settings.WINDOW_SECONDS, hop_seconds=settings.HOP_SECONDS,
        xgb_rounds=settings.XGB_UPDATE_ROUNDS, jobs=settings.JOBS, chunk_songs=settings.POOL_CHUNK_SONGS,
        max_upload_bytes=settings.MAX_UPLOAD_BYTES, max_audio_seconds=settings.MAX_AUDIO_SECONDS,
        max_analyses=settings.MAX_ANALYSES, max_users=settings.MAX_USERS, allowed_hosts=allowed_hosts,
        cors_origins=settings.CORS_ORIGINS)
    # Requests run on threads; a pool update's CSV readers must not be forked from a threaded process.
    multiprocessing.set_start_method("forkserver", force=True)
    # Requests run side by side, so BLAS and OpenMP pools of several threads per call only fight over
    # the cores: one thread each made /predict 6× faster on 2 loaded cores (bench/README.md).
    threadpool_limits(limits=1)
    sock = listen(args.host, args.port)
    storage.remove_stale_temporaries()  # the uploads of a server that was killed mid-request
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"serving on http://{shown}:{port} (API schema at /openapi.json; "
          f"{'no authentication' if not tokens else f'{len(tokens)} token(s)'}; "
          f"{args.workers} worker(s))", flush=True)
    server = uvicorn.Server(uvicorn.Config(create_app(config), log_level="info", http=TimelyH11Protocol,
                                           timeout_keep_alive=HEAD_SECONDS, backlog=accept_backlog()))
    run_workers(lambda: server.run(sockets=[sock]), args.workers)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return cli.run(lambda: run(args))
