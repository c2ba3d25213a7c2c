"""The embedded online store: one SQLite file in WAL mode, safe to share across threads.

One connection guarded by a lock serves all threads (FastAPI runs sync endpoints in a pool);
writes take `BEGIN IMMEDIATE` so a second process waits for the file lock instead of failing
half-way. Lists are stored as little-endian int64 blobs: a history read is one row.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from feature_store.aggregates import batch_deltas, window_days
from feature_store.clock import Clock, from_millis, system_clock, to_millis
from feature_store.definitions import (
    POPULARITY_WINDOW_DAYS,
    QUERY_VECTOR,
    RESULT_CACHE,
    SEEKER_HISTORY,
)
from feature_store.online import (
    CachedEntry,
    FloatArray,
    SeekerHistory,
    UserRead,
    VectorEntry,
    read_user_in_parts,
    write_user_in_parts,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS seeker (
    user_id TEXT PRIMARY KEY, applied BLOB NOT NULL, clicked BLOB NOT NULL,
    n_applies INTEGER NOT NULL, n_clicks INTEGER NOT NULL, n_impressions INTEGER NOT NULL,
    last_active_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS popularity (
    job_id INTEGER NOT NULL, day INTEGER NOT NULL, impressions INTEGER NOT NULL,
    clicks INTEGER NOT NULL, applies INTEGER NOT NULL, PRIMARY KEY (job_id, day)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS query_vector (
    user_id TEXT NOT NULL, title TEXT NOT NULL, vector BLOB NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (user_id, title)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS marker (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS result_cache (
    user_id TEXT NOT NULL, key TEXT NOT NULL, payload BLOB NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (user_id, key)
) WITHOUT ROWID;
"""
_TABLES = ("seeker", "popularity", "query_vector", "result_cache", "marker")
#: SQLite's default limit on bound variables is 999 on old builds; stay well under it.
_CHUNK = 500


def _ids(blob: bytes) -> npt.NDArray[np.int64]:
    return np.frombuffer(blob, dtype="<i8").astype(np.int64)


def _blob(ids: npt.NDArray[np.int64]) -> bytes:
    return np.ascontiguousarray(ids, dtype="<i8").tobytes()


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def connect_sqlite(path: Path | str) -> sqlite3.Connection:
    """A WAL-mode connection usable from any thread (callers serialise with a lock)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


class SqliteOnlineStore:
    """`OnlineStore` in one SQLite file; `clock` decides TTL expiry (injectable for tests)."""

    def __init__(self, path: Path | str, *, clock: Clock = system_clock) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        self._conn = connect_sqlite(self.path)
        self._conn.executescript(_SCHEMA)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def apply_events(self, events: pd.DataFrame) -> None:
        if events.empty:
            return
        max_len = SEEKER_HISTORY.max_len or 0
        deltas = batch_deltas(events, max_len)
        if not deltas.users:  # employer events only: nothing of the seekers' to fold in
            return
        users = [d.user_id for d in deltas.users]
        pop = deltas.popularity
        with self._write() as conn:
            old: dict[str, tuple[Any, ...]] = {}
            for chunk in _chunks(users):
                marks = ",".join("?" * len(chunk))
                for row in conn.execute(f"SELECT * FROM seeker WHERE user_id IN ({marks})", chunk):
                    old[row[0]] = row
            rows = []
            for d in deltas.users:
                prev = old.get(d.user_id)
                applied, clicked = d.applied, d.clicked
                counts = [d.n_applies, d.n_clicks, d.n_impressions]
                last = d.last_active_ms
                if prev is not None:
                    applied = np.concatenate([applied, _ids(prev[1])])
                    clicked = np.concatenate([clicked, _ids(prev[2])])
                    counts = [a + b for a, b in zip(counts, prev[3:6], strict=True)]
                    last = max(last, prev[6])
                rows.append(
                    (d.user_id, _blob(applied[:max_len]), _blob(clicked[:max_len]), *counts, last)
                )
            conn.executemany("INSERT OR REPLACE INTO seeker VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            conn.executemany(
                "INSERT INTO popularity VALUES (?, ?, ?, ?, ?) ON CONFLICT (job_id, day) DO UPDATE"
                " SET impressions = impressions + excluded.impressions,"
                " clicks = clicks + excluded.clicks, applies = applies + excluded.applies",
                pop[["job_id", "day", "impressions", "clicks", "applies"]]
                .astype("int64")
                .itertuples(index=False, name=None),
            )
            # Buckets this far behind the newest event can never be inside a window again.
            oldest_kept = int(pop["day"].max()) - 2 * POPULARITY_WINDOW_DAYS
            conn.execute("DELETE FROM popularity WHERE day < ?", (oldest_kept,))
            conn.executemany(
                "DELETE FROM result_cache WHERE user_id = ?",
                ((d.user_id,) for d in deltas.users if d.acted),
            )
            conn.execute("DELETE FROM result_cache WHERE expires_at <= ?", (self._clock(),))

    def seeker_history(self, user_id: str) -> SeekerHistory:
        with self._lock:
            row = self._conn.execute(
                "SELECT * FROM seeker WHERE user_id = ?", (user_id,)
            ).fetchone()
        if row is None:
            return SeekerHistory()
        return SeekerHistory(
            applied_job_ids=_ids(row[1]),
            clicked_job_ids=_ids(row[2]),
            n_applies=row[3],
            n_clicks=row[4],
            n_impressions=row[5],
            last_active=from_millis(row[6]),
        )

    def read_user(
        self, user_id: str, *, cached_key: str | None = None, vector_key: str | None = None
    ) -> UserRead:
        return read_user_in_parts(self, user_id, cached_key, vector_key)

    def write_user(
        self, user_id: str, *, vector: VectorEntry | None = None, cached: CachedEntry | None = None
    ) -> None:
        write_user_in_parts(self, user_id, vector, cached)

    def job_popularity(
        self, job_ids: npt.NDArray[np.int64], now: datetime
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        job_ids = np.asarray(job_ids, dtype=np.int64)
        first, last = window_days(to_millis(now), POPULARITY_WINDOW_DAYS)
        unique = np.unique(job_ids).tolist()
        found: list[tuple[int, int, int, int]] = []
        with self._lock:
            for chunk in _chunks(unique):
                marks = ",".join("?" * len(chunk))
                found.extend(
                    self._conn.execute(
                        "SELECT job_id, SUM(impressions), SUM(clicks), SUM(applies)"
                        f" FROM popularity WHERE job_id IN ({marks}) AND day BETWEEN ? AND ?"
                        " GROUP BY job_id",
                        (*chunk, first, last),
                    )
                )
        out = np.zeros((3, len(job_ids)), dtype=np.float32)
        if found:
            table = np.asarray(found, dtype=np.int64)
            pos = pd.Index(table[:, 0]).get_indexer(job_ids)
            hit = pos >= 0
            out[:, hit] = table[pos[hit], 1:].T
        return out[0], out[1], out[2]

    def get_query_vector(self, user_id: str, title: str) -> FloatArray | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT vector FROM query_vector"
                " WHERE user_id = ? AND title = ? AND expires_at > ?",
                (user_id, title, self._clock()),
            ).fetchone()
        return None if row is None else np.frombuffer(row[0], dtype="<f4").astype(np.float32)

    def put_query_vector(self, user_id: str, title: str, vector: FloatArray) -> None:
        blob = np.ascontiguousarray(vector, dtype="<f4").tobytes()
        expires = self._clock() + (QUERY_VECTOR.ttl_s or 0.0)
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO query_vector VALUES (?, ?, ?, ?)",
                (user_id, title, blob, expires),
            )

    def get_cached(self, user_id: str, key: str) -> bytes | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT payload FROM result_cache WHERE user_id = ? AND key = ? AND expires_at > ?",
                (user_id, key, self._clock()),
            ).fetchone()
        return None if row is None else bytes(row[0])

    def put_cached(
        self, user_id: str, key: str, payload: bytes, ttl_s: float | None = None
    ) -> None:
        ttl = RESULT_CACHE.ttl_s if ttl_s is None else ttl_s
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO result_cache VALUES (?, ?, ?, ?)",
                (user_id, key, bytes(payload), self._clock() + (ttl or 0.0)),
            )

    def get_marker(self, name: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM marker WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_marker(self, name: str, value: str) -> None:
        with self._write() as conn:
            conn.execute("INSERT OR REPLACE INTO marker VALUES (?, ?)", (name, value))

    def ping(self) -> bool:
        try:
            with self._lock:
                self._conn.execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def forget_user(self, user_id: str) -> None:
        with self._write() as conn:
            for table in ("seeker", "query_vector", "result_cache"):
                conn.execute(f"DELETE FROM {table} WHERE user_id = ?", (user_id,))

    def drop_cached(self, user_id: str) -> None:
        with self._write() as conn:
            for table in ("query_vector", "result_cache"):
                conn.execute(f"DELETE FROM {table} WHERE user_id = ?", (user_id,))

    def clear(self) -> None:
        with self._write() as conn:
            for table in _TABLES:
                conn.execute(f"DELETE FROM {table}")

    def close(self) -> None:
        with self._lock:
            self._conn.close()
