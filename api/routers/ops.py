"""Operations: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.schemas import Health

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is up (models may still be loading: see /readyz)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
def readyz(request: Request) -> JSONResponse:
    """Ready once the models are loaded and the stores answer."""
    state = request.app.state
    if state.service is None:
        detail = state.load_error or "loading models and stores"
        return JSONResponse(Health(status="not ready", detail=detail).model_dump(), 503)
    ok, detail = state.service.ready()
    body = Health(status="ready" if ok else "not ready", detail=detail).model_dump()
    return JSONResponse(body, 200 if ok else 503)


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus text format."""
    m = request.app.state.metrics
    service = request.app.state.service
    if service is not None:
        m.impressions_logged.set(service.impressions.logged)
        m.impressions_dropped.set(service.impressions.dropped)
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)
