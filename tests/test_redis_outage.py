"""Serving without Redis, fast: the circuit breaker, the durable event spool, and the guarded
store and stream on a redis-py client whose server is not there (a closed loopback port).

The restart under load, against a real redis-server, is tests/test_redis_restart.py (slow).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from feature_store.backends import guarded
from feature_store.breaker import CircuitBreaker
from feature_store.online import StoreUnavailableError
from feature_store.redis_conn import client_for, connect
from feature_store.redis_store import RedisOnlineStore
from feature_store.redis_stream import RedisStream
from feature_store.spool import EventSpool


def _events(n: int, start: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(start, start + n)],
            "ts": pd.Timestamp("2026-01-01", tz="UTC"),
            "user_id": "u1",
            "job_id": np.arange(start, start + n, dtype=np.int64),
            "type": "click",
            "request_id": "r1",
            "position": 0,
        }
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket is closed


def test_breaker_skips_the_server_for_its_cooldown_then_tries_again() -> None:
    now = [0.0]
    breaker = CircuitBreaker("redis", (OSError,), cooldown_s=1.0, clock=lambda: now[0])
    calls: list[int] = []

    def failing() -> int:
        calls.append(1)
        raise OSError("refused")

    with pytest.raises(StoreUnavailableError, match="refused"):
        breaker.call(failing)
    assert breaker.is_open()
    now[0] = 0.5
    with pytest.raises(StoreUnavailableError, match="cooling down"):
        breaker.call(failing)
    assert len(calls) == 1 and breaker.skipped == 1  # no second wait on a dead server
    now[0] = 1.5
    assert breaker.call(lambda: 7) == 7  # the trial call succeeds: closed again
    assert not breaker.is_open()
    with pytest.raises(ValueError):  # an error that is not "server gone" passes through
        breaker.call(lambda: int("x"))
    assert not breaker.is_open()


def test_spool_replays_oldest_first_and_keeps_what_the_store_missed(tmp_path: Path) -> None:
    spool = EventSpool(tmp_path / "spool.sqlite")
    assert spool.add(_events(3)) == 3
    assert spool.add(_events(2, start=3)) == 2

    def down(to_append: pd.DataFrame, to_apply: pd.DataFrame) -> pd.DataFrame:
        raise StoreUnavailableError("still down")

    with pytest.raises(StoreUnavailableError):
        spool.replay(down)
    assert spool.count() == 5  # a failed replay keeps every row

    seen: list[list[str]] = []

    def stream_only(to_append: pd.DataFrame, to_apply: pd.DataFrame) -> pd.DataFrame:
        seen.append(to_append["event_id"].tolist())
        return to_append.iloc[:2]  # the stream took all five, the store missed two

    assert spool.replay(stream_only) == 3
    assert seen == [["e0", "e1", "e2", "e3", "e4"]]
    applied: list[list[str]] = []

    def fine(to_append: pd.DataFrame, to_apply: pd.DataFrame) -> pd.DataFrame:
        assert to_append.empty  # already in the stream: not appended twice
        applied.append(to_apply["event_id"].tolist())
        return to_apply.iloc[:0]

    assert spool.replay(fine) == 2
    assert applied == [["e0", "e1"]] and spool.count() == 0


def test_a_spooled_event_survives_the_process_being_killed(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite"
    _events(4).to_parquet(tmp_path / "batch.parquet")
    code = (
        "import os, pandas as pd\n"
        "from feature_store.spool import EventSpool\n"
        f"EventSpool({str(path)!r}).add(pd.read_parquet({str(tmp_path / 'batch.parquet')!r}))\n"
        "os._exit(0)  # no close, no atexit: as abrupt as a crash after the 200\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert EventSpool(path).count() == 4


def test_guarded_store_and_stream_fail_fast_without_the_server(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    with pytest.raises(StoreUnavailableError, match="cannot be reached"):
        connect(url, timeout_s=0.2)
    client = client_for(url, timeout_s=0.2, socket_timeout_s=0.2)
    store, stream = guarded("redis", RedisOnlineStore(client), RedisStream(client), cooldown_s=60.0)
    start = time.perf_counter()
    history = store.seeker_history("u1")
    assert history.last_active is None and history.n_impressions == 0
    assert len(history.applied_job_ids) == len(history.clicked_job_ids) == 0
    assert store.get_cached("u1", "k") is None
    assert store.get_query_vector("u1", "nurse") is None
    store.put_cached("u1", "k", b"x")  # skipped, not raised
    with pytest.raises(StoreUnavailableError):
        store.job_popularity(np.arange(3), datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(StoreUnavailableError):
        stream.append_new(_events(1))
    with pytest.raises(StoreUnavailableError):
        store.apply_events(_events(1))
    assert store.degraded() == ["redis"]  # type: ignore[attr-defined]
    assert time.perf_counter() - start < 1.0
