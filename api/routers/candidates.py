"""GET /v1/jobs/{job_id}/candidates: the seekers ranked for a posting, for the employer owning it.

The key decides first (401 without one, 403 for another employer's posting); ranking is the
service's. Seekers who are not discoverable never appear.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Access, Caller, Service, check_owner
from api.errors import ApiError
from api.routers.jobs import KEYED, NOT_FOUND, JobId
from api.schemas import CandidatesResponse
from recsys.service.postings import UnknownJobError

router = APIRouter(prefix="/v1/jobs", tags=["candidates"])


@router.get(
    "/{job_id}/candidates",
    response_model=CandidatesResponse,
    response_model_exclude_none=False,
    responses={**KEYED, **NOT_FOUND},
)
def candidates(
    job_id: JobId,
    service: Service,
    caller: Caller,
    access: Access,
    k: Annotated[int, Query(ge=1, le=100, description="how many seekers")] = 20,
    radius_km: Annotated[
        float | None,
        Query(gt=0, le=20_000, description="only seekers this near (or willing to relocate)"),
    ] = None,
    debug: Annotated[bool, Query(description="add timings and counts per stage")] = False,
) -> CandidatesResponse:
    """The seekers most likely to fit and respond, each with why (skills, distance, level)."""
    check_owner(access, caller, job_id)
    try:
        body = service.candidates(job_id, k=k, radius_km=radius_km)
    except UnknownJobError as exc:
        raise ApiError(404, str(exc.args[0])) from None
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None
    if not debug:
        body = {**body, "debug": None}
    return CandidatesResponse(**body)
