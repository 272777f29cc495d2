"""The annotation page: `GET /annotate/{user_id}` and its three static files (package data in static/).

The page and its files need no token: they hold no user data, and a browser navigating to a link
cannot send a bearer header. The page's script takes the token from the link's fragment
(`/annotate/827#token=…`, which never reaches the server) and sends it with every API call.
"""

from functools import cache
from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

from trompa_mer.users.account import check_user_id

PAGE = "annotate.html"
ASSETS = {
    PAGE: "text/html; charset=utf-8",
    "annotate.js": "text/javascript; charset=utf-8",
    "annotate.css": "text/css; charset=utf-8",
}
"""The page's files in static/ by name, with their types; nothing else there is served."""

SECURITY_HEADERS = {
    # Only this app's own script, style, API and audio (Blob URLs of fetched songs); no inline code.
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "media-src 'self' blob:; img-src 'self' data:; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}

router = APIRouter(tags=["annotation page"])


@cache
def _asset(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


def _serve(name: str) -> Response:
    return Response(_asset(name), media_type=ASSETS[name], headers=SECURITY_HEADERS)


@router.get("/annotate/{user_id}", response_class=Response,
            responses={200: {"content": {"text/html": {}}, "description": "the annotation page"}})
def annotation_page(user_id: str) -> Response:
    """The page where a listener answers their pending query; open it as
    `/annotate/USER_ID#token=TOKEN`. No token needed for the page itself."""
    check_user_id(user_id)
    return _serve(PAGE)


@router.get("/static/{name}", response_class=Response, include_in_schema=False)
def static_file(name: str) -> Response:
    """The page's script and style sheet."""
    if name not in ASSETS or name == PAGE:
        raise HTTPException(404, f"no such file: {name}")
    return _serve(name)
