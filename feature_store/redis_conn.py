"""Connecting to Redis with an error that tells the operator what to do when it is down.

Every client retries a command once on a broken connection (redis-py's `Retry` with
exponential backoff), which is what carries a pooled connection over a server restart: the
first command on a stale socket fails, the retry opens a fresh one. Serving passes short
socket timeouts so a dead server costs milliseconds; batch tools keep the long defaults.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from feature_store.online import StoreUnavailableError, redacted_url

#: the errors that mean "the server is not there" (BusyLoadingError, a server still loading its
#: data after a restart, is a ConnectionError).
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)


def client_for(
    url: str,
    *,
    timeout_s: float = 2.0,
    socket_timeout_s: float = 30.0,
    retries: int = 1,
    health_check_s: float = 10.0,
) -> redis.Redis:
    """A client for `url` (not yet connected).

    `timeout_s` bounds connecting, `socket_timeout_s` each reply; a connection idle longer than
    `health_check_s` is PINGed before use; a command failing on a broken connection is retried
    `retries` times after a backoff of milliseconds (redis-py's default waits seconds).
    """
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=timeout_s,
        socket_timeout=socket_timeout_s,
        retry=Retry(ExponentialBackoff(cap=0.1, base=0.01), retries),
        health_check_interval=health_check_s,
    )


def connect(url: str, **options: Any) -> redis.Redis:
    """A client for `url` that has answered PING; raises StoreUnavailableError otherwise.
    `options`: the keyword arguments of `client_for`."""
    client = client_for(url, **options)
    try:
        client.ping()
    except UNAVAILABLE_ERRORS as exc:
        client.close()
        raise StoreUnavailableError(
            f"Redis at {redacted_url(url)} cannot be reached ({exc}). Start Redis "
            "(e.g. `docker compose up -d redis`) or use the embedded backend: kind='sqlite'."
        ) from exc
    return client


def delete_prefix(client: redis.Redis, prefix: str, batch: int = 1_000) -> None:
    """Delete every key under `prefix` without blocking the server on one huge command."""
    keys: list[Any] = []
    for key in client.scan_iter(match=f"{prefix}*", count=batch):
        keys.append(key)
        if len(keys) >= batch:
            _unlink(client, keys)
            keys = []
    _unlink(client, keys)


def _unlink(client: redis.Redis, keys: Iterable[Any]) -> None:
    keys = list(keys)
    if keys:
        client.unlink(*keys)
