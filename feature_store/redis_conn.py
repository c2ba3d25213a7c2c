"""Connecting to Redis with an error that tells the operator what to do when it is down."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import redis

from feature_store.online import StoreUnavailableError, redacted_url


def connect(url: str, *, timeout_s: float = 2.0) -> redis.Redis:
    """A client for `url` that has answered PING; raises StoreUnavailableError otherwise."""
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=30.0)
    try:
        client.ping()
    except (redis.ConnectionError, redis.TimeoutError) as exc:
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
