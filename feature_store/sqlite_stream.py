"""The embedded event stream: an append-only SQLite table, deduplicated by primary key.

Drained rows stay (flagged) for `id_ttl_s` so a replayed event id is still recognised after its
events have moved to Parquet; older drained rows are deleted on the next drain.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd

from feature_store.clock import Clock, system_clock
from feature_store.events import EVENT_COLUMNS, events_from_millis, normalize_events, ts_millis
from feature_store.partitions import write_new_events
from feature_store.sqlite_store import connect_sqlite

_SCHEMA = """
CREATE TABLE IF NOT EXISTS stream_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE,
    ts INTEGER NOT NULL, user_id TEXT NOT NULL, job_id INTEGER NOT NULL, type TEXT NOT NULL,
    request_id TEXT NOT NULL, position INTEGER NOT NULL,
    appended_at REAL NOT NULL, drained INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS stream_pending ON stream_events (seq) WHERE drained = 0;
"""
_CHUNK = 500
#: How long an event id is remembered for deduplication: a week of retries and replays.
DEFAULT_ID_TTL_S = 7 * 86_400.0


class SqliteStream:
    """`EventStream` in one SQLite file (may be the online store's file)."""

    def __init__(
        self, path: Path | str, *, id_ttl_s: float = DEFAULT_ID_TTL_S, clock: Clock = system_clock
    ) -> None:
        self._conn = connect_sqlite(path)
        self._conn.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._drain_lock = threading.Lock()
        self._id_ttl_s = id_ttl_s
        self._clock = clock

    def append_new(self, events: pd.DataFrame) -> pd.DataFrame:
        """Append the events whose ids were never seen; returns those (normalized) rows."""
        frame = normalize_events(events).drop_duplicates("event_id", keep="first")
        if frame.empty:
            return frame
        frame["ts"] = ts_millis(frame)
        ids = frame["event_id"].tolist()
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                seen: set[str] = set()
                for start in range(0, len(ids), _CHUNK):
                    chunk = ids[start : start + _CHUNK]
                    marks = ",".join("?" * len(chunk))
                    seen.update(
                        row[0]
                        for row in self._conn.execute(
                            f"SELECT event_id FROM stream_events WHERE event_id IN ({marks})", chunk
                        )
                    )
                fresh = frame[~frame["event_id"].isin(seen)]
                now = self._clock()
                self._conn.executemany(
                    "INSERT INTO stream_events (event_id, ts, user_id, job_id, type, request_id,"
                    " position, appended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        (*row, now)
                        for row in fresh[EVENT_COLUMNS]
                        .astype(object)
                        .itertuples(index=False, name=None)
                    ),
                )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        return events_from_millis(fresh)

    def append(self, events: pd.DataFrame) -> int:
        return len(self.append_new(events))

    def pending(self) -> int:
        with self._lock:
            (n,) = self._conn.execute(
                "SELECT COUNT(*) FROM stream_events WHERE drained = 0"
            ).fetchone()
        return int(n)

    def drain(self, events_root: Path) -> int:
        with self._drain_lock:
            with self._lock:
                rows = self._conn.execute(
                    f"SELECT seq, {', '.join(EVENT_COLUMNS)} FROM stream_events"
                    " WHERE drained = 0 ORDER BY seq"
                ).fetchall()
            if not rows:
                return 0
            frame = pd.DataFrame(rows, columns=["seq", *EVENT_COLUMNS])
            written = write_new_events(Path(events_root), events_from_millis(frame))
            last_seq = int(frame["seq"].iloc[-1])
            with self._lock:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.execute(
                    "UPDATE stream_events SET drained = 1 WHERE drained = 0 AND seq <= ?",
                    (last_seq,),
                )
                self._conn.execute(
                    "DELETE FROM stream_events WHERE drained = 1 AND appended_at < ?",
                    (self._clock() - self._id_ttl_s,),
                )
                self._conn.execute("COMMIT")
            return written

    def clear(self) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM stream_events")

    def close(self) -> None:
        with self._lock:
            self._conn.close()
