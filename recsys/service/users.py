"""Seeker accounts: store, read and delete a profile through the catalog database.

A stored or changed profile drops the user's cached lists and query vectors (they were built
from the old profile). Deleting a user removes the profile, the online history and the caches,
and leaves a tombstone that keeps their events out of every later training set.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from pydantic import ValidationError

from feature_store.online import OnlineStore
from recsys.catalog_db.seekers import SeekerTable
from recsys.ingest.places import seeker_rows
from recsys.ingest.records import SeekerRecord, reasons
from recsys.service.clock import Clock
from recsys.service.seekers import UnknownUserError

API_SOURCE = "api"


class UserAccounts:
    """Profiles in the catalog DB plus what the online store holds of each user."""

    def __init__(self, table: SeekerTable, store: OnlineStore, clock: Clock):
        self.table = table
        self.store = store
        self.clock = clock

    def _now(self) -> datetime:
        return pd.Timestamp(self.clock()).to_pydatetime().replace(tzinfo=None)

    def put(self, user_id: str, profile: dict[str, Any]) -> bool:
        """Store the profile; True when the user is new. Raises ValueError for a bad one."""
        try:
            record = SeekerRecord.model_validate(
                {**{k: v for k, v in profile.items() if v is not None}, "user_id": user_id}
            )
        except ValidationError as exc:
            raise ValueError(reasons(exc)) from None
        result = self.table.upsert(seeker_rows([record], API_SOURCE), self._now())
        self.store.drop_cached(user_id)
        return result.inserted == 1

    def get(self, user_id: str) -> dict[str, Any]:
        row = self.table.get(user_id)
        if row is None:
            raise UnknownUserError(f"no stored profile for user {user_id!r}")
        return row

    def discoverable(self, user_ids: list[str]) -> set[str]:
        """Which of `user_ids` employers may see now (stored and not opted out)."""
        return self.table.discoverable(user_ids)

    def delete(self, user_id: str) -> bool:
        """Forget the user; True when a profile existed (history alone is forgotten too)."""
        existed = self.table.delete(user_id, self._now())
        self.store.forget_user(user_id)
        return existed
