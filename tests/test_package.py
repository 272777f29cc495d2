"""`pip install .` gives every command: the wheel holds every subpackage and its console scripts run."""

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT

SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package built into a wheel (offline, with this environment's setuptools) from a copy of
    the sources, so the build leaves nothing in the checkout, and installed into a folder of its own."""
    root = tmp_path_factory.mktemp("installed")
    source = root / "source"
    shutil.copytree(ROOT / "trompa_mer", source / "trompa_mer", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(root / "wheel"),
                    str(source)], check=True, capture_output=True)
    wheel, = (root / "wheel").glob("trompa_mer-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(root / "site"), str(wheel)],
                   check=True, capture_output=True)
    return root / "site"


def test_the_root_scripts_and_the_console_scripts_are_the_same_commands() -> None:
    roots = {path.stem for path in ROOT.glob("*.py") if path.name != "demo.py"}
    assert {target.split(":")[0].rsplit(".", 1)[1] for target in SCRIPTS.values()} == roots
    assert all(name == f"trompa-mer-{target.split(':')[0].rsplit('.', 1)[1].replace('_', '-')}"
               for name, target in SCRIPTS.items())


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_every_installed_command_runs_outside_the_checkout(installed: Path, name: str,
                                                           tmp_path: Path) -> None:
    result = subprocess.run([str(installed / "bin" / name), "--help"], cwd=tmp_path, capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(installed)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: ")


def test_the_installed_package_is_imported_from_the_install_not_the_checkout(installed: Path,
                                                                             tmp_path: Path) -> None:
    code = ("import trompa_mer.simulation.run, trompa_mer.commands.settings as s; "
            "print(trompa_mer.simulation.run.__file__); print(s.ROOT)")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(installed)}, check=True)
    module, root = result.stdout.splitlines()
    assert Path(module).is_relative_to(installed)
    assert Path(root) == tmp_path.resolve()


def bare_python() -> list[str]:
    """This interpreter without site-packages (`-S`): a Python lacking the requirements, as a new
    shell's `python3` is before the project's .venv is activated."""
    return [sys.executable, "-S"]


@pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "python").is_file(),
                    reason="this checkout has no .venv (make venv); CI's and a user's always have one")
def test_a_root_script_run_by_a_python_without_the_requirements_uses_the_checkouts_venv(
        tmp_path: Path) -> None:
    env = {**os.environ, "TPL_USERS_DIRECTORY": str(tmp_path / "users")}
    result = subprocess.run([*bare_python(), str(ROOT / "create_user.py"), "-i", "newcomer"],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "users" / "newcomer" / "pool_data.json").is_file()


@pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "python").is_file(),
                    reason="this checkout has no .venv (make venv); CI's and a user's always have one")
@pytest.mark.parametrize("bench", sorted(path.name for path in (ROOT / "bench").glob("*.py")))
def test_a_benchmark_run_by_a_python_without_the_requirements_uses_the_checkouts_venv(bench: str) -> None:
    """`python3 bench/quality.py …` as bench/README.md writes it, from a new shell."""
    result = subprocess.run([*bare_python(), str(ROOT / "bench" / bench), "--help"], capture_output=True,
                            text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: ")


def test_without_a_venv_a_python_lacking_the_requirements_gets_one_error_line(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    shutil.copy(ROOT / "create_user.py", checkout)
    (checkout / "trompa_mer").symlink_to(ROOT / "trompa_mer")
    result = subprocess.run([*bare_python(), str(checkout / "create_user.py"), "-i", "newcomer"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        f"error: {sys.executable} lacks the requirements (numpy, pandas, sklearn, xgboost, joblib, "
        "opensmile, pydub, tqdm): run `make venv` in the checkout (or `pip install -r requirements.txt`), "
        "then run the script again"]
def test_the_annotation_page_files_are_installed(installed: Path) -> None:
    source = ROOT / "trompa_mer" / "service" / "static"
    names = sorted(path.name for path in source.iterdir())
    assert {"annotate.html", "annotate.js", "annotate.css"} <= set(names)
    for name in names:
        assert (installed / "trompa_mer" / "service" / "static" / name).read_bytes() == \
            (source / name).read_bytes(), name
