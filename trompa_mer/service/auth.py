"""Bearer-token authentication for every path but the public ones, checked before a body is read."""

import hmac
import re

from starlette.types import ASGIApp, Receive, Scope, Send

from trompa_mer.service.errors import error

PUBLIC_PATH = re.compile(r"/health|/docs|/docs/oauth2-redirect|/openapi\.json|/annotate/[^/]+|/static/[^/]+")
"""Paths served without a token: the health check, the API's own documentation, and the annotation
page's shell and assets, which hold no user data (a browser navigation cannot send a bearer header;
the page's script sends the token on its calls)."""


def token_ok(header: str | None, tokens: tuple[str, ...]) -> bool:
    """Whether `Authorization: Bearer <token>` names one of `tokens`; every token is compared in
    constant time, so the answer's timing tells nothing about them."""
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return False
    given_bytes = given.strip().encode()
    matches = [hmac.compare_digest(given_bytes, token.encode()) for token in tokens]
    return any(matches)


class BearerAuth:
    """ASGI middleware: a request to a non-public path without a valid token gets 401 at once."""

    def __init__(self, app: ASGIApp, tokens: tuple[str, ...]) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.tokens or PUBLIC_PATH.fullmatch(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        header = headers.get(b"authorization", b"").decode("latin-1")
        if token_ok(header, self.tokens):
            await self.app(scope, receive, send)
            return
        response = error(401, "a valid token is required: send Authorization: Bearer <token>",
                         {"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)
