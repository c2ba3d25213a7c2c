"""GET (stored seeker) and POST (inline profile, cold start) /v1/recommendations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import AppMetrics, AppSettings, Service
from api.errors import ApiError
from api.metrics import Metrics
from api.schemas import (
    Debug,
    ErrorResponse,
    Id,
    RecommendationRequest,
    RecommendationResponse,
    Remote,
)
from recsys.core.context import RequestContext
from recsys.core.profiles import inline_profile
from recsys.service.caches import cache_key
from recsys.service.requests import RequestOptions
from recsys.service.seekers import UnknownUserError
from recsys.service.service import RecommendationService

router = APIRouter(prefix="/v1/recommendations", tags=["recommendations"])

ERRORS: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorResponse, "description": "unknown user id"},
    422: {"model": ErrorResponse, "description": "invalid parameters"},
    503: {"model": ErrorResponse, "description": "still loading"},
}


def _check_k(k: int, settings_max: int) -> None:
    if k > settings_max:
        raise ApiError(422, f"k={k} is above this service's limit of {settings_max}")


def _serve(
    service: RecommendationService,
    metrics: Metrics,
    ctx: RequestContext,
    key: str,
    debug: bool,
) -> RecommendationResponse:
    served = service.recommend(ctx, cache_key=key)
    metrics.cache.labels("hit" if served.cached else "miss").inc()
    for stage, ms in served.timings_ms.items():
        metrics.stage_latency.labels(stage).observe(ms / 1e3)
    for stage, n in served.counts.items():
        metrics.stage_candidates.labels(stage).observe(n)
    return RecommendationResponse(
        request_id=served.request_id,
        items=served.items,  # type: ignore[arg-type]
        model_versions=served.model_versions,
        debug=Debug(timings_ms=served.timings_ms, candidates=served.counts, cached=served.cached)
        if debug
        else None,
    )


@router.get("", response_model=RecommendationResponse, responses=ERRORS)
def recommend_for_user(
    service: Service,
    settings: AppSettings,
    metrics: AppMetrics,
    user_id: Annotated[Id, Query(description="a stored seeker's id")],
    k: Annotated[int, Query(ge=1, le=100)] = 20,
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
    radius_km: Annotated[float | None, Query(gt=0, le=20_000)] = None,
    remote: Remote = "acceptable",
    debug: bool = False,
) -> RecommendationResponse:
    """The jobs a stored seeker is most likely to apply to, with reasons.

    The profile comes from the seeker store, the history from the online store. Results are
    cached per user for a short while; the user's next click or apply refreshes them.
    """
    _check_k(k, settings.api_max_k)
    options = RequestOptions(k, lat, lon, radius_km, remote)
    try:
        ctx = service.user_request(user_id, options)
    except UnknownUserError as exc:
        raise ApiError(404, str(exc.args[0])) from None
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None
    key = cache_key(k=k, lat=lat, lon=lon, radius_km=radius_km, remote=remote)
    return _serve(service, metrics, ctx, key, debug)


@router.post("", response_model=RecommendationResponse, responses=ERRORS)
def recommend_for_profile(
    body: RecommendationRequest, service: Service, settings: AppSettings, metrics: AppMetrics
) -> RecommendationResponse:
    """Recommendations for a profile sent with the request: a new seeker, no stored data needed."""
    _check_k(body.k, settings.api_max_k)
    p = body.profile
    try:
        profile = inline_profile(p.title, p.location, p.skills, p.seniority, p.wants_remote)
        options = RequestOptions(body.k, body.lat, body.lon, body.radius_km, body.remote)
        ctx = service.profile_request(profile, options, body.user_id)
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None
    key = cache_key(**body.model_dump(exclude={"debug", "user_id"}))
    return _serve(service, metrics, ctx, key, body.debug)
