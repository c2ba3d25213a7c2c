"""Seeker profiles: store, read and delete (admin key); recommendations read them by user id."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from api.deps import Admin, Service
from api.errors import ApiError
from api.schemas import ErrorResponse, User, UserDeleted, UserIn, UserStored
from recsys.service.seekers import UnknownUserError

router = APIRouter(prefix="/v1/users", tags=["users"], dependencies=[Admin])

UserId = Annotated[
    str,
    Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@\-]+$", description="user id"),
]
RESPONSES: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorResponse, "description": "no admin key"},
    403: {"model": ErrorResponse, "description": "wrong admin key"},
    422: {"model": ErrorResponse, "description": "invalid profile"},
}


@router.put(
    "/{user_id}",
    response_model=UserStored,
    responses={**RESPONSES, 201: {"model": UserStored, "description": "a new user"}},
)
def put_user(user_id: UserId, body: UserIn, service: Service) -> JSONResponse:
    """Store the profile (201 for a new user, 200 for a change); cached lists are dropped."""
    try:
        created = service.put_user(user_id, body.model_dump())
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None
    out = UserStored(user_id=user_id, created=created)
    return JSONResponse(out.model_dump(), status_code=201 if created else 200)


@router.get(
    "/{user_id}",
    response_model=User,
    responses={**RESPONSES, 404: {"model": ErrorResponse, "description": "no such user"}},
)
def get_user(user_id: UserId, service: Service) -> User:
    """The stored profile."""
    try:
        row = service.get_user(user_id)
    except UnknownUserError as exc:
        raise ApiError(404, str(exc.args[0])) from None
    fields = {k: v for k, v in row.items() if k in User.model_fields}
    for stamp in ("created_at", "updated_at"):  # stored as naive UTC
        fields[stamp] = fields[stamp].replace(tzinfo=UTC)
    return User(**fields)


@router.delete("/{user_id}", response_model=UserDeleted, responses=RESPONSES)
def delete_user(user_id: UserId, service: Service) -> UserDeleted:
    """Delete the profile, the history and the cached lists; later training sets leave the
    user's events out. Idempotent."""
    return UserDeleted(user_id=user_id, deleted=service.delete_user(user_id))
