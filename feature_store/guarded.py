"""An online store and an event stream behind a circuit breaker, for a server that may go away.

Reads degrade instead of failing a request: no history for the seeker, cache misses, and
`job_popularity` raises StoreUnavailableError so its caller keeps the last snapshot it holds.
Cache writes and drops are skipped. Writes that must not be lost (`apply_events`, `forget_user`, the
stream's `append_new`) raise StoreUnavailableError: the caller buffers the events durably
(`feature_store.spool.EventSpool`) or refuses the request. `degraded()` names the servers that
failed within their cool-down, for the response's debug.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from feature_store.breaker import CircuitBreaker
from feature_store.online import (
    CachedEntry,
    FloatArray,
    OnlineStore,
    SeekerHistory,
    StoreUnavailableError,
    UserRead,
    VectorEntry,
)
from feature_store.stream import EventStream


class GuardedOnlineStore:
    """`OnlineStore` that serves degraded reads while `breaker` reports the server down."""

    def __init__(self, inner: OnlineStore, breaker: CircuitBreaker) -> None:
        self.inner = inner
        self.breaker = breaker

    def degraded(self) -> list[str]:
        """The servers currently skipped or failing (empty when all answer)."""
        return [self.breaker.name] if self.breaker.is_open() else []

    def apply_events(self, events: pd.DataFrame) -> None:
        self.breaker.call(lambda: self.inner.apply_events(events))

    def seeker_history(self, user_id: str) -> SeekerHistory:
        try:
            return self.breaker.call(lambda: self.inner.seeker_history(user_id))
        except StoreUnavailableError:
            return SeekerHistory()

    def read_user(
        self, user_id: str, *, cached_key: str | None = None, vector_key: str | None = None
    ) -> UserRead:
        try:
            return self.breaker.call(
                lambda: self.inner.read_user(user_id, cached_key=cached_key, vector_key=vector_key)
            )
        except StoreUnavailableError:
            return UserRead()

    def write_user(
        self, user_id: str, *, vector: VectorEntry | None = None, cached: CachedEntry | None = None
    ) -> None:
        try:
            self.breaker.call(lambda: self.inner.write_user(user_id, vector=vector, cached=cached))
        except StoreUnavailableError:
            return

    def job_popularity(
        self, job_ids: npt.NDArray[np.int64], now: datetime
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        return self.breaker.call(lambda: self.inner.job_popularity(job_ids, now))

    def get_query_vector(self, user_id: str, title: str) -> FloatArray | None:
        try:
            return self.breaker.call(lambda: self.inner.get_query_vector(user_id, title))
        except StoreUnavailableError:
            return None

    def put_query_vector(self, user_id: str, title: str, vector: FloatArray) -> None:
        try:
            self.breaker.call(lambda: self.inner.put_query_vector(user_id, title, vector))
        except StoreUnavailableError:
            return

    def get_cached(self, user_id: str, key: str) -> bytes | None:
        try:
            return self.breaker.call(lambda: self.inner.get_cached(user_id, key))
        except StoreUnavailableError:
            return None

    def put_cached(
        self, user_id: str, key: str, payload: bytes, ttl_s: float | None = None
    ) -> None:
        try:
            self.breaker.call(lambda: self.inner.put_cached(user_id, key, payload, ttl_s))
        except StoreUnavailableError:
            return

    def forget_user(self, user_id: str) -> None:
        self.breaker.call(lambda: self.inner.forget_user(user_id))

    def drop_cached(self, user_id: str) -> None:
        # Skipped while down: the lists cached before the outage are keyed by the ranker
        # version and expire within the cache TTL, so a profile change is late, not lost.
        try:
            self.breaker.call(lambda: self.inner.drop_cached(user_id))
        except StoreUnavailableError:
            return

    def get_marker(self, name: str) -> str | None:
        return self.breaker.call(lambda: self.inner.get_marker(name))

    def set_marker(self, name: str, value: str) -> None:
        self.breaker.call(lambda: self.inner.set_marker(name, value))

    def ping(self) -> bool:
        try:
            return self.breaker.call(self.inner.ping)
        except StoreUnavailableError:
            return False

    def clear(self) -> None:
        self.breaker.call(self.inner.clear)

    def close(self) -> None:
        self.inner.close()


class GuardedStream:
    """`EventStream` whose calls raise StoreUnavailableError while `breaker` reports the server
    down (shared with the online store on the same server)."""

    def __init__(self, inner: EventStream, breaker: CircuitBreaker) -> None:
        self.inner = inner
        self.breaker = breaker

    def append(self, events: pd.DataFrame) -> int:
        return self.breaker.call(lambda: self.inner.append(events))

    def append_new(self, events: pd.DataFrame) -> pd.DataFrame:
        return self.breaker.call(lambda: self.inner.append_new(events))

    def pending(self) -> int:
        return self.breaker.call(self.inner.pending)

    def drain(self, events_root: Path) -> int:
        return self.breaker.call(lambda: self.inner.drain(events_root))

    def clear(self) -> None:
        self.breaker.call(self.inner.clear)

    def close(self) -> None:
        self.inner.close()
