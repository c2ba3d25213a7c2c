"""Seekers' histories and job popularity from events, the one way both sides compute them.

The running service folds events into its online store and turns what the store holds into a
request's History with `request_history`; job popularity is the store's window of daily
buckets (`POPULARITY_WINDOW_DAYS`). The closed loop, the market folder served from the CLI and
the offline evaluations replay their event log through the same store code (`ReplayedHistories`
holds an in-memory SQLite online store), so the rows a ranker is trained on and the rows it is
served agree: same last-active rule (any event), same list bounds, same popularity window.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from feature_store.backends import open_store
from feature_store.online import OnlineStore, SeekerHistory
from recsys.core.catalog import ServingCatalog
from recsys.core.context import History

#: a seeker counts as new this long after first being seen.
NEW_SEEKER_DAYS: Final[int] = 2
#: days since last activity for a seeker never seen active.
NEVER_ACTIVE_DAYS: Final[float] = 365.0


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


class ReplayedHistories:
    """An event log replayed into an online store (in-memory SQLite unless one is given).

    A simulated seekers table names its seekers by `user_id` and says when each was
    `first_seen`; the service reads first-seen from the catalog database instead.
    """

    def __init__(self, store: OnlineStore | None = None):
        self.store = store if store is not None else open_store("sqlite", sqlite_path=":memory:")

    def observe(self, seekers: pd.DataFrame, events: pd.DataFrame) -> None:
        """Fold events into the store, as the service's ingestion does (`seekers` unused: the
        store keys by user id; kept so callers read the same as before)."""
        del seekers
        if not events.empty:
            self.store.apply_events(events)

    def history(self, seekers: pd.DataFrame, row: int, now: np.datetime64) -> History:
        """The History of seeker `row` of `seekers` at `now`."""
        stored = self.store.seeker_history(str(seekers["user_id"].iat[row]))
        first_seen = np.datetime64(seekers["first_seen"].iat[row], "s")
        return request_history(stored, now.astype("datetime64[s]"), first_seen)

    def refresh_popularity(self, catalog: ServingCatalog, now: np.datetime64) -> None:
        """Set the catalog's counters to the store's window ending at `now`'s day, as the
        service's periodic refresh does."""
        when = pd.Timestamp(now).tz_localize(None).to_pydatetime()
        catalog.set_popularity(*self.store.job_popularity(catalog.arrays.job_id, when))
