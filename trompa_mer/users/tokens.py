"""Listener tokens: one user's access to their own loop, minted by the service's admin, stored hashed.

A token is `USER_ID.SECRET` (a user id never holds a dot): the user id says whose folder to look in,
and the folder's `listener_tokens.json` holds only each token's sha256, id and expiry, never the token.
The file is replaced atomically, so a check reads it without the user's lock (a retrain holding the
lock does not delay a listener's request).
"""

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from trompa_mer import storage
from trompa_mer.errors import TokenError, UnknownTokenError
from trompa_mer.users import account

TOKENS_FILE = "listener_tokens.json"
"""In the user's folder: `{"tokens": [{"id", "sha256", "expires"}]}`, expiry in Unix seconds."""
SEPARATOR = "."
"""Between the user id and the secret of a token."""
MAX_DAYS = 366


@dataclass(frozen=True)
class Minted:
    """A new token (shown once, to the admin who minted it), its id (to revoke it) and its expiry."""

    token: str
    token_id: str
    expires: float
    """Unix seconds."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _entries(folder: Path) -> list[dict]:
    """The folder's token entries; none when it has no tokens file, or one that is not ours."""
    try:
        data = storage.read_json(folder / TOKENS_FILE)
    except (OSError, ValueError):
        return []
    entries = data.get("tokens") if isinstance(data, dict) else None
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def mint(users_dir: Path, user_id: str, days: float, now: float | None = None) -> Minted:
    """A new listener token of `user_id`, valid `days` (above 0, at most MAX_DAYS); expired tokens of
    the user are dropped from the file meanwhile."""
    if not 0 < days <= MAX_DAYS:
        raise TokenError(f"a listener token lasts more than 0 and at most {MAX_DAYS} days, not {days}")
    now = time.time() if now is None else now
    with account.open_user(users_dir, user_id) as folder:
        token = f"{user_id}{SEPARATOR}{secrets.token_urlsafe(32)}"
        digest = _digest(token)
        minted = Minted(token, digest[:16], now + days * 86400)
        kept = [e for e in _entries(folder) if e.get("expires", 0) > now]
        storage.write_json(folder / TOKENS_FILE, {"tokens": [
            *kept, {"id": minted.token_id, "sha256": digest, "expires": minted.expires}]})
    return minted


def revoke(users_dir: Path, user_id: str, token_id: str) -> None:
    """Remove the token `token_id` of `user_id`; UnknownTokenError when the user has none of that id."""
    with account.open_user(users_dir, user_id) as folder:
        entries = _entries(folder)
        kept = [e for e in entries if e.get("id") != token_id]
        if len(kept) == len(entries):
            raise UnknownTokenError(f"user {user_id} has no listener token {token_id!r}")
        storage.write_json(folder / TOKENS_FILE, {"tokens": kept})


def token_user(users_dir: Path, token: str, now: float | None = None) -> str | None:
    """The user whose unexpired listener token `token` is, or None. Every stored digest of that user
    is compared in constant time."""
    user_id, separator, _ = token.partition(SEPARATOR)
    if not separator or not account.USER_ID_PATTERN.fullmatch(user_id):
        return None
    now = time.time() if now is None else now
    digest = _digest(token)
    matches = [hmac.compare_digest(digest, str(e.get("sha256", ""))) and e.get("expires", 0) > now
               for e in _entries(users_dir / user_id)]
    return user_id if any(matches) else None
