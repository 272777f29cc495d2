"""uvicorn's HTTP/1.1 protocol (h11), with the two limits it lacks against idle and half-open sockets.

uvicorn times out a connection only between two requests, and any byte received disarms that timer:
a client that opens sockets and sends half a request head, or nothing, keeps each one open for good,
until the process runs out of file descriptors and stops accepting anyone (`/health` included).
"""

import resource

from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_SECONDS = 5
"""A connection must send a whole request head within this long of opening or of its last answer
(uvicorn's keep-alive timeout between requests is the same)."""


def open_files() -> int:
    """This process's file descriptors (RLIMIT_NOFILE's soft limit)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 16


def connection_limit() -> int:
    """Connections held at once: a quarter of this process's file descriptors, so the rest stays for
    the connections being accepted (`accept_backlog`, up to 3 of its bursts before the first can
    close older ones), and the files, pipes and processes requests use."""
    return max(8, open_files() // 4)


def accept_backlog() -> int:
    """The listening socket's queue, and what asyncio accepts in one go before any new connection
    can close an older one: an eighth of the file descriptors (2,048, uvicorn's default, took every
    descriptor of a process of 256 in one go)."""
    return max(16, min(2048, open_files() // 8))


class TimelyH11Protocol(H11Protocol):
    """H11Protocol, but (1) a connection that has not sent a whole request head within HEAD_SECONDS of
    opening or of its last answer is closed, however many bytes of it came; (2) beyond
    `max_connections`, a new connection closes the oldest one waiting for a request head (if every
    one is in a request, the new one is closed instead)."""

    max_connections = connection_limit()

    def connection_made(self, transport: object) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.opened = self.loop.time()
        self.head_deadline = self.loop.call_later(HEAD_SECONDS, self.head_overdue)
        if len(self.connections) > self.max_connections:
            waiting = [c for c in self.connections if isinstance(c, TimelyH11Protocol) and c.waiting()
                       and not c.transport.is_closing()]  # closing ones leave `connections` a turn later
            oldest = min(waiting, key=lambda c: c.opened, default=self)
            oldest.timeout_keep_alive_handler()

    def waiting(self) -> bool:
        """Whether the connection is between requests: no head received since its last answer."""
        return self.cycle is None or self.cycle.response_complete

    def head_overdue(self) -> None:
        if self.waiting():
            self.timeout_keep_alive_handler()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.head_deadline.cancel()
        self.head_deadline = self.loop.call_later(HEAD_SECONDS, self.head_overdue)

    def connection_lost(self, exc: Exception | None) -> None:
        self.head_deadline.cancel()
        super().connection_lost(exc)
