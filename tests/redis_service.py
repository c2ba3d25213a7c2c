"""The real Redis the service-bound tests talk to, on RECSYS_REDIS_URL (default db 15).

Tests skip when no server answers, except under CI=true where a missing Redis is a failure:
CI always has one, so a skip there would hide a broken backend.
"""

from __future__ import annotations

import os

import pytest
import redis

from feature_store.online import StoreUnavailableError
from feature_store.redis_conn import connect

REDIS_URL = os.environ.get("RECSYS_REDIS_URL", "redis://127.0.0.1:6379/15")


def redis_client_or_skip() -> redis.Redis:
    """A client on the test database, flushed; skip (or fail under CI=true) without Redis."""
    try:
        client = connect(REDIS_URL)
    except StoreUnavailableError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true needs Redis: {exc}")
        pytest.skip(f"Redis tests skipped: {exc}")
    client.flushdb()
    return client
