"""GET (stored seeker) and POST (inline profile, cold start) /v1/recommendations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from api.deps import AppMetrics, AppSettings, Service
from api.errors import ApiError
from api.metrics import Metrics
from api.schemas import (
    SENIORITY_RANGE_DOC,
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
    503: {
        "model": ErrorResponse,
        "description": "still loading, or overloaded (shed by admission control; see "
        "Retry-After and `details[0].shed`)",
    },
}


def _admission_wait_ms(request: Request) -> float | None:
    """How long admission control held this request before it ran (None: no gate)."""
    return getattr(request.state, "admission_wait_ms", None)


AdmissionWaitMs = Annotated[float | None, Depends(_admission_wait_ms)]


def _check_k(k: int, settings_max: int) -> None:
    if k > settings_max:
        raise ApiError(422, f"k={k} is above this service's limit of {settings_max}")


def _serve(
    service: RecommendationService,
    metrics: Metrics,
    ctx: RequestContext,
    key: str,
    debug: bool,
    admission_wait_ms: float | None,
) -> RecommendationResponse:
    served = service.recommend(ctx, cache_key=key)
    metrics.cache.labels("hit" if served.cached else "miss").inc()
    for stage, ms in served.timings_ms.items():
        metrics.stage_latency.labels(stage).observe(ms / 1e3)
    for stage, n in served.counts.items():
        metrics.stage_candidates.labels(stage).observe(n)
    if admission_wait_ms is not None:  # its own histogram has it; debug shows it with the rest
        served.timings_ms["admission_wait"] = admission_wait_ms
    return RecommendationResponse(
        request_id=served.request_id,
        items=served.items,  # type: ignore[arg-type]
        model_versions=served.model_versions,
        debug=Debug(
            timings_ms=served.timings_ms,
            candidates=served.counts,
            cached=served.cached,
            degraded=served.degraded,
        )
        if debug
        else None,
    )


@router.get("", response_model=RecommendationResponse, responses=ERRORS)
def recommend_for_user(
    service: Service,
    settings: AppSettings,
    metrics: AppMetrics,
    admission_wait_ms: AdmissionWaitMs,
    user_id: Annotated[Id, Query(description="a stored seeker's id")],
    k: Annotated[int, Query(ge=1, le=100)] = 20,
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
    radius_km: Annotated[float | None, Query(gt=0, le=20_000)] = None,
    remote: Remote = "acceptable",
    min_seniority: Annotated[int, Query(ge=1, le=5, description=SENIORITY_RANGE_DOC)] = 1,
    max_seniority: Annotated[int, Query(ge=1, le=5, description=SENIORITY_RANGE_DOC)] = 5,
    debug: bool = False,
) -> RecommendationResponse:
    """The jobs a stored seeker is most likely to apply to, with reasons.

    The profile comes from the seeker store, the history from the online store. Results are
    cached per user for a short while; the user's next click or apply refreshes them.
    """
    _check_k(k, settings.api_max_k)
    options = RequestOptions(k, lat, lon, radius_km, remote, min_seniority, max_seniority)
    try:
        ctx = service.user_request(user_id, options)
    except UnknownUserError as exc:
        raise ApiError(404, str(exc.args[0])) from None
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None
    key = cache_key(
        k=k,
        lat=lat,
        lon=lon,
        radius_km=radius_km,
        remote=remote,
        min_seniority=min_seniority,
        max_seniority=max_seniority,
    )
    return _serve(service, metrics, ctx, key, debug, admission_wait_ms)


@router.post("", response_model=RecommendationResponse, responses=ERRORS)
def recommend_for_profile(
    body: RecommendationRequest,
    service: Service,
    settings: AppSettings,
    metrics: AppMetrics,
    admission_wait_ms: AdmissionWaitMs,
) -> RecommendationResponse:
    """Recommendations for a profile sent with the request: a new seeker, no stored data needed."""
    _check_k(body.k, settings.api_max_k)
    p = body.profile
    try:
        profile = inline_profile(p.title, p.location, p.skills, p.seniority, p.wants_remote)
        options = RequestOptions(
            body.k,
            body.lat,
            body.lon,
            body.radius_km,
            body.remote,
            body.min_seniority,
            body.max_seniority,
        )
        ctx = service.profile_request(profile, options, body.user_id)
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None
    key = cache_key(**body.model_dump(exclude={"debug", "user_id"}))
    return _serve(service, metrics, ctx, key, body.debug, admission_wait_ms)
