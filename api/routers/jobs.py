"""Postings: read one, its similar postings, and (admin) add or expire postings live."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import Admin, Service
from api.errors import ApiError
from api.schemas import ErrorResponse, Expired, Job, JobPatch, JobsAdded, JobsIn, SimilarJobs
from recsys.service.postings import UnknownJobError

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

JobId = Annotated[int, Path(ge=0, le=2**62, description="the posting's id")]
NOT_FOUND: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorResponse, "description": "unknown job id"},
    422: {"model": ErrorResponse, "description": "invalid parameters"},
}
ADMIN: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorResponse, "description": "no admin key"},
    403: {"model": ErrorResponse, "description": "wrong admin key"},
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
    dependencies=[Admin],
    responses={**ADMIN, 422: {"model": ErrorResponse, "description": "invalid posting"}},
)
def add_jobs(body: JobsIn, service: Service) -> JobsAdded:
    """Add postings; they are searchable from the next request on (no index rebuild)."""
    postings = []
    for job in body.jobs:
        posting = job.model_dump()
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


@router.patch(
    "/{job_id}",
    response_model=Job,
    dependencies=[Admin],
    responses={**ADMIN, **NOT_FOUND},
)
def update_job(job_id: JobId, body: JobPatch, service: Service) -> Job:
    """Change fields of a posting; every API process serves the change within seconds."""
    try:
        return Job(**service.update_posting(job_id, body.model_dump(exclude_unset=True)))
    except UnknownJobError as exc:
        raise ApiError(404, str(exc.args[0])) from None
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None


@router.delete(
    "/{job_id}", response_model=Expired, dependencies=[Admin], responses={**ADMIN, **NOT_FOUND}
)
def expire_job(job_id: JobId, service: Service) -> Expired:
    """Expire a posting now: it leaves the index at once and is never recommended again."""
    try:
        return Expired(job_id=job_id, expires_at=service.expire_posting(job_id))
    except UnknownJobError as exc:
        raise ApiError(404, str(exc.args[0])) from None
