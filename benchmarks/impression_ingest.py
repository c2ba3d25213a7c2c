"""Client CPU of the impression log's Redis writes: redis-py's Python protocol code vs hiredis.

    python -m benchmarks.impression_ingest [--flushes 200] [--lists 15] [--repeats 7]

Each flush of the impression log appends one batch of served lists (`--lists` requests of 20
jobs: the log flushes once a second, so 15 lists is 15 req/s) to the event stream (one Lua call,
seven arguments per event) and folds it into the online store (one pipeline of LPUSH / HINCRBY /
ZADD). Under load that background work showed as 8% of the server's CPU, most of it redis-py
packing commands and parsing replies in Python. Both clients run in this process, in turn on
fresh event ids (db 14 under prefixes of their own, cleared at the end): one forced onto
redis-py's pure-Python serializer and parser, one on its defaults, which use hiredis (a C
extension) when it is installed. Figures: medians over repeats of client CPU (process time)
per flush and per served list.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd
import redis
from redis._parsers import _RESP2Parser
from redis.connection import HIREDIS_AVAILABLE, PythonRespSerializer

from feature_store.redis_store import RedisOnlineStore
from feature_store.redis_stream import RedisStream

URL = os.environ.get("RECSYS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
ITEMS = 20


def impressions(flush: int, lists: int, tag: str, rng: np.random.Generator) -> pd.DataFrame:
    """One flush's impression events, shaped as `ImpressionLog._write` makes them."""
    n = lists * ITEMS
    request = np.repeat([f"{tag}-{flush}-{i}" for i in range(lists)], ITEMS)
    position = np.tile(np.arange(ITEMS), lists)
    ts = pd.Timestamp("2026-12-01T12:00", tz="UTC") + pd.to_timedelta(flush, unit="s")
    return pd.DataFrame(
        {
            "event_id": pd.Series(request).str.cat(position.astype(str), sep=":"),
            "ts": np.repeat(ts, n),
            "user_id": np.repeat([f"u{rng.integers(0, 10_000)}" for _ in range(lists)], ITEMS),
            "job_id": rng.integers(1, 20_000, n).astype(np.int64),
            "type": "impression",
            "request_id": request,
            "position": position.astype(np.int16),
        }
    )


def python_protocol_client() -> redis.Redis:
    """A client that packs and parses in Python whether or not hiredis is installed."""
    client = redis.Redis.from_url(URL, parser_class=_RESP2Parser)
    pool = client.connection_pool
    pool.connection_kwargs["command_packer"] = PythonRespSerializer(6000, pool.get_encoder().encode)
    return client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flushes", type=int, default=200)
    parser.add_argument("--lists", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    clients = {"python protocol": python_protocol_client(), "default": redis.Redis.from_url(URL)}
    rng = np.random.default_rng(0)
    runs: dict[str, list[float]] = {name: [] for name in clients}
    sinks = {
        name: (
            RedisStream(client, prefix=f"bench-imp-{i}:"),
            RedisOnlineStore(client, prefix=f"bench-imp-{i}:"),
        )
        for i, (name, client) in enumerate(clients.items())
    }
    try:
        for repeat in range(args.repeats):
            for name, (stream, store) in sinks.items():
                batches = [
                    impressions(f, args.lists, f"{name[:3]}{repeat}", rng)
                    for f in range(args.flushes)
                ]
                cpu = time.process_time()
                for events in batches:
                    store.apply_events(stream.append_new(events))
                runs[name].append(time.process_time() - cpu)
    finally:
        for stream, store in sinks.values():
            stream.clear()
            store.clear()
    print(
        f"{args.flushes} flushes of {args.lists} served lists x {ITEMS} impressions, "
        f"{args.repeats} repeats; hiredis installed: {HIREDIS_AVAILABLE}"
    )
    base = float(np.median(runs["python protocol"]))
    for name, times in runs.items():
        med = float(np.median(times))
        per_flush = med / args.flushes * 1e3
        print(
            f"{name:<16} {per_flush:6.2f} ms CPU per flush, "
            f"{per_flush / args.lists:5.3f} ms per served list (x{med / base:.2f})"
        )


if __name__ == "__main__":
    main()
