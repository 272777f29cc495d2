"""The HTTP API: the library calls the scripts make, behind FastAPI (users, queries, annotations,
recommendations, predictions), plus the annotation page and the songs' audio.

Endpoints that compute are plain `def`s, so they run in the server's thread pool and `/health` keeps
answering; a user's lock is taken without waiting by the endpoints that change the user, so a second
concurrent query, retrain or delete is a 409 instead of a queue.
"""

import mimetypes
import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from fastapi import FastAPI, File, Form, HTTPException, Query, Request, Response, UploadFile
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.middleware.body_limit import RequestBodyLimitMiddleware

from trompa_mer import names, storage
from trompa_mer.committee import files as committees
from trompa_mer.committee.model import Committee
from trompa_mer.committee.predict import predict_audio, predict_file
from trompa_mer.errors import FeatureError
from trompa_mer.features import audio, table
from trompa_mer.features.audio_files import SONG_ID_PATTERN, AudioIndex
from trompa_mer.learning import strategies
from trompa_mer.service import errors, page
from trompa_mer.service.auth import BearerAuth, listener_of
from trompa_mer.service.browsers import BrowserGuard
from trompa_mer.service.config import ServiceConfig
from trompa_mer.service.head import HeadAsGet
from trompa_mer.users import account as user
from trompa_mer.users import personalize, tokens
from trompa_mer.users.pool_view import HeldScores

JSON_BODY_BYTES = 1 << 20
"""The largest JSON body any endpoint reads (POST /predict has its own, larger limit)."""
UPLOAD_NAME = "upload"
"""The stem temporary copies of uploads get: the client's file name never becomes a path."""
RETRY_AFTER_SECONDS = 5
"""What a 503 for too many analyses at once tells the client to wait."""


Strategy = Literal[names.STRATEGIES]
UpdateRule = Literal[names.UPDATE_RULES]


class NewUser(BaseModel):
    user_id: str = Field(description="1-64 characters of A-Z a-z 0-9 _ -")
    strategy: Strategy = Field(names.DEFAULT_STRATEGY, description="how the user's queries are chosen")
    update_rule: UpdateRule = Field(names.DEFAULT_UPDATE_RULE, description="how answers update the user")


class QueryRequest(BaseModel):
    n: int = Field(10, ge=1, description="how many songs to ask about")
    strategy: Strategy | None = Field(None, description="this query's strategy instead of the user's own")
    requery: bool = Field(False, description="replace a query still waiting for annotations")
    crowd: bool = Field(True, description="mc and mix count other listeners' answers as a member")


class NewToken(BaseModel):
    days: float = Field(30, gt=0, le=tokens.MAX_DAYS, description="how long the listener token lasts")


class Annotations(BaseModel):
    annotations: dict[str, str] = Field(description='{"song_id": "Q1", …} answering the pending query')
    crowd: bool = Field(True, description="the layer learns over the committee with other listeners' answers")


def user_state(user_id: str, state: user.UserState) -> dict:
    """What GET /users/{id} answers: the user's state without the pool bookkeeping."""
    return {"user_id": user_id, "iteration": state.iteration, "strategy": state.strategy,
            "update_rule": state.update_rule, "pending": state.pending,
            "queried": state.queried if state.pending else [], "answered_count": len(state.answered)}


class DefaultCommittee:
    """The pretrained committee `-m default` names, loaded once and again only when its folder is
    replaced (import_legacy.py --pretrained renames a new one into place); the prediction JSON names it
    as committee.files.default_model does, not by its path on the server."""

    def __init__(self, pretrained: Path) -> None:
        self.pretrained = pretrained
        self._loaded: tuple[tuple[int, int], Committee, str] | None = None
        self._lock = threading.Lock()

    def get(self) -> tuple[Committee, str]:
        with self._lock:
            stat = self.pretrained.stat() if self.pretrained.is_dir() else None
            key = (stat.st_ino, stat.st_mtime_ns) if stat else (0, 0)
            if self._loaded is None or self._loaded[0] != key:
                path, name = committees.default_model(self.pretrained)
                self._loaded = (key, committees.load_model(path), name)
            return self._loaded[1], self._loaded[2]


def create_app(config: ServiceConfig) -> FastAPI:
    """The service's app; `app.state.config` holds `config` for the routers."""
    # No /docs nor /redoc: their pages load scripts from a CDN (offline they fail, and they would
    # need a looser CSP); /openapi.json opens in any OpenAPI viewer.
    app = FastAPI(title="TROMPA-MER", version="0.2.0", docs_url=None, redoc_url=None,
                  description="Personalized music emotion recognition: users, queries, annotations, "
                              "predictions and recommendations by emotion quadrant.")
    app.state.config = config
    folders = {"users": config.users_dir, "pretrained": config.pretrained_dir, "features": config.feats_dir,
               "pool cache": config.pool_cache_dir, "crowd file": config.crowd_file}
    folders |= {"audio": config.audio_dir} if config.audio_dir else {}
    errors.install(app, folders)

    def warned(warnings: list[str]) -> list[str]:
        """The library's warnings, logged, and for the client without the server's folders."""
        for warning in warnings:
            errors.log.warning("%s", warning)
        return [errors.without_folders(warning, folders) for warning in warnings]
    # The body limit as user middleware (FastAPI's own app-wide one runs outside every handler and
    # answers in plain text): JsonRefusals outside it turns its 413 into JSON; /predict raises it.
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=JSON_BODY_BYTES)
    app.add_middleware(errors.JsonRefusals)
    app.add_middleware(HeadAsGet)
    # Tokens are checked before any body is read.
    app.add_middleware(BearerAuth, tokens=config.tokens, users_dir=config.users_dir)
    if config.cors_origins:  # outside BearerAuth: a preflight carries no token
        app.add_middleware(CORSMiddleware, allow_origins=sorted(config.cors_origins),
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(BrowserGuard, allowed_hosts=config.allowed_hosts, origins=config.cors_origins)
    app.add_middleware(errors.Unexpected)  # added last: runs first, around everything
    default_committee = DefaultCommittee(config.pretrained_dir)
    held_scores = HeldScores()  # the pool's catalogue scores, between recommendations
    # Recommendations are CPU work: as many at once as cores; the others wait on a lock, off the GIL,
    # so that /health and the event loop keep their turn.
    recommending = threading.BoundedSemaphore(config.jobs)
    analyses = threading.BoundedSemaphore(config.max_analyses)
    audio_index = AudioIndex(config.audio_dir) if config.audio_dir is not None else None

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    @app.post("/users", status_code=201)
    def create_user(body: NewUser) -> dict:
        strategies.load_crowd(body.strategy, config.crowd_file)  # hc and mix need the crowd file now
        user.create_user(config.users_dir, body.user_id, config.pretrained_dir, body.strategy,
                         body.update_rule, config.max_users)
        return get_user(body.user_id)

    @app.get("/users/{user_id}")
    def get_user(user_id: str) -> dict:
        with user.open_user(config.users_dir, user_id, read_only=True) as folder:
            return user_state(user_id, user.read_state(folder))

    @app.delete("/users/{user_id}", status_code=204)
    def delete_user(user_id: str) -> Response:
        personalize.delete_user(config.users_dir, user_id, wait=False)
        return Response(status_code=204)

    @app.post("/users/{user_id}/tokens", status_code=201)
    def mint_token(user_id: str, body: NewToken | None = None) -> dict:
        minted = tokens.mint(config.users_dir, user_id, (body or NewToken()).days)
        return {"token": minted.token, "token_id": minted.token_id,
                "expires": datetime.fromtimestamp(minted.expires, UTC).isoformat(timespec="seconds"),
                "link": f"/annotate/{user_id}#token={minted.token}"}

    @app.delete("/users/{user_id}/tokens/{token_id}", status_code=204)
    def revoke_token(user_id: str, token_id: str) -> Response:
        tokens.revoke(config.users_dir, user_id, token_id)
        return Response(status_code=204)

    @app.post("/users/{user_id}/queries")
    def query(user_id: str, body: QueryRequest | None = None) -> dict:
        body = body or QueryRequest()
        result = personalize.make_query(config.users_dir, user_id, config.feats_dir, config.pool_cache_dir,
                                        body.n, requery=body.requery, strategy=body.strategy,
                                        crowd_file=config.crowd_file, jobs=config.jobs,
                                        chunk_songs=config.chunk_songs, wait=False, crowd=body.crowd)
        return {"iteration": result.state.iteration, "strategy": result.state.query_strategy,
                "songs": [{"song_id": song, "score": result.scores[song]} for song in result.songs],
                "warnings": warned(result.warnings)}

    @app.post("/users/{user_id}/annotations")
    def annotate(user_id: str, body: Annotations) -> dict:
        user.check_user_id(user_id)
        labels = personalize.parse_annotations(body.annotations)
        done = personalize.apply_annotations(config.users_dir, user_id, labels, config.feats_dir,
                                             config.pool_cache_dir, config.xgb_rounds, jobs=config.jobs,
                                             wait=False, crowd_file=config.crowd_file, crowd=body.crowd)
        return {"iteration": done.state.iteration,
                "changed": {"layer_moved": done.layer_moved, "shift_moved": done.shift_moved,
                            "songs_changed": done.songs_changed,
                            "pool_songs": done.pool_songs, "largest_change": done.largest_change}}

    @app.get("/users/{user_id}/recommendations")
    def recommendations(user_id: str, quadrant: Annotated[str, Query(description="Q1, Q2, Q3 or Q4")],
                        n: Annotated[int, Query(ge=1)] = 10,
                        crowd: Annotated[bool, Query(description="count other listeners' answers")] = True
                        ) -> dict:
        try:
            index = names.quadrant_index(quadrant.upper())
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        with recommending:
            ranked, warnings = personalize.recommend(
                config.users_dir, user_id, config.feats_dir, config.pool_cache_dir, index, n,
                jobs=config.jobs, chunk_songs=config.chunk_songs, crowd_file=config.crowd_file, crowd=crowd,
                held=held_scores)
        return {"quadrant": names.QUADRANTS[index],
                "songs": [{"song_id": song, "probability": p} for song, p in ranked],
                "warnings": warned(warnings)}

    @app.post("/predict", max_body_size=config.max_upload_bytes)
    def predict(file: Annotated[UploadFile, File(description="a feature CSV or an audio file")],
                user_id: Annotated[str | None, Form(description="predict with this user's committee")] = None,
                crowd: Annotated[bool, Form(description="count other listeners' answers")] = True
                ) -> dict:
        suffix = Path(file.filename or "").suffix.lower()
        if suffix != table.FEATURE_SUFFIX and suffix not in audio.SUPPORTED_SUFFIXES:
            kinds = ", ".join(sorted({table.FEATURE_SUFFIX, *audio.SUPPORTED_SUFFIXES}))
            raise FeatureError(f"upload a feature CSV or an audio file ({kinds}), not {file.filename!r}")
        view = None
        if user_id:
            committee, view = personalize.load_user(config.users_dir, user_id, config.crowd_file, crowd)
            model = f"user:{user_id}"
        else:
            committee, model = default_committee.get()
        name, scaling = str(file.filename), committee.default_scaling()
        if suffix == table.FEATURE_SUFFIX:
            result = predict_file(committee, file.file, scaling, model, source=name)
        else:
            result = analyse(committee, file, suffix, scaling, model, name)
        if view is None:
            return result
        return personalize.personal_prediction(result, table.song_id_of(Path(name)), view)

    def analyse(committee: Committee, file: UploadFile, suffix: str, scaling: str, model: str,
                name: str) -> dict:
        """`predict_audio` on an upload, if fewer than `max_analyses` run already (else a 503)."""
        if not analyses.acquire(blocking=False):
            raise HTTPException(503, f"{config.max_analyses} audio uploads are being analysed already: "
                                     f"send it again in {RETRY_AFTER_SECONDS} s",
                                {"Retry-After": str(RETRY_AFTER_SECONDS)})
        try:
            with storage.temporary_folder("upload") as tmp:  # ffmpeg and openSMILE read files
                upload = tmp / (UPLOAD_NAME + suffix)
                with upload.open("wb") as out:
                    shutil.copyfileobj(file.file, out)
                return predict_audio(committee, upload, config.smilextract, config.window_seconds,
                                     config.hop_seconds, scaling, model, source=name,
                                     max_seconds=config.max_audio_seconds)
        finally:
            analyses.release()

    @app.get("/audio/{song_id}", response_class=FileResponse)
    def song_audio(song_id: str, request: Request) -> FileResponse:
        if not SONG_ID_PATTERN.fullmatch(song_id):
            raise HTTPException(400, f"invalid song id {song_id!r}")
        if (listener := listener_of(request)) is not None:
            with user.open_user(config.users_dir, listener, read_only=True) as folder:
                asked = {song.lower() for song in user.read_state(folder).asked()}
            if song_id.lower() not in asked:
                raise HTTPException(403, f"user {listener} was never asked about song {song_id}")
        found = audio_index.find(song_id.lower()) if audio_index is not None else None
        if found is None:
            raise HTTPException(404, f"no audio for song {song_id}")
        media_type = mimetypes.guess_type(found.name)[0] or "application/octet-stream"
        return FileResponse(found, media_type=media_type)

    app.include_router(page.router)
    app.openapi = lambda: _openapi_with_bearer(app)
    return app


def _openapi_with_bearer(app: FastAPI) -> dict:
    """The OpenAPI schema, declaring the bearer token every operation needs (so a viewer can send it)."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description,
                             routes=app.routes)
        schema.setdefault("components", {})["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer"}}
        schema["security"] = [{"bearer": []}]
        app.openapi_schema = schema
    return app.openapi_schema

