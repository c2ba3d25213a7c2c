"""The one factory for the store's backends: a backend name picks a class, imported lazily.

Each interface (`OnlineStore`, `EventStream`) has one module per backend; the tables below say
which class implements it for each name (Feast's way), and only the chosen module is imported,
so an embedded run never needs the Redis client. A SQLite backend is opened on a file, a Redis
one on a client that has answered PING (`StoreUnavailableError` otherwise). `guarded` puts a
store and a stream on one server behind one circuit breaker, for serving.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Final, Literal, get_args

from feature_store.breaker import CircuitBreaker
from feature_store.guarded import GuardedOnlineStore, GuardedStream
from feature_store.online import OnlineStore
from feature_store.stream import EventStream

BackendKind = Literal["sqlite", "redis"]
#: the backend names every interface accepts.
BACKENDS: Final[tuple[str, ...]] = get_args(BackendKind)

#: backend name -> "module:Class" of the online store.
ONLINE_STORES: Final[dict[str, str]] = {
    "sqlite": "feature_store.sqlite_store:SqliteOnlineStore",
    "redis": "feature_store.redis_store:RedisOnlineStore",
}
#: backend name -> "module:Class" of the event stream.
EVENT_STREAMS: Final[dict[str, str]] = {
    "sqlite": "feature_store.sqlite_stream:SqliteStream",
    "redis": "feature_store.redis_stream:RedisStream",
}


def _backend_class(classes: dict[str, str], kind: str, what: str) -> Any:
    if kind not in classes:
        expected = " or ".join(repr(k) for k in classes)
        raise ValueError(f"unknown {what} kind {kind!r}; expected {expected}")
    module, name = classes[kind].split(":")
    return getattr(importlib.import_module(module), name)


def open_backend(
    classes: dict[str, str],
    kind: str,
    *,
    what: str,
    sqlite_path: Path | str | None = None,
    redis_url: str | None = None,
    redis_options: dict[str, Any] | None = None,
) -> Any:
    """An instance of the class `classes[kind]` names: on `sqlite_path` for SQLite, on a
    connected client of `redis_url` for Redis (`redis_options`: keyword arguments of
    `feature_store.redis_conn.connect`, its timeouts and retries)."""
    cls = _backend_class(classes, kind, what)
    if kind == "sqlite":
        if sqlite_path is None:
            raise ValueError(f"a {what} on 'sqlite' needs sqlite_path, the file to keep it in")
        return cls(sqlite_path)
    if redis_url is None:
        raise ValueError(f"a {what} on 'redis' needs redis_url, e.g. redis://127.0.0.1:6379/0")
    from feature_store.redis_conn import connect

    return cls(connect(redis_url, **(redis_options or {})))


def open_store(
    kind: BackendKind,
    *,
    sqlite_path: Path | str | None = None,
    redis_url: str | None = None,
    redis_options: dict[str, Any] | None = None,
) -> OnlineStore:
    """Open the online store of `kind`; raises StoreUnavailableError when Redis does not answer."""
    store: OnlineStore = open_backend(
        ONLINE_STORES,
        kind,
        what="online store",
        sqlite_path=sqlite_path,
        redis_url=redis_url,
        redis_options=redis_options,
    )
    return store


def open_stream(
    kind: BackendKind,
    *,
    sqlite_path: Path | str | None = None,
    redis_url: str | None = None,
    redis_options: dict[str, Any] | None = None,
) -> EventStream:
    """Open the event stream of `kind`; raises StoreUnavailableError when Redis does not answer."""
    stream: EventStream = open_backend(
        EVENT_STREAMS,
        kind,
        what="event stream",
        sqlite_path=sqlite_path,
        redis_url=redis_url,
        redis_options=redis_options,
    )
    return stream


def guarded(
    kind: BackendKind, store: OnlineStore, stream: EventStream, *, cooldown_s: float = 1.0
) -> tuple[OnlineStore, EventStream]:
    """The store and stream of a Redis backend behind one circuit breaker (they share the
    server), so reads degrade and writes raise StoreUnavailableError fast while it is down; a
    SQLite backend is a local file and comes back as it is."""
    if kind != "redis":
        return store, stream
    from feature_store.redis_conn import UNAVAILABLE_ERRORS

    breaker = CircuitBreaker("redis", UNAVAILABLE_ERRORS, cooldown_s=cooldown_s)
    return GuardedOnlineStore(store, breaker), GuardedStream(stream, breaker)
