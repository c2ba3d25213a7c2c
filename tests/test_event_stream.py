"""One contract for both event streams (SQLite and a real Redis): idempotent appends, and
drains into daily Parquet that neither lose nor duplicate events.

Redis tests use RECSYS_REDIS_URL (default db 15, flushed around each test); they skip when no
server answers, except under CI=true where a missing Redis is a failure.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from redis_service import redis_client_or_skip

from feature_store import redis_stream, sqlite_stream
from feature_store.backends import open_stream
from feature_store.events import read_events
from feature_store.online import StoreUnavailableError
from feature_store.redis_stream import RedisStream
from feature_store.sqlite_stream import SqliteStream
from feature_store.stream import EventStream

T0 = datetime(2026, 3, 10, 23, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def stream(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStream]:
    if request.param == "sqlite":
        backend: EventStream = SqliteStream(tmp_path / "stream.sqlite")
        yield backend
        backend.close()
    else:
        client = redis_client_or_skip()
        backend = RedisStream(client)
        yield backend
        client.flushdb()
        backend.close()


def make_events(n: int, start: int = 0, step: timedelta = timedelta(minutes=1)) -> pd.DataFrame:
    """n events with ids e<start>..., one `step` apart from T0 (so they can span UTC midnight)."""
    ids = np.arange(start, start + n)
    return pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in ids],
            "ts": (
                pd.Timestamp(T0) + pd.to_timedelta(ids * step.total_seconds(), unit="s")
            ).as_unit("ms"),
            "user_id": [f"u{i % 7}" for i in ids],
            "job_id": (ids % 13).astype(np.int64),
            "type": np.array(["impression", "click", "apply"])[ids % 3],
            "request_id": [f"r{i // 10}" for i in ids],
            "position": (ids % 20).astype(np.int16),
        }
    )


def parquet_rows(root: Path) -> int:
    return sum(pq.read_metadata(p).num_rows for p in root.glob("date=*/*.parquet"))


def test_append_is_idempotent_by_event_id(stream: EventStream) -> None:
    batch = make_events(3)
    assert stream.append(batch) == 3
    assert stream.append(batch) == 0  # a retried POST
    assert stream.append(make_events(3, start=1)) == 1  # overlaps: only e3 is new
    assert stream.append(pd.concat([make_events(1, 9), make_events(1, 9)])) == 1
    assert stream.pending() == 5


def test_append_new_returns_the_new_rows(stream: EventStream) -> None:
    stream.append(make_events(2))
    fresh = stream.append_new(make_events(4))
    assert fresh["event_id"].tolist() == ["e2", "e3"]
    assert fresh["ts"].tolist() == make_events(4)["ts"].iloc[2:].tolist()


def test_malformed_events_are_rejected(stream: EventStream) -> None:
    bad = make_events(2).assign(type=["impression", "like"])
    with pytest.raises(ValueError, match="unknown event types"):
        stream.append(bad)
    with pytest.raises(ValueError, match="lack columns"):
        stream.append(make_events(2).drop(columns=["user_id"]))
    assert stream.pending() == 0


def test_drain_then_read_events_round_trip(stream: EventStream, tmp_path: Path) -> None:
    root = tmp_path / "events"
    events = make_events(180)  # 23:00 plus three hours: spans two UTC days
    stream.append(events)
    assert stream.drain(root) == 180
    assert stream.pending() == 0
    assert stream.drain(root) == 0
    assert len(read_events(root, date(2026, 3, 10), date(2026, 3, 10))) == 60
    assert len(read_events(root, date(2026, 3, 11), date(2026, 3, 11))) == 120
    back = read_events(root).sort_values("event_id", key=lambda s: s.str[1:].astype(int))
    pd.testing.assert_frame_equal(back.reset_index(drop=True), events, check_dtype=True)

    # A second drain on the same day adds a part next to the first instead of replacing it.
    stream.append(make_events(5, start=180))
    assert stream.drain(root) == 5
    assert len(list((root / "date=2026-03-11").glob("*.parquet"))) == 2
    assert len(read_events(root)) == 185
    # Ids are remembered after draining: a replay is still not new.
    assert stream.append(make_events(185)) == 0


def test_crash_between_write_and_trim_loses_and_duplicates_nothing(
    stream: EventStream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "events"
    stream.append(make_events(50))
    real = sqlite_stream.write_new_events

    def write_then_crash(events_root: Path, events: pd.DataFrame) -> int:
        real(events_root, events)
        raise RuntimeError("crash after the Parquet write")

    for module in (sqlite_stream, redis_stream):
        monkeypatch.setattr(module, "write_new_events", write_then_crash)
    with pytest.raises(RuntimeError, match="crash"):
        stream.drain(root)
    monkeypatch.undo()
    assert stream.pending() == 50  # not trimmed
    stream.append(make_events(10, start=50))
    assert stream.drain(root) == 10  # the 50 already on disk are skipped
    assert parquet_rows(root) == 60
    assert len(read_events(root)) == 60


def test_append_throughput(stream: EventStream) -> None:
    batches = [make_events(1_000, start=i * 1_000, step=timedelta(seconds=1)) for i in range(20)]
    started = time.perf_counter()
    added = sum(stream.append(batch) for batch in batches)
    elapsed = time.perf_counter() - started
    print(f"\n{type(stream).__name__}.append: {added / elapsed:,.0f} events/s (batches of 1,000)")
    assert added == 20_000
    assert stream.pending() == 20_000


def test_open_stream(tmp_path: Path) -> None:
    stream = open_stream("sqlite", sqlite_path=tmp_path / "s.sqlite")
    assert stream.append(make_events(1)) == 1
    stream.close()
    with pytest.raises(StoreUnavailableError, match=r"127\.0\.0\.1:1.*sqlite"):
        open_stream("redis", redis_url="redis://127.0.0.1:1/0")
