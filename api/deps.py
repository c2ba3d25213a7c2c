"""Dependencies the routers share: the loaded service and the admin key check."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from api.errors import ApiError
from api.metrics import Metrics
from recsys.service.service import RecommendationService
from recsys.settings import Settings

admin_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="admin key")


def get_service(request: Request) -> RecommendationService:
    """The loaded service, or 503 while models and stores are still loading (or failed to)."""
    state = request.app.state
    if state.service is None:
        reason = state.load_error or "the service is still loading models and stores; retry"
        raise ApiError(503, reason)
    return state.service


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


def require_admin(
    settings: Annotated[Settings, Depends(get_settings_dep)],
    key: Annotated[str | None, Security(admin_key_header)] = None,
) -> None:
    """Posting changes need the admin key in `X-API-Key`."""
    if key is None:
        raise ApiError(401, "this route needs the admin key in the X-API-Key header")
    if not secrets.compare_digest(key.encode(), settings.api_admin_key.encode()):
        raise ApiError(403, "the X-API-Key header does not hold the admin key")


Service = Annotated[RecommendationService, Depends(get_service)]
AppSettings = Annotated[Settings, Depends(get_settings_dep)]
AppMetrics = Annotated[Metrics, Depends(get_metrics)]
Admin = Depends(require_admin)
