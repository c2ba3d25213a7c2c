"""Postings: read one, its similar postings; add, change or close postings live (the admin key
for any posting, an employer key for that employer's own)."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import Access, Caller, Service, check_owner
from api.errors import ApiError
from api.schemas import ErrorResponse, Expired, Job, JobPatch, JobsAdded, JobsIn, SimilarJobs
from recsys.service.employer_access import ForbiddenError
from recsys.service.postings import UnknownJobError

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

JobId = Annotated[int, Path(ge=0, le=2**62, description="the posting's id")]
NOT_FOUND: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorResponse, "description": "unknown job id"},
    422: {"model": ErrorResponse, "description": "invalid parameters"},
}
KEYED: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorResponse, "description": "no key"},
    403: {"model": ErrorResponse, "description": "not a live key, or another employer's posting"},
}


@router.get("/{job_id}", response_model=Job, responses=NOT_FOUND)
def get_job(job_id: JobId, service: Service) -> Job:
    """One posting, open or expired."""
    try:
        return Job(**service.job(job_id))
    except UnknownJobError as exc:
        raise ApiError(404, str(exc.args[0])) from None


@router.get("/{job_id}/similar", response_model=SimilarJobs, responses=NOT_FOUND)
def similar_jobs(
    job_id: JobId, service: Service, k: Annotated[int, Query(ge=1, le=100)] = 10
) -> SimilarJobs:
    """Open postings whose titles mean the most nearly the same thing."""
    try:
        items = service.similar(job_id, k)
    except UnknownJobError as exc:
        raise ApiError(404, str(exc.args[0])) from None
    return SimilarJobs(job_id=job_id, items=items)  # type: ignore[arg-type]


@router.post(
    "",
    response_model=JobsAdded,
    status_code=201,
    responses={**KEYED, 422: {"model": ErrorResponse, "description": "invalid posting"}},
)
def add_jobs(body: JobsIn, service: Service, caller: Caller, access: Access) -> JobsAdded:
    """Add postings; they are searchable from the next request on (no index rebuild). An
    employer key posts for its own employer only (`employer_id` is set to it)."""
    postings = []
    for job in body.jobs:
        posting = job.model_dump()
        try:
            posting["employer_id"] = access.claim(caller, job.employer_id)
        except ForbiddenError as exc:
            raise ApiError(403, str(exc)) from None
        if job.expires_at is not None:
            expires = job.expires_at
            if expires.tzinfo is not None:
                expires = expires.astimezone(UTC).replace(tzinfo=None)
            posting["expires_at"] = expires
        postings.append(posting)
    try:
        return JobsAdded(job_ids=service.add_postings(postings))
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None


@router.patch("/{job_id}", response_model=Job, responses={**KEYED, **NOT_FOUND})
def update_job(
    job_id: JobId, body: JobPatch, service: Service, caller: Caller, access: Access
) -> Job:
    """Change fields of a posting; every API process serves the change within seconds."""
    check_owner(access, caller, job_id)
    changes = body.model_dump(exclude_unset=True)
    if "employer_id" in changes:
        try:
            changes["employer_id"] = access.claim(caller, changes["employer_id"])
        except ForbiddenError as exc:
            raise ApiError(403, str(exc)) from None
    try:
        return Job(**service.update_posting(job_id, changes))
    except UnknownJobError as exc:
        raise ApiError(404, str(exc.args[0])) from None
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None


@router.delete("/{job_id}", response_model=Expired, responses={**KEYED, **NOT_FOUND})
def expire_job(job_id: JobId, service: Service, caller: Caller, access: Access) -> Expired:
    """Expire a posting now: it leaves the index at once and is never recommended again."""
    check_owner(access, caller, job_id)
    try:
        return Expired(job_id=job_id, expires_at=service.expire_posting(job_id))
    except UnknownJobError as exc:
        raise ApiError(404, str(exc.args[0])) from None
