"""What the service is told at start: the scripts' folders and settings, its tokens and limits."""

from dataclasses import dataclass
from pathlib import Path

from trompa_mer.features.smile import SmileCommand


@dataclass(frozen=True)
class ServiceConfig:
    """The folders are those of the scripts (trompa_mer/commands/settings.py); `tokens` empty means no
    authentication (serve.py allows that only on loopback with --no-auth); `audio_dir` None serves no
    audio."""

    users_dir: Path
    pretrained_dir: Path
    feats_dir: Path
    pool_cache_dir: Path
    crowd_file: Path
    audio_dir: Path | None
    tokens: tuple[str, ...]
    smilextract: SmileCommand
    window_seconds: float
    hop_seconds: float
    xgb_rounds: int
    jobs: int
    chunk_songs: int
    max_upload_bytes: int
    max_audio_seconds: float
    max_analyses: int
    max_users: int
    allowed_hosts: frozenset[str] | None
    """The Host names answered; None: any."""
    cors_origins: frozenset[str]
