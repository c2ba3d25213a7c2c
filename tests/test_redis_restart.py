"""Redis killed (-9) and restarted under steady requests and events: no 5xx, no dropped
connection, degraded answers while it is gone, and every acknowledged event in the stream after.

The API runs in this process under uvicorn on a real socket, over a private redis-server the test
owns (tests/redis_service.PrivateRedis), so the kill hits only this test's server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import uvicorn
from api_service import SETTINGS_UPDATE, published_catalog
from redis_service import PrivateRedis

from api.app import create_app
from recsys.market.market import Market
from recsys.offline.market_service import market_now
from recsys.recall.encoder import TitleEncoder
from recsys.service.loader import build_service, open_serving_stores
from recsys.settings import get_settings

pytestmark = [pytest.mark.slow, pytest.mark.redis]

#: seconds of traffic before the kill, with Redis gone, and after the restart.
BEFORE_S, OUTAGE_S, AFTER_S = 2.0, 3.0, 3.0


@dataclass
class Traffic:
    """What a steady client saw: every status, every transport error, the events acknowledged."""

    statuses: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    acked: list[str] = field(default_factory=list)
    degraded_answers: int = 0
    requests_in_outage: int = 0


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    folder = tmp_path / "redis"
    folder.mkdir()
    server = PrivateRedis(folder)
    server.start()
    yield server
    server.stop()


def _serve(app: object) -> tuple[uvicorn.Server, str]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, name="uvicorn", daemon=True).start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


def _steady(
    url: str, users: list[str], jobs: list[int], stop: threading.Event, outage: threading.Event
) -> Traffic:
    """One client, one request after another: a recommendation, then a click, and again."""
    seen = Traffic()
    with httpx.Client(base_url=url, timeout=10.0) as client:
        i = 0
        while not stop.is_set():
            user = users[i % len(users)]
            calls = [
                ("GET", "/v1/recommendations", {"params": {"user_id": user, "k": 5, "debug": 1}}),
                (
                    "POST",
                    "/v1/events",
                    {
                        "json": {
                            "event_id": f"restart-{i}",
                            "user_id": user,
                            "job_id": jobs[i % len(jobs)],
                            "type": "click",
                        }
                    },
                ),
            ]
            for method, path, kwargs in calls:
                try:
                    r = client.request(method, path, **kwargs)  # type: ignore[arg-type]
                except httpx.TransportError as exc:
                    seen.errors.append(f"{method} {path}: {exc!r}")
                    continue
                seen.statuses.append(r.status_code)
                seen.requests_in_outage += outage.is_set()
                if r.status_code != 200:
                    continue
                body = r.json()
                if path == "/v1/events" and body["accepted"] == 1:
                    seen.acked.append(f"restart-{i}")
                elif path == "/v1/recommendations" and body["debug"]["degraded"] == ["redis"]:
                    seen.degraded_answers += 1
            i += 1
            time.sleep(0.02)
    return seen


def test_redis_restart_under_load_loses_no_request_and_no_event(
    small_market: tuple[Market, Path], private_redis: PrivateRedis, tmp_path: Path
) -> None:
    market, _ = small_market
    update = {**SETTINGS_UPDATE, "online_store": "redis", "redis_url": private_redis.url}
    settings = get_settings().model_copy(update={**update, "redis_cooldown_s": 0.5})
    catalog = published_catalog(market, f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    store, stream = open_serving_stores(settings)
    now = market_now(market)
    service = build_service(
        settings,
        catalog,
        TitleEncoder.load("base"),
        store,
        stream,
        log_dir=tmp_path / "log",
        clock=lambda: now,
    )
    server, url = _serve(create_app(settings, service))
    stop, outage = threading.Event(), threading.Event()
    result: list[Traffic] = []
    users = market.seekers["user_id"].astype(str).tolist()[:20]
    jobs = market.jobs["job_id"].astype(int).tolist()[:50]
    client = threading.Thread(
        target=lambda: result.append(_steady(url, users, jobs, stop, outage)), name="client"
    )
    client.start()
    try:
        time.sleep(BEFORE_S)
        private_redis.kill()
        outage.set()
        time.sleep(OUTAGE_S)
        spooled_in_outage = service.events.spool.count() if service.events.spool else 0
        private_redis.start()  # same port, same append-only file
        outage.clear()
        time.sleep(AFTER_S)
    finally:
        stop.set()
        client.join(timeout=30)
        server.should_exit = True
    service.events.replay()  # what the next event or maintenance round would do
    traffic = result[0]
    raw = redis.Redis.from_url(private_redis.url, decode_responses=True)
    entries: Any = raw.xrange("fs:events")
    in_stream = {fields["event_id"] for _, fields in entries}
    raw.close()
    spool_left = service.events.spool.count() if service.events.spool else -1
    service.close()

    assert traffic.errors == []
    assert [s for s in traffic.statuses if s >= 500] == []
    # a loaded 2-core box gets about 10 requests/s through: enough to cross the outage
    assert traffic.requests_in_outage >= 6, "too few requests reached the outage to mean much"
    assert traffic.degraded_answers > 0, "no answer said it was made without Redis"
    assert spooled_in_outage > 0, "no event was buffered while Redis was gone"
    assert spool_left == 0
    missing = sorted(set(traffic.acked) - in_stream)
    assert missing == [], f"{len(missing)} acknowledged events are not in the stream"
