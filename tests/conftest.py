"""Shared helpers: run a root script as a real subprocess, a small world of users, find ../shared."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.committees import make_committee, make_pool

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def run_script(script: str, *args: object, env: dict | None = None, cwd: Path | None = None,
               check: bool = False) -> subprocess.CompletedProcess:
    """Run `python3 <script> args…` from the repository root, capturing text output."""
    full_env = {**os.environ, **(env or {})}
    result = subprocess.run([sys.executable, str(ROOT / script), *map(str, args)], cwd=cwd or ROOT,
                            env=full_env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{script} failed ({result.returncode}): {result.stderr}")
    return result


def error_line(result: subprocess.CompletedProcess) -> str:
    """The single `error:` line a refused command prints on stderr."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0, result
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture
def world(tmp_path: Path) -> dict:
    """A pretrained committee, a pool of 24 songs, and the environment pointing the scripts at them."""
    pretrained = tmp_path / "pretrained"
    make_committee(pretrained)
    truth = make_pool(tmp_path / "data" / "feats")
    env = {"TPL_INTERNAL_DATA_DIRECTORY": str(tmp_path), "TPL_PRETRAINED_DIRECTORY": str(pretrained)}
    return {"root": tmp_path, "env": env, "truth": truth, "pretrained": pretrained,
            "user": tmp_path / "models" / "users"}


@pytest.fixture
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent: the shared data are not beside this checkout")
    return SHARED
