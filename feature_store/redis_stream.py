"""The Redis event stream: a Redis Stream fed by one Lua call per batch.

The script does, per event, `SET event:<id> 1 NX EX ttl` and XADDs only when the SET succeeded,
atomically: a retried batch can neither count twice nor lose an event between the check and the
add (two separate pipelines could, if the process died between them). `drain` assumes one
drainer at a time (a scheduled job); concurrent drains stay duplicate-free only within a process.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pandas as pd
import redis

from feature_store.events import EVENT_COLUMNS, events_from_millis, normalize_events, ts_millis
from feature_store.partitions import write_new_events
from feature_store.redis_conn import delete_prefix
from feature_store.sqlite_stream import DEFAULT_ID_TTL_S

_APPEND = """
local stream, seen_prefix, ttl = KEYS[1], ARGV[1], ARGV[2]
local added = {}
local n = 0
for i = 3, #ARGV, 7 do
  if redis.call('SET', seen_prefix .. ARGV[i], '1', 'NX', 'EX', ttl) then
    redis.call('XADD', stream, '*', 'event_id', ARGV[i], 'ts', ARGV[i + 1],
      'user_id', ARGV[i + 2], 'job_id', ARGV[i + 3], 'type', ARGV[i + 4],
      'request_id', ARGV[i + 5], 'position', ARGV[i + 6])
    n = n + 1
    added[n] = (i - 3) / 7
  end
end
return added
"""
#: Events per script call: keeps each call (which blocks Redis) to a few milliseconds.
_SCRIPT_BATCH = 2_000
_READ_BATCH = 10_000


def _next_id(stream_id: str) -> str:
    ms, seq = stream_id.split("-")
    return f"{ms}-{int(seq) + 1}"


class RedisStream:
    """`EventStream` on a Redis Stream; keys live under `prefix`."""

    def __init__(
        self, client: redis.Redis, *, prefix: str = "fs:", id_ttl_s: float = DEFAULT_ID_TTL_S
    ) -> None:
        self._r = client
        self._p = prefix
        self._stream = f"{prefix}events"
        self._id_ttl = max(1, int(id_ttl_s))
        self._script = client.register_script(_APPEND)
        self._drain_lock = threading.Lock()

    def append_new(self, events: pd.DataFrame) -> pd.DataFrame:
        """Append the events whose ids were never seen; returns those (normalized) rows."""
        frame = normalize_events(events).drop_duplicates("event_id", keep="first")
        frame = frame.reset_index(drop=True)
        if frame.empty:
            return frame
        flat = frame[EVENT_COLUMNS].assign(ts=ts_millis(frame)).astype(str).to_numpy()
        pipe = self._r.pipeline(transaction=False)
        for start in range(0, len(flat), _SCRIPT_BATCH):
            args = [f"{self._p}event:", self._id_ttl, *flat[start : start + _SCRIPT_BATCH].ravel()]
            self._script(keys=[self._stream], args=args, client=pipe)
        added: list[int] = []
        for i, offsets in enumerate(pipe.execute()):
            added.extend(i * _SCRIPT_BATCH + int(o) for o in offsets)
        return frame.iloc[added].reset_index(drop=True)

    def append(self, events: pd.DataFrame) -> int:
        return len(self.append_new(events))

    def pending(self) -> int:
        return int(self._r.xlen(self._stream))

    def drain(self, events_root: Path) -> int:
        with self._drain_lock:
            newest: Any = self._r.xrevrange(self._stream, "+", "-", count=1)
            if not newest:
                return 0
            last = newest[0][0].decode()
            entries: list[Any] = []
            start = "-"
            while True:
                page: Any = self._r.xrange(self._stream, start, last, count=_READ_BATCH)
                entries.extend(page)
                if len(page) < _READ_BATCH:
                    break
                start = "(" + page[-1][0].decode()
            frame = pd.DataFrame(
                {c: [fields[c.encode()].decode() for _, fields in entries] for c in EVENT_COLUMNS}
            )
            written = write_new_events(Path(events_root), events_from_millis(frame))
            # Trim only after the Parquet write: a crash in between re-drains, never loses.
            self._r.xtrim(self._stream, minid=_next_id(last), approximate=False)
            return written

    def clear(self) -> None:
        delete_prefix(self._r, self._p)

    def close(self) -> None:
        self._r.close()
