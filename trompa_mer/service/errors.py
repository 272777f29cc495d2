"""Every failure as `{"error": "<one line>"}`: the library's exceptions mapped to statuses in one place."""

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trompa_mer.errors import (
    AudioTooLongError,
    BusyError,
    CommitteeError,
    EmptyPoolError,
    MissingCrowdError,
    MissingFamilyError,
    NoPendingQueryError,
    PendingQueryError,
    TooManySongsError,
    TooManyUsersError,
    TrompaError,
    UnknownTokenError,
    UnknownUserError,
    UserExistsError,
)

STATUS: tuple[tuple[type[TrompaError], int], ...] = (
    (UnknownUserError, 404),
    (AudioTooLongError, 413),
    (TooManyUsersError, 507),
    (UnknownTokenError, 404),
    (UserExistsError, 409),
    (BusyError, 409),
    (PendingQueryError, 409),
    (NoPendingQueryError, 409),
    (CommitteeError, 500),  # the server's own committee files, never the request's fault
    (TrompaError, 400),
)
"""The first class an exception is an instance of gives its status: most specific first."""
HINTS: tuple[tuple[type[TrompaError], str], ...] = (
    (UnknownUserError, "create the user first (POST /users)"),
    (PendingQueryError, 'annotate it (POST /users/{id}/annotations), or send "requery": true to replace it'),
    (TooManySongsError, 'ask for fewer songs ("n")'),
    (AudioTooLongError, "send an excerpt"),
    (TooManyUsersError, "delete users who no longer listen (DELETE /users/{id}), or ask the server's "
                        "operator to raise TPL_MAX_USERS"),
    (EmptyPoolError, "the server's operator has not extracted any audio into its features folder yet"),
    (MissingCrowdError, "this server has no crowd annotations (its operator sets TPL_CROWD_ANNOTATIONS); "
                        "choose another strategy"),
    (MissingFamilyError, "send the audio instead, or a CSV extract_features.py wrote with every family; "
                         "for the server's own songs, its operator adds them (extract_features.py --add)"),
)
"""How a client fixes a library error, in the API's words, after the library's message."""

log = logging.getLogger("trompa_mer.service")


def status_of(exc: TrompaError) -> int:
    return next(status for kind, status in STATUS if isinstance(exc, kind))


def client_message(exc: TrompaError) -> str:
    """The library's message and, where HINTS has one, how the client fixes it."""
    hint = next((hint for kind, hint in HINTS if isinstance(exc, kind)), None)
    return f"{exc}; {hint}" if hint else str(exc)


def one_line(text: str) -> str:
    """`text` on one line, and encodable: a lone surrogate (a JSON key such as "\\ud800") is written
    as its escape, so the refusal naming it can still be sent."""
    return " ".join(str(text).encode("utf-8", "backslashreplace").decode("utf-8").split())


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": one_line(message)}, status_code=status, headers=headers)


def validation_message(exc: RequestValidationError) -> str:
    """The first problem of a request that does not fit its schema, as `where: what`."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    return f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg", "invalid request"))


def without_folders(message: str, folders: dict[str, Path]) -> str:
    """`message` with the server's data folders named by what they are (`<users>/827`), not by where
    they are: the library's messages are written for the person at the server's shell."""
    for name, folder in sorted(folders.items(), key=lambda item: -len(str(item[1]))):
        message = message.replace(str(folder), f"<{name}>")
    return message


def install(app: FastAPI, folders: dict[str, Path]) -> None:
    """Register the handlers: library errors by STATUS (`folders` hidden from clients, kept in the
    log), HTTP errors and bad requests (400, not 422) as the same JSON; anything unexpected is
    `Unexpected`'s."""

    @app.exception_handler(TrompaError)
    async def library_error(request: Request, exc: TrompaError) -> JSONResponse:
        status = status_of(exc)
        if status >= 500:
            log.error("%s %s: %s", request.method, request.url.path, exc, exc_info=exc)
        return error(status, without_folders(client_message(exc), folders))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error(400, validation_message(exc))



PLAIN_REFUSALS = {
    413: "the request body is too large",
    416: "the range asked for starts beyond the end of the file",
}
"""Plain-text refusals Starlette sends from outside the exception handlers (its body limits; a
FileResponse's range errors), in the service's words; others keep Starlette's text."""


class JsonRefusals:
    """ASGI middleware: a plain-text refusal sent from outside the exception handlers (FastAPI's body
    limits, FileResponse's range errors) goes out as `{"error": …}` like every other one, keeping
    its headers (Content-Range of a 416)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start: Message | None = None
        body = b""

        async def send_json(message: Message) -> None:
            nonlocal start, body
            if message["type"] == "http.response.start" and message["status"] >= 400 and \
                    dict(message.get("headers", ())).get(b"content-type", b"").startswith(b"text/plain"):
                start = message
            elif start is None:
                await send(message)
            elif message["type"] == "http.response.body":
                body += message.get("body", b"")
                if not message.get("more_body", False):
                    status = start["status"]
                    text = PLAIN_REFUSALS.get(status) or body.decode("utf-8", "replace") or "refused"
                    kept = {k.decode("latin-1"): v.decode("latin-1") for k, v in start.get("headers", ())
                            if k not in (b"content-type", b"content-length")}
                    response = error(status, text, kept)
                    await send({"type": "http.response.start", "status": status,
                                "headers": response.raw_headers})
                    await send({"type": "http.response.body", "body": response.body})

        await self.app(scope, receive, send_json)


INTERNAL = "internal error: see the server's log"


class Unexpected:
    """ASGI middleware, the outermost: any exception is a JSON 500 that names nothing of the server,
    its traceback in the log. Starlette's own last handler re-raises after answering, and uvicorn
    then closes the connection under a client that may be sending its next request on it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception:
            log.exception("%s %s failed", scope.get("method"), scope.get("path"))
            if started or scope["type"] != "http":
                raise  # too late for another answer: uvicorn closes the connection
            await error(500, INTERNAL)(scope, receive, send)
