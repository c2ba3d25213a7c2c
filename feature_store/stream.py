"""The durable event log: accepted events are appended here, then drained to daily Parquet.

`append` is idempotent by `event_id`, so a retried POST or a replayed batch never counts twice;
`drain` writes first and trims after, and skips ids already on disk, so a crash in between
neither loses nor duplicates events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import pandas as pd

from feature_store.redis_conn import connect
from feature_store.redis_stream import RedisStream
from feature_store.sqlite_stream import SqliteStream

__all__ = ["EventStream", "RedisStream", "SqliteStream", "open_stream"]


@runtime_checkable
class EventStream(Protocol):
    """An append-only, deduplicating event log."""

    def append(self, events: pd.DataFrame) -> int:
        """Append a batch (event schema); returns how many events were new."""
        ...

    def append_new(self, events: pd.DataFrame) -> pd.DataFrame:
        """Like `append`, returning the new rows: the ones to apply to the online store."""
        ...

    def pending(self) -> int:
        """How many appended events await the next drain."""
        ...

    def drain(self, events_root: Path) -> int:
        """Move all appended events into `<events_root>/date=YYYY-MM-DD/`; returns rows written."""
        ...

    def clear(self) -> None:
        """Forget every event and id (tests)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def open_stream(
    kind: Literal["sqlite", "redis"],
    *,
    sqlite_path: Path | str | None = None,
    redis_url: str | None = None,
) -> EventStream:
    """Open the event stream of `kind`; raises StoreUnavailableError when Redis does not answer."""
    if kind == "sqlite":
        if sqlite_path is None:
            raise ValueError("open_stream('sqlite') needs sqlite_path, the file to log events in")
        return SqliteStream(sqlite_path)
    if kind == "redis":
        if redis_url is None:
            raise ValueError("open_stream('redis') needs redis_url, e.g. redis://127.0.0.1:6379/0")
        return RedisStream(connect(redis_url))
    raise ValueError(f"unknown event stream kind {kind!r}; expected 'sqlite' or 'redis'")
