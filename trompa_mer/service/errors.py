"""Every failure as `{"error": "<one line>"}`: the library's exceptions mapped to statuses in one place."""

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trompa_mer.errors import (
    BusyError,
    CommitteeError,
    EmptyPoolError,
    MissingCrowdError,
    MissingFamilyError,
    NoPendingQueryError,
    PendingQueryError,
    TooManySongsError,
    TrompaError,
    UnknownUserError,
    UserExistsError,
)

STATUS: tuple[tuple[type[TrompaError], int], ...] = (
    (UnknownUserError, 404),
    (UserExistsError, 409),
    (BusyError, 409),
    (PendingQueryError, 409),
    (NoPendingQueryError, 409),
    (CommitteeError, 500),  # the server's own committee files, never the request's fault
    (TrompaError, 400),
)
"""The first class an exception is an instance of gives its status: most specific first."""
HINTS: tuple[tuple[type[TrompaError], str], ...] = (
    (PendingQueryError, 'annotate it (POST /users/{id}/annotations), or send "requery": true to replace it'),
    (TooManySongsError, 'ask for fewer songs ("n")'),
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
    return " ".join(str(text).split())


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
    log), HTTP errors and bad requests (400, not 422) as the same JSON, anything unexpected as a 500
    whose traceback goes to the log only."""

    @app.exception_handler(TrompaError)
    async def library_error(request: Request, exc: TrompaError) -> JSONResponse:
        status = status_of(exc)
        if status >= 500:
            log.error("%s %s: %s", request.method, request.url.path, exc)
        return error(status, without_folders(client_message(exc), folders))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error(400, validation_message(exc))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return error(500, "internal error: see the server's log")


class JsonTooLarge:
    """ASGI middleware: the 413 FastAPI's body limits send as plain text (from outside the exception
    handlers) goes out as `{"error": …}` like every other refusal."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        replaced = False

        async def send_json(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start" and message["status"] == 413:
                replaced = True
                response = error(413, "the request body is too large")
                await send({"type": "http.response.start", "status": 413,
                            "headers": response.raw_headers})
                await send({"type": "http.response.body", "body": response.body})
            elif not replaced:
                await send(message)

        await self.app(scope, receive, send_json)
