"""A real `serve.py` process on a free loopback port, over a data layout the tests generate.

Use it from a test module with a fixture of the scope you want, e.g.

    @pytest.fixture(scope="module")
    def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[service_server.Server]:
        with service_server.start(tmp_path_factory.mktemp("service")) as running:
            yield running

then `httpx.get(server.url + "/health")`, with `server.headers` ({"Authorization": "Bearer …"}) on
every other call. The layout (`make_layout`): a small real committee as the pretrained one
(`pretrained/`), 24 songs in `data/feats/` (`song_00` … `song_23`, their true quadrants in
`Server.truth`), and a short wav for each in `audio/` (`TPL_AUDIO_DIRECTORY`; two in a subfolder,
one named in upper case), with a `secret.txt` beside `audio/` that must never be served, not even
through `audio/leak.wav`, a symlink to it; the server's TMPDIR is `tmp/`.
"""

import contextlib
import os
import re
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.committees import make_committee, make_pool
from tests.conftest import ROOT
from tests.signals import tone, write_wav

TOKEN = "test-token-0123456789abcdef"
"""The token the test server accepts (with a second one, OTHER_TOKEN: TPL_API_TOKEN holds both)."""
OTHER_TOKEN = "second-token-fedcba9876543210"
SECRET = "not for the web\n"
"""The content of `secret.txt`, beside the audio folder (and behind `audio/leak.wav`, a symlink)."""
START_SECONDS = 60.0
LISTENING = re.compile(r"serving on (http://\S+?) ")


@dataclass
class Server:
    url: str
    token: str
    root: Path
    truth: dict[str, str]
    log: Path
    process: subprocess.Popen = field(repr=False)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def client(self, **kwargs: object) -> httpx.Client:
        """An httpx client on this server, sending the token."""
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=120, **kwargs)


def make_layout(root: Path) -> dict[str, str]:
    """Committee, pool and audio under `root` (see the module's docstring); returns song → quadrant."""
    make_committee(root / "pretrained")
    truth = make_pool(root / "data" / "feats")
    audio = root / "audio"
    (audio / "album").mkdir(parents=True)
    for i, song in enumerate(sorted(truth)):
        name = {0: "album/song_00.wav", 1: "album/SONG_01.WAV"}.get(i, f"{song}.wav")
        write_wav(audio / name, tone(220.0 * (1 + i / 12), 0.5))
    (root / "tmp").mkdir()  # the server's TMPDIR: uploads' temporary files go there
    (root / "secret.txt").write_text(SECRET)
    (audio / "leak.wav").symlink_to(root / "secret.txt")  # a symlink out of the folder: never served
    return truth


def environment(root: Path, **extra: str) -> dict[str, str]:
    """The process environment pointing serve.py at `root`'s layout, with both tokens."""
    return {**os.environ, "TPL_INTERNAL_DATA_DIRECTORY": str(root),
            "TPL_PRETRAINED_DIRECTORY": str(root / "pretrained"), "TPL_AUDIO_DIRECTORY": str(root / "audio"),
            "TPL_API_TOKEN": f"{TOKEN}, {OTHER_TOKEN}", "TPL_JOBS": "2", "TMPDIR": str(root / "tmp"), **extra}


def launch(root: Path, *args: str, env: dict[str, str] | None = None,
           open_files: int | None = None) -> subprocess.Popen:
    """`python serve.py ARGS` with its output in `root/server.log`; `open_files` limits its file
    descriptors (RLIMIT_NOFILE)."""
    def limit() -> None:
        if open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    with open(root / "server.log", "ab") as log:
        return subprocess.Popen([sys.executable, str(ROOT / "serve.py"), *args], cwd=ROOT,
                                env=env or environment(root), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=limit)


def wait_until_up(process: subprocess.Popen, log: Path) -> str:
    """The base URL serve.py printed, once /health answers; AssertionError with its log if it dies."""
    deadline = time.monotonic() + START_SECONDS
    url = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve.py exited with {process.returncode}:\n{log.read_text()}")
        if url is None and (found := LISTENING.search(log.read_text())):
            url = found.group(1)
        if url is not None:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    return url
        time.sleep(0.1)
    raise AssertionError(f"serve.py did not answer within {START_SECONDS} s:\n{log.read_text()}")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM (uvicorn's graceful shutdown), then SIGKILL if it lingers; its group too."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextlib.contextmanager
def start(root: Path, *args: str, env: dict[str, str] | None = None,
          open_files: int | None = None) -> Iterator[Server]:
    """The layout in `root`, and serve.py on 127.0.0.1 and a free port over it until the block ends."""
    truth = make_layout(root)
    process = launch(root, "--host", "127.0.0.1", "--port", "0", *args, env=env, open_files=open_files)
    try:
        url = wait_until_up(process, root / "server.log")
        yield Server(url, TOKEN, root, truth, root / "server.log", process)
    finally:
        stop(process)
