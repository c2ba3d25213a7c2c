"""Stored seeker profiles by user id, and the request history built from the online store.

Profiles live in the catalog database (PUT /v1/users/{id}, `recsys users import`, the
simulator); each request for a stored user reads its row by primary key, so a change made
through any process counts from the next request on. The behaviour comes from the online store.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

from recsys.catalog_db.seekers import SeekerTable
from recsys.core.context import Profile
from recsys.core.histories import request_history as request_history  # one for both sides


class UnknownUserError(KeyError):
    """A user id that no stored profile has."""


def profile_of(row: dict[str, Any]) -> Profile:
    """The request profile of a stored row. A profile with no place searches anywhere."""
    has_place = row.get("lat") is not None and row.get("lon") is not None
    return Profile(
        desired_title=str(row["title"]),
        skills=list(row.get("skills") or []),
        lat=float(row["lat"]) if has_place else None,
        lon=float(row["lon"]) if has_place else None,
        location=str(row.get("location") or ""),
        level=None if row.get("seniority") is None else int(row["seniority"]),
        expected_salary=row.get("expected_salary"),
        wants_remote=bool(row.get("wants_remote")),
        relocate=bool(row.get("relocate")) or not has_place,
    )


def first_seen_of(row: dict[str, Any]) -> np.datetime64:
    """When the stored seeker was created: the history's start for a user with no events."""
    created: datetime = row["created_at"]
    return np.datetime64(created.replace(tzinfo=None), "s")


class SeekerDirectory:
    """Profiles by user id from the catalog database."""

    def __init__(self, table: SeekerTable):
        self.table = table

    def row(self, user_id: str) -> dict[str, Any]:
        row = self.table.get(user_id)
        if row is None:
            raise UnknownUserError(
                f"unknown user id {user_id!r}: store the profile with PUT /v1/users/{user_id}, "
                "or POST /v1/recommendations with an inline profile"
            )
        return row

    def profile(self, user_id: str) -> Profile:
        return profile_of(self.row(user_id))

    def first_seen(self, user_id: str) -> np.datetime64 | None:
        row = self.table.get(user_id)
        return None if row is None else first_seen_of(row)

    def __contains__(self, user_id: object) -> bool:
        return isinstance(user_id, str) and self.table.get(user_id) is not None
