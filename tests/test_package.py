"""`pip install .` gives every command, working: the package installed with the dependencies it
declares into a fresh venv runs every console command outside the checkout, serves, and predicts with
the committee it ships."""

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest

from tests import service_server
from tests.committees import make_pool
from tests.conftest import ROOT
from trompa_mer.committee import files as committees

SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
COMMITTEE_FILES = ("classifier_*.pkl", "scaler.pkl", "manifest.json")


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv (no site packages of this one) holding the package and the dependencies it declares.

    The wheel is built offline with this environment's setuptools from a copy of the sources (the
    build leaves nothing in the checkout); pip then installs it with its dependencies, from pip's cache
    or the index, without byte-compiling them (~2 min instead of ~3)."""
    root = tmp_path_factory.mktemp("installed")
    source = root / "source"
    shutil.copytree(ROOT / "trompa_mer", source / "trompa_mer", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    pip = ["-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([sys.executable, *pip, "wheel", "--no-deps", "--no-build-isolation", "-w",
                    str(root / "wheel"), str(source)], check=True, capture_output=True)
    wheel, = (root / "wheel").glob("trompa_mer-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True, capture_output=True)
    python = str(root / "venv" / "bin" / "python")
    subprocess.run([python, *pip, "install", "--no-compile", str(wheel)], check=True, capture_output=True)
    return root / "venv"


def installed(venv: Path) -> Path:
    """The installed package's folder in the venv."""
    site, = (venv / "lib").glob("python3.*/site-packages")
    return site / "trompa_mer"


def clean_environment() -> dict[str, str]:
    """This environment without a trace of the checkout (its settings, its venv, its path)."""
    return {key: value for key, value in os.environ.items()
            if not key.startswith("TPL_") and key not in ("PYTHONPATH", "VIRTUAL_ENV")}


def command(venv: Path, name: str, *args: object, cwd: Path,
            env: dict | None = None) -> subprocess.CompletedProcess:
    """Run an installed console command from `cwd`."""
    return subprocess.run([str(venv / "bin" / name), *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, env={**clean_environment(), **(env or {})})


def test_the_root_scripts_and_the_console_scripts_are_the_same_commands() -> None:
    roots = {path.stem for path in ROOT.glob("*.py") if path.name != "demo.py"}
    assert {target.split(":")[0].rsplit(".", 1)[1] for target in SCRIPTS.values()} == roots
    assert all(name == f"trompa-mer-{target.split(':')[0].rsplit('.', 1)[1].replace('_', '-')}"
               for name, target in SCRIPTS.items())


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_every_installed_command_runs_outside_the_checkout(venv: Path, name: str, tmp_path: Path) -> None:
    result = command(venv, name, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: ")


def test_the_installed_package_is_imported_from_the_install_not_the_checkout(venv: Path,
                                                                             tmp_path: Path) -> None:
    code = ("import trompa_mer.simulation.run, trompa_mer.commands.settings as s; "
            "print(trompa_mer.simulation.run.__file__); print(s.ROOT); print(s.DEFAULT_COMMITTEE)")
    result = subprocess.run([str(venv / "bin" / "python"), "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, check=True)
    module, root, committee = result.stdout.splitlines()
    assert Path(module).is_relative_to(installed(venv))
    assert Path(root) == tmp_path.resolve()
    assert Path(committee) == installed(venv) / "pretrained"


def test_the_installed_package_ships_the_default_committee(venv: Path) -> None:
    shipped = installed(venv) / "pretrained"
    for pattern in COMMITTEE_FILES:
        files = sorted((ROOT / "models" / "pretrained").glob(pattern))
        assert files, pattern
        for path in files:
            assert (shipped / path.name).read_bytes() == path.read_bytes(), path.name


def test_a_new_user_and_a_default_prediction_work_from_the_installed_package(venv: Path,
                                                                            tmp_path: Path) -> None:
    make_pool(tmp_path / "feats", n_songs=1,
              names=committees.read_manifest(ROOT / "models" / "pretrained")["feature_names"])
    song, = (tmp_path / "feats").glob("*.csv")
    created = command(venv, "trompa-mer-create-user", "-i", "u1", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert (tmp_path / "models" / "users" / "u1" / "manifest.json").read_bytes() == \
        (ROOT / "models" / "pretrained" / "manifest.json").read_bytes()
    for who, name in ((("-m", "default"), "default"), (("-u", "u1"), "user:u1")):
        out = tmp_path / f"{name.replace(':', '_')}.json"
        predicted = command(venv, "trompa-mer-predict-emotion", "-i", song, "-o", out, *who, cwd=tmp_path)
        assert predicted.returncode == 0, predicted.stderr
        result = json.loads(out.read_text())
        assert result["model"] == name
        assert result["highest_prob_quad"] in ("Q1", "Q2", "Q3", "Q4")


def test_a_failed_create_user_leaves_no_folder_behind(venv: Path, tmp_path: Path) -> None:
    result = command(venv, "trompa-mer-create-user", "-i", "u1", cwd=tmp_path,
                     env={"TPL_PRETRAINED_DIRECTORY": "no-such-committee"})
    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert list(tmp_path.iterdir()) == []


def test_the_installed_service_starts_and_answers_health(venv: Path, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with open(log, "ab") as out:
        process = subprocess.Popen([str(venv / "bin" / "trompa-mer-serve"), "--no-auth", "--port", "0"],
                                   cwd=tmp_path, env=clean_environment(), stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = service_server.wait_until_up(process, log)
        assert httpx.get(url + "/health").json() == {"status": "ok"}
    finally:
        service_server.stop(process)


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
def test_the_annotation_page_files_are_installed(venv: Path) -> None:
    source = ROOT / "trompa_mer" / "service" / "static"
    names = sorted(path.name for path in source.iterdir())
    assert {"annotate.html", "annotate.js", "annotate.css"} <= set(names)
    for name in names:
        copy = installed(venv) / "service" / "static" / name
        assert copy.read_bytes() == (source / name).read_bytes(), name
