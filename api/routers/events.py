"""POST /v1/events: one event or a batch of up to 1,000, validated item by item.

The body is parsed by hand rather than by a FastAPI body model so that one bad event is rejected
alone (with its errors) while the good ones in the same batch are kept. The OpenAPI spec still
documents the body (the `EventsBody` component, see `api.app._openapi`).
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, ValidationError

from api.deps import Access, AppMetrics, AppSettings, MaybeCaller, Service
from api.errors import ApiError
from api.schemas import ErrorResponse, EventIn, EventsResult, RejectedEvent
from feature_store.events import EMPLOYER_EVENT_TYPES
from recsys.service.employer_access import EmployerAccess, Principal

router = APIRouter(prefix="/v1/events", tags=["events"])

_EVENT = TypeAdapter(EventIn)
EVENT_BODY_REF = "#/components/schemas/EventsBody"


def _items(payload: Any, max_batch: int) -> list[Any]:
    if isinstance(payload, dict) and "events" in payload and len(payload) == 1:
        items = payload["events"]
        if not isinstance(items, list):
            raise ApiError(422, '"events" must be a list of events')
    elif isinstance(payload, dict):
        items = [payload]
    elif isinstance(payload, list):
        items = payload
    else:
        raise ApiError(422, 'send one event object, a list of events, or {"events": [...]}')
    if not items:
        raise ApiError(422, "the batch is empty")
    if len(items) > max_batch:
        raise ApiError(413, f"{len(items)} events in one batch; the limit is {max_batch}")
    return items


def _problems(exc: ValidationError) -> list[str]:
    return [f"{'.'.join(str(p) for p in e['loc']) or 'event'}: {e['msg']}" for e in exc.errors()]


@router.post(
    "",
    response_model=EventsResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": EVENT_BODY_REF}}},
        }
    },
    responses={
        413: {"model": ErrorResponse, "description": "batch or body too large"},
        422: {
            "model": EventsResult | ErrorResponse,
            "description": "every event was rejected (an EventsResult), or the body is not a batch",
        },
    },
)
async def post_events(
    request: Request,
    service: Service,
    settings: AppSettings,
    metrics: AppMetrics,
    caller: MaybeCaller,
    access: Access,
) -> JSONResponse:
    """Log seeker events (impressions, clicks, applies; no key needed) and employer events
    (candidate impressions and views, shortlists, contacts: the key of the employer owning the
    posting, or the admin key). Idempotent by `event_id`: a retry counts once.

    Each event is checked on its own: bad ones come back in `rejected` with what to fix, the
    others are kept. 200 when at least one event was valid, 422 when none was.
    """
    body = await request.body()
    if len(body) > settings.api_max_body_bytes:
        raise ApiError(
            413, f"body of {len(body):,} bytes; the limit is {settings.api_max_body_bytes:,}"
        )
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(422, f"the body is not JSON: {exc}") from None
    items = _items(payload, settings.api_max_batch)
    good: list[EventIn] = []
    positions: list[int] = []
    rejected: list[RejectedEvent] = []
    for i, item in enumerate(items):
        try:
            good.append(_EVENT.validate_python(item))
            positions.append(i)
        except ValidationError as exc:
            event_id = item.get("event_id") if isinstance(item, dict) else None
            rejected.append(
                RejectedEvent(
                    index=i,
                    event_id=event_id if isinstance(event_id, str) else None,
                    errors=_problems(exc),
                )
            )
    refused = _not_allowed(good, caller, access)
    for i, reason in refused.items():
        rejected.append(
            RejectedEvent(index=positions[i], event_id=good[i].event_id, errors=[reason])
        )
    if refused:
        positions = [p for i, p in enumerate(positions) if i not in refused]
        good = [e for i, e in enumerate(good) if i not in refused]
    frame = _frame(good, service.now())
    if len(frame):
        known_job = service.known_jobs(frame["job_id"].to_numpy())
        known_user = service.known_users(frame["user_id"].tolist())
        for i in (~(known_job & known_user)).nonzero()[0].tolist():
            errors = []
            if not known_job[i]:
                errors.append(f"job_id: no job with id {good[i].job_id}")
            if not known_user[i]:
                errors.append(
                    f"user_id: unknown user {good[i].user_id!r} (no stored profile, never served)"
                )
            rejected.append(
                RejectedEvent(index=positions[i], event_id=good[i].event_id, errors=errors)
            )
        frame = frame[known_job & known_user]
    result = service.ingest(frame)
    rejected.sort(key=lambda r: r.index)
    metrics.events.labels("accepted").inc(result.accepted)
    metrics.events.labels("duplicate").inc(result.duplicates)
    metrics.events.labels("rejected").inc(len(rejected))
    out = EventsResult(accepted=result.accepted, duplicates=result.duplicates, rejected=rejected)
    status = 200 if len(frame) else 422
    return JSONResponse(out.model_dump(), status_code=status)


def _not_allowed(
    events: list[EventIn], caller: Principal | None, access: EmployerAccess
) -> dict[int, str]:
    """Employer events the caller may not log, by position in `events`, with why: without a
    key, or about another employer's posting (unknown postings are left to the job check)."""
    employer = [i for i, e in enumerate(events) if e.type in EMPLOYER_EVENT_TYPES]
    if not employer or (caller is not None and caller.is_admin):
        return {}
    if caller is None:
        why = (
            "type: employer events need the posting's employer key (or the admin key) in X-API-Key"
        )
        return dict.fromkeys(employer, why)
    owners = access.owners(events[i].job_id for i in employer)
    return {
        i: f"job_id: job {events[i].job_id} belongs to another employer than this key's"
        for i in employer
        if events[i].job_id in owners and owners[events[i].job_id] != caller.employer_id
    }


def _frame(events: list[EventIn], now: Any) -> pd.DataFrame:
    default_ts = pd.Timestamp(now).tz_localize("UTC")
    rows = [
        {
            "event_id": e.event_id,
            "ts": _utc(e.ts) if e.ts is not None else default_ts,
            "user_id": e.user_id,
            "job_id": e.job_id,
            "type": e.type,
            "request_id": e.request_id or "",
            "position": -1 if e.position is None else e.position,
        }
        for e in events
    ]
    return pd.DataFrame(
        rows, columns=["event_id", "ts", "user_id", "job_id", "type", "request_id", "position"]
    )


def _utc(ts: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(ts)
    return stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)
