"""Stored seeker profiles by user id, and the request history built from the online store.

The market's seekers table stands in for the user database a job board would have: the API's
`GET /v1/recommendations?user_id=` reads the profile here and the behaviour from the online store.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from feature_store.online import SeekerHistory
from recsys.closed_loop import NEVER_ACTIVE_DAYS, NEW_SEEKER_DAYS, seeker_profile
from recsys.market.market import Market
from recsys.pipeline.candidates import History, Profile


class UnknownUserError(KeyError):
    """A user id that no stored profile has."""


class SeekerDirectory:
    """Profiles of the market's seekers, looked up by user id in O(1)."""

    def __init__(self, market: Market):
        self.market = market
        ids = market.seekers["user_id"].astype(str)
        self._row = pd.Series(np.arange(len(ids)), index=ids.to_numpy())
        self._first_seen = market.seekers["first_seen"].to_numpy("datetime64[s]")

    def __contains__(self, user_id: object) -> bool:
        return isinstance(user_id, str) and user_id in self._row.index

    def _row_of(self, user_id: str) -> int:
        try:
            return int(self._row[user_id])
        except KeyError:
            example = self._row.index[0] if len(self._row) else "u0"
            raise UnknownUserError(
                f"unknown user id {user_id!r} (ids look like {example!r}); "
                "for a new seeker POST /v1/recommendations with an inline profile"
            ) from None

    def profile(self, user_id: str) -> Profile:
        return seeker_profile(self.market, self._row_of(user_id))

    def first_seen(self, user_id: str) -> np.datetime64 | None:
        if user_id not in self:
            return None
        return self._first_seen[self._row_of(user_id)]


def request_history(
    stored: SeekerHistory, now: np.datetime64, first_seen: np.datetime64 | None
) -> History:
    """The History a request carries, from what the online store holds for the seeker."""
    last = stored.last_active
    since = NEVER_ACTIVE_DAYS
    if last is not None:
        last_s = np.datetime64(last.replace(tzinfo=None), "s")
        since = max(float((now - last_s) / np.timedelta64(1, "s")) / 86_400.0, 0.0)
    is_new = first_seen is None or bool(now - first_seen < np.timedelta64(NEW_SEEKER_DAYS, "D"))
    return History(
        applied_job_ids=np.asarray(stored.applied_job_ids, np.int64),
        clicked_job_ids=np.asarray(stored.clicked_job_ids, np.int64),
        n_applies=stored.n_applies,
        n_clicks=stored.n_clicks,
        n_impressions=stored.n_impressions,
        days_since_last_activity=since,
        is_new=is_new,
    )
