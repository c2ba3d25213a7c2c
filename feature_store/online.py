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
#: a query vector to cache: (key, vector)
VectorEntry = tuple[str, FloatArray]
#: a result to cache: (key, payload, ttl_s or None for `RESULT_CACHE.ttl_s`)
CachedEntry = tuple[str, bytes, float | None]


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


@dataclass(frozen=True)
class UserRead:
    """What a request reads about its seeker: the history, and when asked for, one cached
    result and one query vector (None when missing or expired)."""

    history: SeekerHistory = field(default_factory=SeekerHistory)
    cached: bytes | None = None
    query_vector: FloatArray | None = None


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

    def read_user(
        self, user_id: str, *, cached_key: str | None = None, vector_key: str | None = None
    ) -> UserRead:
        """`seeker_history`, `get_cached(cached_key)` and `get_query_vector(vector_key)` in one
        round trip (a request's reads; a key left None is not read)."""
        ...

    def write_user(
        self, user_id: str, *, vector: VectorEntry | None = None, cached: CachedEntry | None = None
    ) -> None:
        """`put_query_vector(*vector)` and `put_cached(*cached)` in one round trip (what a
        served request writes back; either may be None)."""
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


def read_user_in_parts(
    store: OnlineStore, user_id: str, cached_key: str | None, vector_key: str | None
) -> UserRead:
    """`read_user` as separate reads: for a backend where a read is a local call, not a trip."""
    return UserRead(
        store.seeker_history(user_id),
        None if cached_key is None else store.get_cached(user_id, cached_key),
        None if vector_key is None else store.get_query_vector(user_id, vector_key),
    )


def write_user_in_parts(
    store: OnlineStore,
    user_id: str,
    vector: VectorEntry | None,
    cached: CachedEntry | None,
) -> None:
    """`write_user` as separate writes, for the same kind of backend."""
    if vector is not None:
        store.put_query_vector(user_id, *vector)
    if cached is not None:
        store.put_cached(user_id, *cached)


def redacted_url(url: str) -> str:
    """The URL with any password hidden, safe to put in an error message or a log line."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
