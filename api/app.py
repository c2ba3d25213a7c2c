"""The app factory: `create_app()` for uvicorn (`recsys serve`); tests pass their own service.

Without a service the app starts at once and loads models and stores in a background thread:
/healthz answers immediately, /readyz and the API answer 503 until loading is done (or say why it
failed). A maintenance thread then drains the event stream to Parquet and refreshes popularity.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import Field, TypeAdapter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.admission import AdmissionControl, AdmissionGate
from api.errors import error_response, install_error_handlers
from api.metrics import Metrics
from api.routers import candidates, events, jobs, ops, recommendations, users
from api.schemas import EventBatch, EventIn
from recsys.service.loader import Maintenance, Preloaded, load_service
from recsys.service.service import RecommendationService
from recsys.service.workers import preload_for_fork
from recsys.settings import Settings, get_settings

log = logging.getLogger(__name__)

DESCRIPTION = (
    "Job recommendations with reasons: recall (taxonomy-tuned title encoder + FAISS, hard "
    "filters), coarse rule score, GBDT apply-rate ranker, policy rerank. Errors are "
    '`{"error": {"status", "message", "details"}}`.'
)


class ObserveRequests:
    """Times every request by route template, and refuses bodies over the size limit early."""

    def __init__(self, app: ASGIApp, metrics: Metrics, max_body_bytes: int):
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            response = error_response(
                413, f"body of {int(length):,} bytes; the limit is {self.max_body_bytes:,}"
            )
            await response(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            method = scope.get("method", "")
            self.metrics.request_latency.labels(method, path).observe(time.perf_counter() - start)
            self.metrics.requests.labels(method, path, str(status)).inc()


def _load_in_background(app: FastAPI, settings: Settings) -> None:
    try:
        service = load_service(settings, app.state.preloaded)
    except Exception as exc:  # reported by /readyz and every API route
        log.exception("loading the service failed")
        app.state.load_error = f"loading failed: {exc}"
        return
    app.state.maintenance = Maintenance(service, settings.popularity_refresh_s).start()
    for worker in service.background():
        worker.start()
    app.state.service = service
    log.info("service ready: %s", service.model_versions)


def create_app(
    settings: Settings | None = None,
    service: RecommendationService | None = None,
    preloaded: Preloaded | None = None,
) -> FastAPI:
    """The API over `service`, or over a service loaded from `settings` in the background (on
    top of `preloaded`, the part a server's workers share, when given)."""
    settings = settings or get_settings()
    owns_service = service is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loader = None
        if owns_service:
            if settings.api_admin_key == "change-me":
                log.warning("RECSYS_API_ADMIN_KEY is the default; set it before exposing the API")
            loader = threading.Thread(
                target=_load_in_background, args=(app, settings), name="load", daemon=True
            )
            loader.start()
        yield
        if loader is not None:
            loader.join()
            if app.state.maintenance is not None:
                app.state.maintenance.stop()
            if app.state.service is not None:
                for worker in app.state.service.background():
                    worker.stop()
                app.state.service.close()

    app = FastAPI(
        title="recsys",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.service = service
    app.state.preloaded = preloaded
    app.state.load_error = None
    app.state.maintenance = None
    app.state.metrics = Metrics()
    install_error_handlers(app)
    for module in (recommendations, events, jobs, candidates, users, ops):
        app.include_router(module.router)
    app.state.admission = None
    if settings.api_admission:  # inside ObserveRequests, so shed requests are timed too
        app.state.admission = AdmissionGate(
            settings.api_max_concurrency,
            settings.api_admission_max_queue,
            settings.api_admission_max_wait_ms / 1e3,
        )
        app.add_middleware(
            AdmissionControl,
            gate=app.state.admission,
            metrics=app.state.metrics,
            prefixes=(recommendations.router.prefix,),
            retry_after_s=settings.api_retry_after_s,
        )
    app.add_middleware(
        ObserveRequests, metrics=app.state.metrics, max_body_bytes=settings.api_max_body_bytes
    )
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def create_shared_app() -> FastAPI:
    """`create_app` on the settings, over the part of the service every worker shares, loaded
    now: the factory a gunicorn master calls before it forks the workers (`recsys serve
    --workers N`, recsys.service.workers); each worker then loads the rest in the background."""
    settings = get_settings()
    return create_app(settings, preloaded=preload_for_fork(settings))


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's spec plus the events body, which the route parses by hand."""
    if app.openapi_schema:
        return app.openapi_schema
    spec = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    batch = Annotated[list[EventIn], Field(min_length=1, max_length=1_000)]  # as EventBatch's
    body = TypeAdapter(EventIn | EventBatch | batch).json_schema(
        ref_template="#/components/schemas/{model}"
    )
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(body.pop("$defs", {}))
    schemas["EventsBody"] = {**body, "description": "one event, a list, or {events: [...]}"}
    app.openapi_schema = spec
    return spec
