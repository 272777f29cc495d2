"""What a browser could be made to send: requests to a name the server does not answer to (DNS
rebinding), and requests from another site's page (a cross-site form POST needs no CORS)."""

from starlette.types import ASGIApp, Receive, Scope, Send

from trompa_mer.service.errors import error

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
"""The names a server on loopback answers to when it is told none (always under --no-auth)."""


def host_name(host: str) -> str:
    """The name of a Host header without its port: `[::1]:8000` → `::1`, `Example.org:80` → `example.org`."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


class BrowserGuard:
    """ASGI middleware: a Host outside `allowed_hosts` (None: any) is a 421; a request whose Origin is
    neither this server (the Host it was sent to) nor one of `origins` (the CORS ones) is a 403."""

    def __init__(self, app: ASGIApp, allowed_hosts: frozenset[str] | None, origins: frozenset[str]) -> None:
        self.app = app
        self.allowed_hosts = allowed_hosts
        self.origins = origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1").lower()
        origin = headers.get(b"origin", b"").decode("latin-1").lower()
        if self.allowed_hosts is not None and host_name(host) not in self.allowed_hosts:
            response = error(421, f"this server does not answer to the name {host_name(host)!r}; "
                                  f"it answers to {', '.join(sorted(self.allowed_hosts))}")
        elif origin and origin.partition("://")[2] != host and origin not in self.origins:
            response = error(403, f"requests from the pages of {origin} are refused")
        else:
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)
