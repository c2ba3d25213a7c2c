"""Dependencies the routers share: the loaded service, and who is asking (admin or employer key)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from api.errors import ApiError
from api.metrics import Metrics
from recsys.service.employer_access import EmployerAccess, ForbiddenError, Principal
from recsys.service.postings import UnknownJobError
from recsys.service.service import RecommendationService
from recsys.settings import Settings

admin_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="the admin key, or an employer's key"
)


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


def get_access(
    request: Request,
    service: Annotated[RecommendationService, Depends(get_service)],
    settings: Annotated[Settings, Depends(get_settings_dep)],
) -> EmployerAccess:
    """The key checker over the service's catalog database (one per app, made on first use)."""
    access = getattr(request.app.state, "access", None)
    if access is None or access.store is not service.postings.store:
        access = EmployerAccess(
            service.postings.store, settings.api_admin_key, settings.api_key_cache_s
        )
        request.app.state.access = access
    return access


def optional_principal(
    access: Annotated[EmployerAccess, Depends(get_access)],
    key: Annotated[str | None, Security(admin_key_header)] = None,
) -> Principal | None:
    """Who holds the key in `X-API-Key`: None without one, 403 for a key that is not live."""
    if key is None:
        return None
    try:
        return access.principal(key)
    except ForbiddenError as exc:
        raise ApiError(403, str(exc)) from None


def require_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    """The admin or an employer: 401 without a key."""
    if principal is None:
        raise ApiError(401, "this route needs the admin key or an employer key in X-API-Key")
    return principal


def check_owner(access: EmployerAccess, caller: Principal, job_id: int) -> None:
    """404 for a posting the catalog lacks, 403 for another employer's (the admin passes)."""
    try:
        access.require_owner(caller, job_id)
    except UnknownJobError as exc:
        raise ApiError(404, str(exc.args[0])) from None
    except ForbiddenError as exc:
        raise ApiError(403, str(exc)) from None


Service = Annotated[RecommendationService, Depends(get_service)]
Access = Annotated[EmployerAccess, Depends(get_access)]
Caller = Annotated[Principal, Depends(require_principal)]
MaybeCaller = Annotated[Principal | None, Depends(optional_principal)]
AppSettings = Annotated[Settings, Depends(get_settings_dep)]
AppMetrics = Annotated[Metrics, Depends(get_metrics)]
Admin = Depends(require_admin)
