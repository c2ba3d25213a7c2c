"""The online-store interface the service depends on, and the types its backends share.

Callers see only `OnlineStore`; `feature_store.backends.open_store` picks the SQLite or Redis
module, imported lazily so an embedded run never needs a Redis client or server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float32]


def _no_ids() -> npt.NDArray[np.int64]:
    return np.empty(0, dtype=np.int64)


@dataclass(frozen=True)
class SeekerHistory:
    """A seeker's recent behaviour; an unknown user gets the empty default."""

    applied_job_ids: npt.NDArray[np.int64] = field(default_factory=_no_ids)
    clicked_job_ids: npt.NDArray[np.int64] = field(default_factory=_no_ids)
    n_applies: int = 0
    n_clicks: int = 0
    n_impressions: int = 0
    last_active: datetime | None = None


class StoreUnavailableError(ConnectionError):
    """The configured backend server cannot be reached."""


@runtime_checkable
class OnlineStore(Protocol):
    """Features served at request time, updated from events.

    Histories list job ids newest first within a batch, and a later batch's ids go ahead of an
    earlier one's (arrival order), bounded by `SEEKER_HISTORY.max_len`. `apply_events` is not
    idempotent: apply only the events an `EventStream.append` accepted as new.
    """

    def apply_events(self, events: pd.DataFrame) -> None:
        """Fold a batch into histories, counters and popularity; drop the cached results of
        users who clicked or applied in it (impressions alone leave the cache alone).

        One transaction (SQLite) or pipeline (Redis) per call.
        """
        ...

    def seeker_history(self, user_id: str) -> SeekerHistory:
        """The seeker's history; empty for an unknown user."""
        ...

    def job_popularity(
        self, job_ids: npt.NDArray[np.int64], now: datetime
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(impressions, clicks, applies) per job over the window of days ending at `now`'s day.

        Arrays are aligned with `job_ids`; unknown jobs get zeros.
        """
        ...

    def get_query_vector(self, user_id: str, title: str) -> FloatArray | None:
        """The cached query vector for this user and title, or None (missing, expired, retitled)."""
        ...

    def put_query_vector(self, user_id: str, title: str, vector: FloatArray) -> None:
        """Cache a query vector (stored as float32 bytes) for `QUERY_VECTOR.ttl_s`."""
        ...

    def get_cached(self, user_id: str, key: str) -> bytes | None:
        """A cached result, or None when missing, expired or invalidated by a newer event."""
        ...

    def put_cached(
        self, user_id: str, key: str, payload: bytes, ttl_s: float | None = None
    ) -> None:
        """Cache a result for `ttl_s` (default `RESULT_CACHE.ttl_s`) until the user's next event."""
        ...

    def forget_user(self, user_id: str) -> None:
        """Delete the user's history, query vectors and cached results (a user deleted from
        the board). Job popularity keeps the counts: they are no one's in particular."""
        ...

    def drop_cached(self, user_id: str) -> None:
        """Drop the user's cached results and query vectors (their profile changed)."""
        ...

    def get_marker(self, name: str) -> str | None:
        """A note the store keeps until `clear` (e.g. which event log it was materialized from)."""
        ...

    def set_marker(self, name: str, value: str) -> None:
        """Keep a note under `name` (replacing an older one)."""
        ...

    def ping(self) -> bool:
        """True when the backend answers."""
        ...

    def clear(self) -> None:
        """Delete everything this store holds (tests, re-materialization)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def redacted_url(url: str) -> str:
    """The URL with any password hidden, safe to put in an error message or a log line."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
