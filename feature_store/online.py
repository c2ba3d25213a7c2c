"""The online-store interface the service depends on, and the factory that picks a backend.

Callers see only `OnlineStore`; the SQLite and Redis modules are imported lazily so an embedded
run never needs a Redis client or server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import numpy.typing as npt
import pandas as pd

StoreKind = Literal["sqlite", "redis"]

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


def open_store(
    kind: StoreKind,
    *,
    sqlite_path: Path | str | None = None,
    redis_url: str | None = None,
) -> OnlineStore:
    """Open the online store of `kind`; raises StoreUnavailableError when Redis does not answer."""
    if kind == "sqlite":
        if sqlite_path is None:
            raise ValueError("open_store('sqlite') needs sqlite_path, the file to keep features in")
        from feature_store.sqlite_store import SqliteOnlineStore

        return SqliteOnlineStore(sqlite_path)
    if kind == "redis":
        if redis_url is None:
            raise ValueError("open_store('redis') needs redis_url, e.g. redis://127.0.0.1:6379/0")
        from feature_store.redis_store import RedisOnlineStore, connect

        return RedisOnlineStore(connect(redis_url))
    raise ValueError(f"unknown online store kind {kind!r}; expected 'sqlite' or 'redis'")
