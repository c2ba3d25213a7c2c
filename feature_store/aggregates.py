"""Turn a batch of events into per-user and per-(job, day) deltas, once, with pandas.

Both backends apply the same deltas, so a batch costs one groupby here plus one transaction or
pipeline in the store, never a round trip per event.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from feature_store.events import SEEKER_EVENT_TYPES, normalize_events, ts_millis

MS_PER_DAY = 86_400_000

#: Event type -> counter name used by histories and popularity.
COUNTER_OF_TYPE = {"impression": "impressions", "click": "clicks", "apply": "applies"}


@dataclass(frozen=True)
class UserDelta:
    """What one batch adds to one seeker: new job ids newest first, and counter increments."""

    user_id: str
    applied: npt.NDArray[np.int64]
    clicked: npt.NDArray[np.int64]
    n_applies: int
    n_clicks: int
    n_impressions: int
    last_active_ms: int

    @property
    def acted(self) -> bool:
        """A click or an apply: the seeker's own action, which makes cached results stale.

        Impressions are the service's log of what it showed; they must not invalidate the very
        list they record.
        """
        return self.n_clicks > 0 or self.n_applies > 0


@dataclass(frozen=True)
class BatchDeltas:
    """Per-user deltas and per-(job_id, day) popularity counts of one batch."""

    users: list[UserDelta]
    popularity: pd.DataFrame  # columns job_id, day, impressions, clicks, applies


def _newest_first(frame: pd.DataFrame, kind: str, max_len: int) -> dict[str, npt.NDArray[np.int64]]:
    """Job ids of one event type per user, newest first (later rows win ties), at most max_len."""
    sub = frame.loc[frame["type"] == kind, ["user_id", "ts_ms", "job_id"]].iloc[::-1]
    if sub.empty:
        return {}
    sub = sub.sort_values(["user_id", "ts_ms"], ascending=[True, False], kind="stable")
    sub = sub.groupby("user_id", sort=False).head(max_len)
    users = sub["user_id"].to_numpy()
    jobs = sub["job_id"].to_numpy(dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    return dict(zip(users[starts], np.split(jobs, starts[1:]), strict=True))


def batch_deltas(events: pd.DataFrame, max_len: int) -> BatchDeltas:
    """Aggregate a batch (validated against the event schema) into store deltas."""
    frame = normalize_events(events)
    # Employer events (a seeker shortlisted, contacted) are labels for the candidate ranker,
    # never the seeker's own activity: no history, no last-active, no job popularity.
    frame = frame[frame["type"].isin(SEEKER_EVENT_TYPES)].reset_index(drop=True)
    if frame.empty:
        columns = ["job_id", "day", *COUNTER_OF_TYPE.values()]
        return BatchDeltas(users=[], popularity=pd.DataFrame(columns=columns, dtype=np.int64))
    frame["ts_ms"] = ts_millis(frame)
    empty = np.empty(0, dtype=np.int64)
    applied = _newest_first(frame, "apply", max_len)
    clicked = _newest_first(frame, "click", max_len)
    counts = (
        frame.groupby(["user_id", "type"])
        .size()
        .unstack(fill_value=0)
        .reindex(columns=list(COUNTER_OF_TYPE), fill_value=0)
    )
    last = frame.groupby("user_id")["ts_ms"].max()
    users = [
        UserDelta(
            user_id=str(user),
            applied=applied.get(user, empty),
            clicked=clicked.get(user, empty),
            n_applies=int(row["apply"]),
            n_clicks=int(row["click"]),
            n_impressions=int(row["impression"]),
            last_active_ms=int(last[user]),
        )
        for user, row in counts.iterrows()
    ]
    frame["day"] = frame["ts_ms"] // MS_PER_DAY
    popularity = (
        frame.groupby(["job_id", "day", "type"])
        .size()
        .unstack(fill_value=0)
        .reindex(columns=list(COUNTER_OF_TYPE), fill_value=0)
        .rename(columns=COUNTER_OF_TYPE)
        .reset_index()
    )
    return BatchDeltas(users=users, popularity=popularity)


def window_days(now_ms: int, days: int) -> tuple[int, int]:
    """First and last day number (days since epoch, UTC) of the popularity window ending now."""
    last = now_ms // MS_PER_DAY
    return last - days + 1, last
