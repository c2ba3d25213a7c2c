"""The Redis online store: one pipeline per batch, one round trip per read (a request's reads
of its seeker together: `read_user`; its writes back together: `write_user`).

Keys (under `prefix`): `sh:<user>:a` / `sh:<user>:c` lists of applied / clicked job ids (LPUSH +
LTRIM keeps them newest first and bounded), `sh:<user>:n` a hash of counters, `last_active` a
sorted set (ZADD GT keeps the maximum), `pop:<day>` a hash `<job>:i|c|a` per UTC day, `qv:<user>`
a hash title -> vector and `rc:<user>` a hash key -> cached result, deleted by any new event.
Cached values carry their own deadline (read against `clock`, so tests need not sleep); Redis
key TTLs only reclaim memory.
"""

from __future__ import annotations

import math
import struct
from datetime import datetime

import numpy as np
import numpy.typing as npt
import pandas as pd
import redis

from feature_store.aggregates import batch_deltas, window_days
from feature_store.clock import Clock, from_millis, system_clock, to_millis
from feature_store.definitions import (
    POPULARITY_WINDOW_DAYS,
    QUERY_VECTOR,
    RESULT_CACHE,
    SEEKER_HISTORY,
)
from feature_store.online import CachedEntry, FloatArray, SeekerHistory, UserRead, VectorEntry
from feature_store.redis_conn import connect, delete_prefix

__all__ = ["RedisOnlineStore", "connect"]

_DEADLINE = struct.Struct("<d")
_POP_FIELDS = (("impressions", "i"), ("clicks", "c"), ("applies", "a"))
#: HINCRBY of many fields of one hash, then its EXPIRE: one command for a day's popularity
#: counts instead of one per (job, counter), each of which redis-py builds in Python
_HINCRBY_MANY = """
local key = KEYS[1]
for i = 2, #ARGV, 2 do
  redis.call('HINCRBY', key, ARGV[i], ARGV[i + 1])
end
redis.call('EXPIRE', key, ARGV[1])
return 0
"""


def _pack(deadline: float, payload: bytes) -> bytes:
    return _DEADLINE.pack(deadline) + payload


def _unpack(value: object, now: float) -> bytes | None:
    """The payload of a packed value, or None when it is missing or past its deadline."""
    if not isinstance(value, bytes) or len(value) < _DEADLINE.size:
        return None
    (deadline,) = _DEADLINE.unpack_from(value)
    return value[_DEADLINE.size :] if deadline > now else None


def _vector(raw: bytes | None) -> FloatArray | None:
    return None if raw is None else np.frombuffer(raw, dtype="<f4").astype(np.float32)


def _key_ttl(ttl_s: float) -> int:
    """Whole seconds Redis keeps a key: a little longer than the value's own deadline."""
    return max(1, math.ceil(ttl_s)) + 1


class RedisOnlineStore:
    """`OnlineStore` on a redis-py client; `clock` decides TTL expiry (injectable for tests)."""

    def __init__(
        self, client: redis.Redis, *, prefix: str = "fs:", clock: Clock = system_clock
    ) -> None:
        self._r = client
        self._p = prefix
        self._clock = clock
        self._hincrby_many = client.register_script(_HINCRBY_MANY)

    def _sh(self, user_id: str, part: str) -> str:
        return f"{self._p}sh:{user_id}:{part}"

    def apply_events(self, events: pd.DataFrame) -> None:
        if events.empty:
            return
        max_len = SEEKER_HISTORY.max_len or 0
        deltas = batch_deltas(events, max_len)
        pipe = self._r.pipeline(transaction=True)
        last_active = self._p + "last_active"
        for d in deltas.users:
            for part, ids in (("a", d.applied), ("c", d.clicked)):
                if len(ids):
                    key = self._sh(d.user_id, part)
                    pipe.lpush(key, *ids[::-1].tolist())
                    pipe.ltrim(key, 0, max_len - 1)
            counts = self._sh(d.user_id, "n")
            for field, n in (("a", d.n_applies), ("c", d.n_clicks), ("i", d.n_impressions)):
                if n:
                    pipe.hincrby(counts, field, n)
            pipe.zadd(last_active, {d.user_id: d.last_active_ms}, gt=True)
            if d.acted:
                pipe.delete(f"{self._p}rc:{d.user_id}")
        pop = deltas.popularity
        keep_s = _key_ttl(2 * POPULARITY_WINDOW_DAYS * 86_400.0)
        days, jobs = pop["day"].to_numpy(np.int64), pop["job_id"].to_numpy(np.int64)
        pop_counts = {column: pop[column].to_numpy(np.int64) for column, _ in _POP_FIELDS}
        for day in np.unique(days).tolist():
            on_day = days == day
            args: list[str | int] = [keep_s]
            for column, tag in _POP_FIELDS:
                counts_of = pop_counts[column][on_day]
                hit = counts_of > 0
                fields = [f"{job}:{tag}" for job in jobs[on_day][hit].tolist()]
                args.extend(v for pair in zip(fields, counts_of[hit].tolist()) for v in pair)
            self._hincrby_many(keys=[f"{self._p}pop:{day}"], args=args, client=pipe)
        pipe.execute()

    def _queue_history(self, pipe: redis.client.Pipeline, user_id: str) -> None:
        """Queue the four reads `_history` turns into a SeekerHistory."""
        pipe.lrange(self._sh(user_id, "a"), 0, -1)
        pipe.lrange(self._sh(user_id, "c"), 0, -1)
        pipe.hmget(self._sh(user_id, "n"), ["a", "c", "i"])
        pipe.zscore(self._p + "last_active", user_id)

    @staticmethod
    def _history(
        applied: list[bytes], clicked: list[bytes], counts: list[bytes | None], last: float | None
    ) -> SeekerHistory:
        if last is None:
            return SeekerHistory()
        n_applies, n_clicks, n_impressions = (int(v or 0) for v in counts)
        return SeekerHistory(
            applied_job_ids=np.array([int(v) for v in applied], dtype=np.int64),
            clicked_job_ids=np.array([int(v) for v in clicked], dtype=np.int64),
            n_applies=n_applies,
            n_clicks=n_clicks,
            n_impressions=n_impressions,
            last_active=from_millis(int(last)),
        )

    def seeker_history(self, user_id: str) -> SeekerHistory:
        pipe = self._r.pipeline(transaction=False)
        self._queue_history(pipe, user_id)
        return self._history(*pipe.execute())

    def read_user(
        self, user_id: str, *, cached_key: str | None = None, vector_key: str | None = None
    ) -> UserRead:
        pipe = self._r.pipeline(transaction=False)
        self._queue_history(pipe, user_id)
        if cached_key is not None:
            pipe.hget(f"{self._p}rc:{user_id}", cached_key)
        if vector_key is not None:
            pipe.hget(f"{self._p}qv:{user_id}", vector_key)
        replies = pipe.execute()
        now = self._clock()
        extra = iter(replies[4:])
        cached = None if cached_key is None else _unpack(next(extra), now)
        vector = None if vector_key is None else _vector(_unpack(next(extra), now))
        return UserRead(self._history(*replies[:4]), cached, vector)

    def write_user(
        self, user_id: str, *, vector: VectorEntry | None = None, cached: CachedEntry | None = None
    ) -> None:
        if vector is None and cached is None:
            return
        pipe = self._r.pipeline(transaction=False)
        if vector is not None:
            self._queue_vector(pipe, user_id, *vector)
        if cached is not None:
            self._queue_cached(pipe, user_id, *cached)
        pipe.execute()

    def job_popularity(
        self, job_ids: npt.NDArray[np.int64], now: datetime
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        job_ids = np.asarray(job_ids, dtype=np.int64)
        first, last = window_days(to_millis(now), POPULARITY_WINDOW_DAYS)
        unique = np.unique(job_ids)
        if not len(unique):
            empty = np.zeros(0, dtype=np.float32)
            return empty, empty.copy(), empty.copy()
        # HGETALL reads only the jobs that had events: a catalog-wide refresh costs what the
        # window's traffic touched, not 3 fields per job per day.
        pipe = self._r.pipeline(transaction=False)
        for day in range(first, last + 1):
            pipe.hgetall(f"{self._p}pop:{day}")
        tags = [tag for _, tag in _POP_FIELDS]
        totals = np.zeros((len(unique), 3), dtype=np.float64)
        for bucket in pipe.execute():
            if not bucket:
                continue
            keys = pd.Series([bytes(k).decode() for k in bucket]).str.split(":", n=1, expand=True)
            jobs = keys[0].astype(np.int64).to_numpy()
            column = pd.Index(tags).get_indexer(keys[1])
            counts = np.fromiter((int(v) for v in bucket.values()), np.float64, len(bucket))
            pos = np.searchsorted(unique, jobs)
            pos = np.minimum(pos, len(unique) - 1)
            hit = (unique[pos] == jobs) & (column >= 0)
            np.add.at(totals, (pos[hit], column[hit]), counts[hit])
        out = totals[np.searchsorted(unique, job_ids)].T.astype(np.float32)
        return out[0], out[1], out[2]

    def get_query_vector(self, user_id: str, title: str) -> FloatArray | None:
        return _vector(_unpack(self._r.hget(f"{self._p}qv:{user_id}", title), self._clock()))

    def put_query_vector(self, user_id: str, title: str, vector: FloatArray) -> None:
        pipe = self._r.pipeline(transaction=False)
        self._queue_vector(pipe, user_id, title, vector)
        pipe.execute()

    def get_cached(self, user_id: str, key: str) -> bytes | None:
        return _unpack(self._r.hget(f"{self._p}rc:{user_id}", key), self._clock())

    def put_cached(
        self, user_id: str, key: str, payload: bytes, ttl_s: float | None = None
    ) -> None:
        pipe = self._r.pipeline(transaction=False)
        self._queue_cached(pipe, user_id, key, payload, ttl_s)
        pipe.execute()

    def _queue_vector(
        self, pipe: redis.client.Pipeline, user_id: str, title: str, vector: FloatArray
    ) -> None:
        blob = np.ascontiguousarray(vector, dtype="<f4").tobytes()
        self._queue_field(pipe, f"{self._p}qv:{user_id}", title, blob, QUERY_VECTOR.ttl_s or 0.0)

    def _queue_cached(
        self,
        pipe: redis.client.Pipeline,
        user_id: str,
        key: str,
        payload: bytes,
        ttl_s: float | None,
    ) -> None:
        ttl = (RESULT_CACHE.ttl_s or 0.0) if ttl_s is None else ttl_s
        self._queue_field(pipe, f"{self._p}rc:{user_id}", key, bytes(payload), ttl)

    def _queue_field(
        self, pipe: redis.client.Pipeline, key: str, field: str, payload: bytes, ttl_s: float
    ) -> None:
        """Queue setting one hash field with its own deadline; the key lives as long as its
        longest field. Sent without MULTI/EXEC: a reader between the commands sees the field
        with the key's old deadline, which the field's own deadline makes harmless."""
        pipe.hset(key, field, _pack(self._clock() + ttl_s, payload))
        pipe.expire(key, _key_ttl(ttl_s), nx=True)
        pipe.expire(key, _key_ttl(ttl_s), gt=True)

    def get_marker(self, name: str) -> str | None:
        value = self._r.hget(f"{self._p}marker", name)
        return None if value is None else bytes(value).decode()  # type: ignore[arg-type]

    def set_marker(self, name: str, value: str) -> None:
        self._r.hset(f"{self._p}marker", name, value)

    def ping(self) -> bool:
        try:
            return bool(self._r.ping())
        except redis.RedisError:
            return False

    def forget_user(self, user_id: str) -> None:
        pipe = self._r.pipeline(transaction=True)
        pipe.delete(
            *(self._sh(user_id, part) for part in ("a", "c", "n")),
            f"{self._p}qv:{user_id}",
            f"{self._p}rc:{user_id}",
        )
        pipe.zrem(self._p + "last_active", user_id)
        pipe.execute()

    def drop_cached(self, user_id: str) -> None:
        self._r.delete(f"{self._p}qv:{user_id}", f"{self._p}rc:{user_id}")

    def clear(self) -> None:
        delete_prefix(self._r, self._p)

    def close(self) -> None:
        self._r.close()
