"""A durable local buffer for events the event stream could not take (its server is down).

An event acknowledged to a client must survive a crash of this process, so each batch is one
SQLite transaction with `synchronous=FULL` (fsync before COMMIT returns). Several worker
processes on one host may share the file: `replay` holds SQLite's write lock while it moves a
batch, so two replays never hand the same rows on twice, and the stream deduplicates by event id
in any case. Rows marked `appended` already reached the stream (the online store missed them);
replay applies those without appending them again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from feature_store.events import EVENT_COLUMNS, events_from_millis, normalize_events, ts_millis
from feature_store.sqlite_store import connect_sqlite

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spooled_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL,
    ts INTEGER NOT NULL, user_id TEXT NOT NULL, job_id INTEGER NOT NULL, type TEXT NOT NULL,
    request_id TEXT NOT NULL, position INTEGER NOT NULL, appended INTEGER NOT NULL
);
"""
_BATCH = 2_000

#: replay's callback: (events to append to the stream, events appended but not yet applied) ->
#: the events that reached the stream but not the online store. It raises when nothing got
#: through (the rows stay spooled as they were).
Forward = Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame]


class EventSpool:
    """Events waiting for the stream, in one SQLite file, oldest first."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._conn = connect_sqlite(self.path)
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def add(self, events: pd.DataFrame, *, appended: bool = False) -> int:
        """Keep `events` (event schema) durably; returns how many. `appended`: they are in the
        stream already and only the online store still needs them."""
        frame = normalize_events(events)
        if frame.empty:
            return 0
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._insert(frame, appended)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return len(frame)

    def _insert(self, frame: pd.DataFrame, appended: bool) -> None:
        rows = frame[EVENT_COLUMNS].assign(ts=ts_millis(frame), appended=int(appended))
        self._conn.executemany(
            "INSERT INTO spooled_events (event_id, ts, user_id, job_id, type, request_id,"
            " position, appended) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [tuple(r) for r in rows.itertuples(index=False)],
        )

    def count(self) -> int:
        """Events waiting (all processes sharing the file)."""
        with self._lock:
            (n,) = self._conn.execute("SELECT COUNT(*) FROM spooled_events").fetchone()
        return int(n)

    def replay(self, forward: Forward) -> int:
        """Hand the spooled events to `forward`, oldest first, in batches. A batch is deleted
        once `forward` returned, and what it returns (events the stream took but the online
        store did not) is kept, marked appended, in the same transaction. Stops at a batch
        `forward` raises on (re-raised; the batch stays) or returns leftovers for; returns the
        events handed on."""
        moved = 0
        while True:
            with self._lock:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    batch = pd.read_sql_query(
                        "SELECT * FROM spooled_events ORDER BY seq LIMIT ?",
                        self._conn,
                        params=(_BATCH,),
                    )
                    if batch.empty:
                        self._conn.execute("COMMIT")
                        return moved
                    appended = batch["appended"].to_numpy(bool)
                    events = events_from_millis(batch)
                    leftover = forward(
                        events[~appended].reset_index(drop=True),
                        events[appended].reset_index(drop=True),
                    )
                    self._conn.execute(
                        "DELETE FROM spooled_events WHERE seq <= ?", (int(batch["seq"].max()),)
                    )
                    if not leftover.empty:
                        self._insert(leftover, appended=True)
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
            moved += len(batch) - len(leftover)
            if not leftover.empty:
                return moved

    def close(self) -> None:
        self._conn.close()
