"""The commands' settings: a malformed environment value is one `error:` line naming the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.mark.parametrize(("variable", "value"), [("TPL_JOBS", "abc"), ("TPL_JOBS", "0"), ("TPL_JOBS", "-1"),
                                                 ("TPL_POOL_CHUNK_SONGS", "1.5"),
                                                 ("TPL_DASK_CONNECT_SECONDS", "soon")])
def test_a_bad_number_is_one_error_line_naming_the_variable(variable: str, value: str) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "get_hard_tracks.py"), "-i", "nobody", "-q", "1"],
                            capture_output=True, text=True, env={**os.environ, variable: value})
    assert result.returncode != 0
    assert result.stderr.splitlines() == [f"error: {variable} must be a "
                                          f"{'number' if 'SECONDS' in variable else 'whole number'} "
                                          f"above 0, not {value!r}"]


def test_only_the_commands_read_the_settings() -> None:
    """The library gets jobs, chunk sizes, timeouts and paths passed in."""
    readers = [str(path.relative_to(ROOT)) for path in (ROOT / "trompa_mer").rglob("*.py")
               if "trompa_mer.commands import" in path.read_text() and "commands" not in path.parts]
    assert readers == []


def test_relative_paths_in_variables_are_taken_from_the_project_like_the_defaults(tmp_path: Path) -> None:
    """Started from another folder, `TPL_PRETRAINED_DIRECTORY=models/pretrained` is still the
    checkout's shipped committee, as the default is."""
    users = tmp_path / "users"
    env = {**os.environ, "TPL_PRETRAINED_DIRECTORY": "models/pretrained", "TPL_USERS_DIRECTORY": str(users)}
    result = subprocess.run([sys.executable, str(ROOT / "create_user.py"), "-i", "elsewhere"], cwd=tmp_path,
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    copied = users / "elsewhere" / "manifest.json"
    assert copied.read_bytes() == (ROOT / "models" / "pretrained" / "manifest.json").read_bytes()


HEAVY = ("numpy", "pandas", "scipy", "sklearn", "xgboost", "joblib", "dask", "distributed", "tqdm", "fastapi",
         "uvicorn")


@pytest.mark.parametrize(("command", "needed"), [("create_user", set()), ("get_hard_tracks", set()),
                                                 ("retrain_model", set()), ("serve", set()),
                                                 ("extract_features", {"numpy"})])
def test_a_command_imports_only_what_it_uses(command: str, needed: set[str]) -> None:
    """The settings' defaults import nothing (trompa_mer/defaults.py), so `--help` imports no library,
    and extraction only numpy: none of the scoring stack, pandas or Dask (bench/imports.py)."""
    code = (f"import sys, trompa_mer.commands.{command} as command; command.build_parser(); "
            f"print(' '.join(name for name in {HEAVY!r} if name in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            check=True)
    assert set(result.stdout.split()) == needed
