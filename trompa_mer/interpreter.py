"""The root scripts' interpreter: `python3 create_user.py …` works as the README writes it.

After `make demo` or `make test`, the requirements live in the checkout's `.venv`, which a new shell
has not activated. A root script started by a Python that lacks them runs itself again with
`.venv/bin/python`; without that venv it stops with one `error:` line saying how to make it. Only the
standard library is used here, since the point is to run before the requirements can be imported.
"""

import importlib.util
import os
import sys
from pathlib import Path

REQUIRED_MODULES = ("numpy", "pandas", "sklearn", "xgboost", "joblib", "opensmile", "pydub", "tqdm")
"""Imported by every command; if any is missing, this Python is not the project's."""

_RERUN_MARK = "TPL_RERUN_IN_VENV"
"""Set on the re-run, so a venv that lacks the requirements too is reported, not re-run forever."""


def missing_modules() -> list[str]:
    return [name for name in REQUIRED_MODULES if importlib.util.find_spec(name) is None]


def use_project_python(script: str, checkout: Path | None = None) -> None:
    """Re-run `script` (a root script's or a benchmark's __file__) with the checkout's .venv when this
    Python lacks the requirements; return at once when it has them. `checkout` defaults to the
    script's folder, as for a root script."""
    missing = missing_modules()
    if not missing:
        return
    venv_python = (checkout or Path(script).resolve().parent) / ".venv" / "bin" / "python"
    if venv_python.is_file() and not os.environ.get(_RERUN_MARK):
        os.environ[_RERUN_MARK] = "1"
        os.execv(venv_python, [str(venv_python), script, *sys.argv[1:]])
    raise SystemExit(f"error: {sys.executable} lacks the requirements ({', '.join(missing)}): run "
                     "`make venv` in the checkout (or `pip install -r requirements.txt`), then run the "
                     "script again")
