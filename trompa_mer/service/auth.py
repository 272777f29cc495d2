"""Bearer-token authentication for every path but the public ones, checked before a body is read.

Two kinds of token: the admin tokens of TPL_API_TOKEN do everything; a listener token
(`trompa_mer.users.tokens`) only that user's own loop, LISTENER_CALLS, and the audio of the songs
that user was asked about (the /audio endpoint checks the song, from `listener_of`).
"""

import hmac
import re
from pathlib import Path

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from trompa_mer.service.errors import error
from trompa_mer.users import tokens as listener_tokens

PUBLIC_PATH = re.compile(r"/health|/openapi\.json|/annotate/[^/]+|/static/[^/]+")
"""Paths served without a token: the health check, the API's schema, and the annotation
page's shell and assets, which hold no user data (a browser navigation cannot send a bearer header;
the page's script sends the token on its calls)."""
LISTENER_CALLS: tuple[tuple[str, re.Pattern], ...] = (
    ("GET", re.compile(r"/users/(?P<user>[^/]+)")),
    ("POST", re.compile(r"/users/(?P<user>[^/]+)/queries")),
    ("POST", re.compile(r"/users/(?P<user>[^/]+)/annotations")),
    ("GET", re.compile(r"/users/(?P<user>[^/]+)/recommendations")),
    ("GET", re.compile(r"/audio/[^/]+")),
)
"""What a listener token may call (HEAD as GET); `user`, where the path names one, must be its own."""
LISTENER_KEY = "listener"
"""The request state's key for the user a listener token belongs to (absent for an admin token)."""


def token_ok(header: str | None, tokens: tuple[str, ...]) -> bool:
    """Whether `Authorization: Bearer <token>` names one of `tokens`; every token is compared in
    constant time, so the answer's timing tells nothing about them."""
    given = bearer(header)
    matches = [hmac.compare_digest(given.encode(), token.encode()) for token in tokens]
    return bool(given) and any(matches)


def bearer(header: str | None) -> str:
    """The token of `Authorization: Bearer <token>`, or "" for any other header."""
    scheme, _, given = (header or "").partition(" ")
    return given.strip() if scheme.lower() == "bearer" else ""


def listener_may(user_id: str, method: str, path: str) -> bool:
    """Whether `user_id`'s listener token may make this call (the audio's song is checked later)."""
    method = "GET" if method == "HEAD" else method
    for allowed, pattern in LISTENER_CALLS:
        found = pattern.fullmatch(path)
        if found and method == allowed:
            return found.groupdict().get("user", user_id) == user_id
    return False


def listener_of(request: Request) -> str | None:
    """The user whose listener token the request came with; None for an admin token or no auth."""
    return request.scope.get("state", {}).get(LISTENER_KEY)


class BearerAuth:
    """ASGI middleware: a request to a non-public path without a valid token gets 401 at once; a
    listener token outside its user's loop gets 403."""

    def __init__(self, app: ASGIApp, tokens: tuple[str, ...], users_dir: Path) -> None:
        self.app = app
        self.tokens = tokens
        self.users_dir = users_dir

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.tokens or PUBLIC_PATH.fullmatch(scope["path"]):
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        if token_ok(header, self.tokens):
            await self.app(scope, receive, send)
            return
        listener = listener_tokens.token_user(self.users_dir, bearer(header))
        if listener is None:
            response = error(401, "a valid token is required: send Authorization: Bearer <token>",
                             {"WWW-Authenticate": "Bearer"})
        elif not listener_may(listener, scope["method"], scope["path"]):
            response = error(403, f"a listener token of user {listener} may only use that user's own "
                                  "state, queries, annotations, recommendations and audio")
        else:
            scope.setdefault("state", {})[LISTENER_KEY] = listener
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)
