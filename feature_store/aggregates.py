"""Turn a batch of events into per-user and per-(job, day) deltas, once, with numpy.

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


def _newest_first(
    user: npt.NDArray[np.int64],
    ts_ms: npt.NDArray[np.int64],
    job_id: npt.NDArray[np.int64],
    rows: npt.NDArray[np.int64],
    max_len: int,
) -> dict[int, npt.NDArray[np.int64]]:
    """Job ids of the events at `rows` per user index, newest first (later rows win ties), at
    most `max_len` each."""
    if len(rows) == 0:
        return {}
    rows = rows[::-1]  # later rows first, kept first among equal timestamps: lexsort is stable
    rows = rows[np.lexsort((-ts_ms[rows], user[rows]))]
    users = user[rows]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    rank = np.arange(len(rows)) - np.repeat(starts, np.diff(np.r_[starts, len(rows)]))
    keep = rank < max_len
    rows, users = rows[keep], users[keep]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    return dict(zip(users[starts].tolist(), np.split(job_id[rows], starts[1:]), strict=True))


def batch_deltas(events: pd.DataFrame, max_len: int) -> BatchDeltas:
    """Aggregate a batch (validated against the event schema) into store deltas.

    Grouped with numpy over the batch's columns: the same aggregation through pandas groupby,
    unstack and iterrows cost ~17 ms per impression-log flush of 300 events, the largest
    part of the service's background CPU (`benchmarks/impression_ingest.py`)."""
    frame = normalize_events(events)
    kinds = frame["type"].to_numpy(dtype=object)
    # Employer events (a seeker shortlisted, contacted) are labels for the candidate ranker,
    # never the seeker's own activity: no history, no last-active, no job popularity.
    seeker = np.isin(kinds, SEEKER_EVENT_TYPES)
    if not seeker.any():
        columns = ["job_id", "day", *COUNTER_OF_TYPE.values()]
        return BatchDeltas(users=[], popularity=pd.DataFrame(columns=columns, dtype=np.int64))
    kinds = kinds[seeker]
    names, user = np.unique(frame["user_id"].to_numpy(dtype=object)[seeker], return_inverse=True)
    ts_ms = ts_millis(frame)[seeker]
    job_id = frame["job_id"].to_numpy(dtype=np.int64)[seeker]
    of_kind = {kind: np.flatnonzero(kinds == kind) for kind in COUNTER_OF_TYPE}
    n_users = len(names)
    counts = {k: np.bincount(user[rows], minlength=n_users) for k, rows in of_kind.items()}
    last = np.full(n_users, np.iinfo(np.int64).min, np.int64)
    np.maximum.at(last, user, ts_ms)
    applied = _newest_first(user, ts_ms, job_id, of_kind["apply"], max_len)
    clicked = _newest_first(user, ts_ms, job_id, of_kind["click"], max_len)
    empty = np.empty(0, dtype=np.int64)
    users = [
        UserDelta(
            user_id=str(name),
            applied=applied.get(i, empty),
            clicked=clicked.get(i, empty),
            n_applies=int(counts["apply"][i]),
            n_clicks=int(counts["click"][i]),
            n_impressions=int(counts["impression"][i]),
            last_active_ms=int(last[i]),
        )
        for i, name in enumerate(names.tolist())
    ]
    keys, bucket = np.unique(
        np.stack([job_id, ts_ms // MS_PER_DAY], axis=1), axis=0, return_inverse=True
    )
    bucket = bucket.ravel()
    popularity = pd.DataFrame({"job_id": keys[:, 0], "day": keys[:, 1]})
    for kind, column in COUNTER_OF_TYPE.items():
        popularity[column] = np.bincount(bucket[of_kind[kind]], minlength=len(keys))
    return BatchDeltas(users=users, popularity=popularity)


def window_days(now_ms: int, days: int) -> tuple[int, int]:
    """First and last day number (days since epoch, UTC) of the popularity window ending now."""
    last = now_ms // MS_PER_DAY
    return last - days + 1, last
