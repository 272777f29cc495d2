"""Paths and constants of TROMPA-MER's commands. Every path can be overridden by an environment variable.

`TPL_INTERNAL_DATA_DIRECTORY` moves `models/users` and `data` together, as in the original tool.
The commands resolve these values and pass them to the library, which never reads them itself. A
malformed number (`TPL_JOBS=abc`) ends the command with one `error:` line naming the variable.
Default paths are inside the checkout this package runs from; an installed package (`pip install .`)
uses the current folder instead, and starts users from the committee it ships unless the current
folder has its own models/pretrained. A relative path in a variable is taken from that same project
folder, not from wherever the command is started, so `TPL_PRETRAINED_DIRECTORY=models/deam` means the same
folder as the default `models/pretrained` does.
"""

import os
from pathlib import Path

from trompa_mer import defaults, progress
from trompa_mer.cores import available_cores

PACKAGE = Path(__file__).resolve().parents[1]
SHIPPED_COMMITTEE = PACKAGE / "pretrained"
"""The default committee as the package ships it (package data; in a checkout, models/pretrained)."""


def _in_checkout() -> bool:
    checkout = PACKAGE.parent
    return (checkout / "pyproject.toml").is_file() and (checkout / "models").is_dir()


ROOT = PACKAGE.parent if _in_checkout() else Path.cwd()


def _path(variable: str, default: Path) -> Path:
    value = os.environ.get(variable)
    return ROOT / Path(value).expanduser() if value else default


def _number(variable: str, kind: type[int] | type[float], default: int | float) -> int | float:
    """`variable`'s value as a positive `kind`, or `default` when unset or empty."""
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    what = "whole number" if kind is int else "number"
    try:
        value = kind(text)
    except ValueError:
        raise SystemExit(f"error: {variable} must be a {what} above 0, not {text!r}") from None
    if not value > 0:
        raise SystemExit(f"error: {variable} must be a {what} above 0, not {text!r}")
    return value


INTERNAL_DATA_DIRECTORY = _path("TPL_INTERNAL_DATA_DIRECTORY", ROOT)
MODELS_DIRECTORY = _path("TPL_MODELS_DIRECTORY", ROOT / "models")
PRETRAINED_DIRECTORY = _path("TPL_PRETRAINED_DIRECTORY", MODELS_DIRECTORY / "pretrained")
"""The project's pretrained committee: where deam_classifier.py --replace-pretrained and
import_legacy.py --pretrained write it."""
DEFAULT_COMMITTEE = PRETRAINED_DIRECTORY if (
    os.environ.get("TPL_PRETRAINED_DIRECTORY") or _in_checkout() or PRETRAINED_DIRECTORY.exists()
) else SHIPPED_COMMITTEE
"""The committee new users start from and `-m default` names: the project's, and in an installed
package that has none (no TPL_PRETRAINED_DIRECTORY, no models/pretrained), the one it ships."""
USERS_DIRECTORY = _path("TPL_USERS_DIRECTORY", INTERNAL_DATA_DIRECTORY / "models" / "users")
DATA_DIRECTORY = _path("TPL_DATA_DIRECTORY", INTERNAL_DATA_DIRECTORY / "data")
FEATS_DIRECTORY = _path("TPL_FEATS_DIRECTORY", DATA_DIRECTORY / "feats")
POOL_CACHE_DIRECTORY = _path("TPL_POOL_CACHE_DIRECTORY", DATA_DIRECTORY / "pool_cache")
DEAM_DIRECTORY = _path("TPL_DEAM_DIRECTORY", DATA_DIRECTORY / "DEAM")
CROWD_ANNOTATIONS = _path("TPL_CROWD_ANNOTATIONS", DATA_DIRECTORY / "crowd_annotations.json")

# SMILExtract: this program if set; else SMILExtract on PATH; else the original's folder; else built-in.
SMILEXTRACT = os.environ.get("SMILEXTRACT", "")
OPENSMILE_DIRECTORY = _path("TPL_OPENSMILE_DIRECTORY", ROOT / "opensmile-3.0-linux-x64")

WINDOW_SECONDS = 1.0
HOP_SECONDS = 0.5
XGB_UPDATE_ROUNDS = 100
DEAM_SEED = 1987

JOBS = int(_number("TPL_JOBS", int, available_cores()))
"""Cores used by batch extraction, pool building and scoring (default: all this process may use)."""
POOL_CHUNK_SONGS = int(_number("TPL_POOL_CHUNK_SONGS", int, defaults.CHUNK_SONGS))
"""Songs scored at once per core: peak memory grows with this, not with the pool (see
trompa_mer/defaults.py)."""
PROGRESS_SECONDS = float(_number("TPL_PROGRESS_SECONDS", float, progress.LOG_EVERY_SECONDS))
"""When stderr is not a terminal (a log, a pipe), a progress line at most this often (progress.py)."""
DASK_CONNECT_SECONDS = float(_number("TPL_DASK_CONNECT_SECONDS", float, defaults.DASK_CONNECT_SECONDS))
"""How long extract_features.py --dask-scheduler waits for the scheduler to answer."""

# The HTTP service (serve.py).
API_TOKENS = tuple(token.strip() for token in os.environ.get("TPL_API_TOKEN", "").split(",") if token.strip())
"""Bearer tokens the service accepts (TPL_API_TOKEN, comma-separated); none: serve.py refuses to start
unless told --no-auth on loopback."""
AUDIO_DIRECTORY = _path("TPL_AUDIO_DIRECTORY", ROOT) if os.environ.get("TPL_AUDIO_DIRECTORY") else None
"""The songs' audio for the annotation page's players (GET /audio/SONG_ID); unset: no audio served."""
MAX_UPLOAD_BYTES = int(_number("TPL_MAX_UPLOAD_MB", float, 100) * 1024 * 1024)
"""The largest file POST /predict accepts (TPL_MAX_UPLOAD_MB, default 100 MB)."""
MAX_AUDIO_SECONDS = float(_number("TPL_MAX_AUDIO_SECONDS", float, 900))
"""The longest audio POST /predict analyses (TPL_MAX_AUDIO_SECONDS, default 15 minutes)."""
MAX_ANALYSES = int(_number("TPL_MAX_ANALYSES", int, available_cores()))
"""Audio uploads POST /predict analyses at once (TPL_MAX_ANALYSES, default: cores); more wait outside."""
ALLOWED_HOSTS = frozenset(host.strip().lower() for host in os.environ.get("TPL_ALLOWED_HOSTS", "").split(",")
                          if host.strip())
"""The names (Host headers, port aside) the service answers to (TPL_ALLOWED_HOSTS, comma-separated);
none: any with tokens, only loopback names with --no-auth."""
CORS_ORIGINS = frozenset(origin.strip() for origin in os.environ.get("TPL_CORS_ORIGINS", "").split(",")
                         if origin.strip())
"""Other sites' origins (`https://platform.example`) whose pages may call the API (TPL_CORS_ORIGINS)."""
MAX_USERS = int(_number("TPL_MAX_USERS", int, 1000))
"""The most users the service creates (TPL_MAX_USERS, default 1000: ~2.8 GB with the shipped committee)."""
