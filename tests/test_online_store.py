"""One contract for every online store: the same tests run on SQLite and on a real Redis.

Redis tests use RECSYS_REDIS_URL (default db 15, flushed around each test); they skip when no
server answers, except under CI=true where a missing Redis is a failure.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from redis_service import REDIS_URL, redis_client_or_skip

from feature_store.backends import open_store
from feature_store.definitions import SEEKER_HISTORY
from feature_store.events import write_partition
from feature_store.materialize import materialize
from feature_store.online import OnlineStore, StoreUnavailableError
from feature_store.redis_store import RedisOnlineStore
from feature_store.sqlite_store import SqliteOnlineStore

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


class FakeClock:
    """A clock the test moves by hand, so TTLs expire without sleeping."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> Iterator[OnlineStore]:
    if request.param == "sqlite":
        backend: OnlineStore = SqliteOnlineStore(tmp_path / "online.sqlite", clock=clock)
        yield backend
        backend.close()
    else:
        client = redis_client_or_skip()
        backend = RedisOnlineStore(client, clock=clock)
        yield backend
        client.flushdb()
        backend.close()


def events(rows: list[tuple[str, datetime, int, str]], start: int = 0) -> pd.DataFrame:
    """Events from (user_id, ts, job_id, type) rows with made-up ids."""
    return pd.DataFrame(
        {
            "event_id": [f"e{start + i}" for i in range(len(rows))],
            "ts": pd.to_datetime([r[1] for r in rows], utc=True),
            "user_id": [r[0] for r in rows],
            "job_id": np.array([r[2] for r in rows], dtype=np.int64),
            "type": [r[3] for r in rows],
            "request_id": "req",
            "position": np.int16(0),
        }
    )


def test_unknown_user_has_empty_history(store: OnlineStore) -> None:
    history = store.seeker_history("nobody")
    assert history.applied_job_ids.dtype == np.int64 and len(history.applied_job_ids) == 0
    assert len(history.clicked_job_ids) == 0
    assert (history.n_applies, history.n_clicks, history.n_impressions) == (0, 0, 0)
    assert history.last_active is None


def test_history_is_newest_first_with_counts(store: OnlineStore) -> None:
    t = [T0 + timedelta(minutes=m) for m in range(6)]
    # Out of time order within the batch on purpose: order comes from ts, not row order.
    store.apply_events(
        events(
            [
                ("u1", t[2], 30, "apply"),
                ("u1", t[0], 10, "apply"),
                ("u1", t[1], 20, "click"),
                ("u1", t[3], 40, "impression"),
                ("u2", t[0], 99, "apply"),
            ]
        )
    )
    store.apply_events(events([("u1", t[5], 50, "apply"), ("u1", t[4], 60, "click")], start=10))
    history = store.seeker_history("u1")
    assert history.applied_job_ids.tolist() == [50, 30, 10]
    assert history.clicked_job_ids.tolist() == [60, 20]
    assert (history.n_applies, history.n_clicks, history.n_impressions) == (3, 2, 1)
    assert history.last_active == t[5]
    assert store.seeker_history("u2").applied_job_ids.tolist() == [99]


def test_employer_events_are_not_seeker_activity(store: OnlineStore) -> None:
    """A shortlist or a contact is the employer's act: the seeker's history, last-active time
    and the job's popularity stay as the seeker's own events left them."""
    t = [T0 + timedelta(minutes=m) for m in range(4)]
    store.apply_events(events([("u1", t[0], 10, "click")]))
    store.apply_events(
        events(
            [
                ("u1", t[1], 10, "candidate_impression"),
                ("u1", t[2], 10, "shortlist"),
                ("u1", t[3], 11, "contact"),
                ("u9", t[3], 11, "candidate_view"),
            ],
            start=10,
        )
    )
    history = store.seeker_history("u1")
    assert history.clicked_job_ids.tolist() == [10] and history.applied_job_ids.tolist() == []
    assert (history.n_applies, history.n_clicks, history.n_impressions) == (0, 1, 0)
    assert history.last_active == t[0]
    assert store.seeker_history("u9").last_active is None
    popularity = store.job_popularity(np.array([10, 11]), T0)
    assert [a.tolist() for a in popularity] == [[0, 0], [1, 0], [0, 0]]


def test_history_is_bounded(store: OnlineStore) -> None:
    limit = SEEKER_HISTORY.max_len
    assert limit == 50
    rows = [("u", T0 + timedelta(seconds=i), i, "apply") for i in range(70)]
    store.apply_events(events(rows[:40]))
    store.apply_events(events(rows[40:], start=40))
    history = store.seeker_history("u")
    assert history.applied_job_ids.tolist() == list(range(69, 19, -1))
    assert history.n_applies == 70


def test_popularity_counts_only_the_window(store: OnlineStore) -> None:
    now = T0
    rows = [
        (f"u{i}", now - timedelta(days=d), job, kind)
        for i, (d, job, kind) in enumerate(
            [
                (0, 1, "impression"),
                (0, 1, "click"),
                (6, 1, "apply"),  # oldest day still inside a 7-day window
                (7, 1, "impression"),  # one day too old
                (30, 2, "apply"),
                (1, 3, "impression"),
            ]
        )
    ]
    store.apply_events(events(rows))
    impressions, clicks, applies = store.job_popularity(np.array([1, 2, 3, 404]), now)
    assert impressions.dtype == np.float32
    assert impressions.tolist() == [1, 0, 1, 0]
    assert clicks.tolist() == [1, 0, 0, 0]
    assert applies.tolist() == [1, 0, 0, 0]
    # A week later job 1's events have all slid out of the window.
    later = store.job_popularity(np.array([1, 1]), now + timedelta(days=7))
    assert [a.tolist() for a in later] == [[0, 0]] * 3


def test_cache_expires_after_ttl(store: OnlineStore, clock: FakeClock) -> None:
    store.put_cached("u", "k", b"payload", ttl_s=60)
    assert store.get_cached("u", "k") == b"payload"
    assert store.get_cached("u", "other") is None
    clock.now += 59
    assert store.get_cached("u", "k") == b"payload"
    clock.now += 2
    assert store.get_cached("u", "k") is None


def test_new_event_invalidates_only_that_users_cache(store: OnlineStore) -> None:
    store.put_cached("u1", "k", b"one")
    store.put_cached("u2", "k", b"two")
    store.apply_events(events([("u1", T0, 5, "click")]))
    assert store.get_cached("u1", "k") is None
    assert store.get_cached("u2", "k") == b"two"


def test_impressions_keep_the_cached_list_they_record(store: OnlineStore) -> None:
    store.put_cached("u1", "k", b"one")
    store.apply_events(events([("u1", T0, 5, "impression")]))
    assert store.get_cached("u1", "k") == b"one"


def test_markers_last_until_clear(store: OnlineStore) -> None:
    assert store.get_marker("materialized") is None
    store.set_marker("materialized", "2026-03-10")
    store.set_marker("materialized", "2026-03-11")
    assert store.get_marker("materialized") == "2026-03-11"
    store.clear()
    assert store.get_marker("materialized") is None


def test_query_vector_round_trip(store: OnlineStore, clock: FakeClock) -> None:
    vector = np.random.default_rng(0).standard_normal(384).astype(np.float32)
    store.put_query_vector("u", "Data Engineer", vector)
    got = store.get_query_vector("u", "Data Engineer")
    assert got is not None and got.dtype == np.float32
    assert got.tobytes() == vector.tobytes()
    assert store.get_query_vector("u", "Data Scientist") is None
    assert store.get_query_vector("other", "Data Engineer") is None
    clock.now += 86_400 + 1
    assert store.get_query_vector("u", "Data Engineer") is None


def test_read_user_and_write_user_match_the_single_calls(
    store: OnlineStore, clock: FakeClock
) -> None:
    """A request's one-trip read and write see and leave what the separate calls would."""
    store.apply_events(events([("u", T0, 7, "apply"), ("u", T0, 8, "click")]))
    empty = store.read_user("u", cached_key="k", vector_key="Cook")
    alone = store.seeker_history("u")
    assert empty.history.applied_job_ids.tolist() == alone.applied_job_ids.tolist() == [7]
    assert empty.history.clicked_job_ids.tolist() == [8]
    assert (empty.history.n_applies, empty.history.last_active) == (1, alone.last_active)
    assert empty.cached is None and empty.query_vector is None

    vector = np.arange(4, dtype=np.float32)
    store.write_user("u", vector=("Cook", vector), cached=("k", b"list", 60.0))
    got = store.read_user("u", cached_key="k", vector_key="Cook")
    assert got.cached == b"list" == store.get_cached("u", "k")
    assert got.query_vector is not None and got.query_vector.tobytes() == vector.tobytes()
    assert store.read_user("u").cached is None  # keys left out are not read
    stranger = store.read_user("other", cached_key="k", vector_key="Cook")
    assert stranger.history.last_active is None and stranger.history.n_impressions == 0
    assert stranger.cached is None and stranger.query_vector is None

    store.write_user("u", cached=("k2", b"second", None))  # either half alone
    store.write_user("u")
    assert store.get_cached("u", "k2") == b"second" and store.get_cached("u", "k") == b"list"
    clock.now += 61
    later = store.read_user("u", cached_key="k", vector_key="Cook")
    assert later.cached is None and later.query_vector is not None  # each keeps its own TTL


def test_ten_thousand_events_in_one_call(store: OnlineStore) -> None:
    rng = np.random.default_rng(1)
    n = 10_000
    kinds = np.array(["impression", "click", "apply"])[rng.choice(3, n, p=[0.8, 0.15, 0.05])]
    frame = pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(n)],
            "ts": pd.Timestamp(T0) + pd.to_timedelta(np.arange(n), unit="s"),
            "user_id": [f"u{i}" for i in rng.integers(0, 500, n)],
            "job_id": rng.integers(0, 2_000, n).astype(np.int64),
            "type": kinds,
            "request_id": "r",
            "position": np.int16(1),
        }
    )
    started = time.perf_counter()
    store.apply_events(frame)
    elapsed = time.perf_counter() - started
    print(f"\n{type(store).__name__}.apply_events: {n / elapsed:,.0f} events/s")
    users = [store.seeker_history(f"u{i}") for i in range(500)]
    assert sum(h.n_impressions + h.n_clicks + h.n_applies for h in users) == n
    assert max(len(h.applied_job_ids) for h in users) <= SEEKER_HISTORY.max_len
    jobs = np.arange(2_000)
    impressions, clicks, applies = store.job_popularity(jobs, T0 + timedelta(hours=3))
    assert impressions.sum() + clicks.sum() + applies.sum() == n
    expected = frame[frame["type"] == "apply"].groupby("job_id").size()
    assert np.array_equal(applies[expected.index.to_numpy()], expected.to_numpy())


def test_clear_and_ping(store: OnlineStore) -> None:
    assert store.ping()
    store.apply_events(events([("u", T0, 1, "apply")]))
    store.put_cached("u2", "k", b"x")
    store.clear()
    assert store.seeker_history("u").n_applies == 0
    assert store.get_cached("u2", "k") is None


def test_materialize_fills_a_cold_store(store: OnlineStore, tmp_path: Path) -> None:
    day1, day2 = date(2026, 3, 9), date(2026, 3, 10)
    old = events([("u", datetime(2026, 2, 1, tzinfo=UTC), 7, "apply")], start=100)
    first = events([("u", datetime(2026, 3, 9, 8, tzinfo=UTC), 1, "apply")], start=0)
    second = events(
        [
            ("u", datetime(2026, 3, 10, 8, tzinfo=UTC), 2, "apply"),
            ("v", datetime(2026, 3, 10, 9, tzinfo=UTC), 2, "click"),
        ],
        start=1,
    )
    root = tmp_path / "events"
    write_partition(root, date(2026, 2, 1), old)
    write_partition(root, day1, first)
    write_partition(root, day2, second)
    write_partition(root, day2, second, part="part-retry")  # duplicates are read once
    applied = materialize(store, root, until=day2, days=7, chunk_size=1)
    assert applied == 3
    assert store.seeker_history("u").applied_job_ids.tolist() == [2, 1]
    _, clicks, applies = store.job_popularity(np.array([1, 2, 7]), T0)
    assert applies.tolist() == [1, 1, 0] and clicks.tolist() == [0, 1, 0]


def test_open_store_sqlite(tmp_path: Path) -> None:
    store = open_store("sqlite", sqlite_path=tmp_path / "s.sqlite")
    assert store.ping()
    store.close()


def test_one_factory_names_the_backends_it_knows(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown online store kind 'memcached'.*'sqlite'"):
        open_store("memcached", sqlite_path=tmp_path / "s.sqlite")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs sqlite_path"):
        open_store("sqlite")


def test_open_store_names_unreachable_redis() -> None:
    url = "redis://127.0.0.1:1/0"
    with pytest.raises(StoreUnavailableError, match=r"127\.0\.0\.1:1.*sqlite"):
        open_store("redis", redis_url=url)


@pytest.mark.redis
def test_open_store_redis() -> None:
    redis_client_or_skip().close()
    store = open_store("redis", redis_url=REDIS_URL)
    assert store.ping()
    store.close()


def test_concurrent_writers_and_readers(store: OnlineStore) -> None:
    """FastAPI runs sync endpoints in a thread pool: one store object must serve them all."""
    batches = [
        events([(f"u{i % 5}", T0 + timedelta(seconds=i), i, "click")], start=i) for i in range(40)
    ]

    def work(batch: pd.DataFrame) -> int:
        store.apply_events(batch)
        return store.seeker_history("u0").n_clicks

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(work, batches))
    assert sum(store.seeker_history(f"u{i}").n_clicks for i in range(5)) == 40


def test_forget_user_deletes_only_that_users_data(store: OnlineStore) -> None:
    store.apply_events(
        events([("u1", T0, 10, "apply"), ("u2", T0, 20, "apply"), ("u1", T0, 10, "impression")])
    )
    for user in ("u1", "u2"):
        store.put_cached(user, "k", b"list")
        store.put_query_vector(user, "cook", np.ones(4, np.float32))
    store.forget_user("u1")
    gone = store.seeker_history("u1")
    assert (gone.n_applies, gone.n_impressions, gone.last_active) == (0, 0, None)
    assert store.get_cached("u1", "k") is None and store.get_query_vector("u1", "cook") is None
    kept = store.seeker_history("u2")
    assert kept.applied_job_ids.tolist() == [20] and store.get_cached("u2", "k") == b"list"
    impressions, _, applies = store.job_popularity(np.array([10, 20]), T0)
    assert applies.tolist() == [1, 1]  # popularity is no one's in particular


def test_drop_cached_keeps_the_history(store: OnlineStore) -> None:
    store.apply_events(events([("u1", T0, 10, "apply")]))
    store.put_cached("u1", "k", b"list")
    store.put_query_vector("u1", "cook", np.ones(4, np.float32))
    store.drop_cached("u1")
    assert store.get_cached("u1", "k") is None and store.get_query_vector("u1", "cook") is None
    assert store.seeker_history("u1").applied_job_ids.tolist() == [10]
