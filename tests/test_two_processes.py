"""Two `recsys serve` processes on one PostgreSQL catalog and one Redis: a posting added
through one is recommended by the other within 5 s, and a close through the other reaches the
first. Real processes, real servers on loopback (slow: each process loads its models)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from api_service import published_catalog
from postgres_service import throwaway_database
from redis_service import redis_client_or_skip

from recsys.data.taxonomy import load_taxonomy
from recsys.market.market import Market
from recsys.recall.encoder import TitleEncoder
from recsys.recall.occupations import OccupationIndex
from recsys.settings import get_settings

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]

ADMIN = "two-process-key"
REDIS_DB_URL = "redis://127.0.0.1:6379/14"
READY_S = 600.0
PROPAGATION_S = 5.0


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def catalog_url(small_market: tuple[Market, Path]) -> Iterator[str]:
    with throwaway_database() as url:
        published_catalog(small_market[0], url).close()
        yield url


def _start(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _port()
    command = [sys.executable, "-m", "recsys.cli.main", "serve", "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}"


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"server exited: {log.read_text()[-2000:]}"
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail(f"not ready within {READY_S:.0f} s: {log.read_text()[-2000:]}")


def test_a_posting_added_through_one_process_is_served_by_the_other(
    catalog_url: str, tmp_path: Path
) -> None:
    redis_client_or_skip().close()  # skips without Redis (fails under CI=true)
    redis.Redis.from_url(REDIS_DB_URL).flushdb()
    artifacts = tmp_path / "artifacts"
    settings = get_settings()
    # the occupation titles are embedded once here, not by both processes at once
    OccupationIndex.load_or_build(
        TitleEncoder.load("base"), load_taxonomy(settings.data_dir), artifacts
    )
    env = {
        **os.environ,
        "RECSYS_DATABASE_URL": catalog_url,
        "RECSYS_ONLINE_STORE": "redis",
        "RECSYS_REDIS_URL": REDIS_DB_URL,
        "RECSYS_ARTIFACTS_DIR": str(artifacts),
        "RECSYS_LOG_DIR": str(tmp_path / "log"),
        "RECSYS_ENCODER_MODEL": "base",
        "RECSYS_SERVE_FROM_REGISTRY": "false",
        "RECSYS_SERVE_RANKER_DIR": "",
        "RECSYS_RECALL_K": "1500",
        "RECSYS_COARSE_K": "200",
        "RECSYS_CATALOG_POLL_S": "1",
        "RECSYS_API_ADMIN_KEY": ADMIN,
    }
    (a, url_a), (b, url_b) = _start(env, tmp_path / "a.log"), _start(env, tmp_path / "b.log")
    try:
        _wait_ready(url_a, a, tmp_path / "a.log")
        _wait_ready(url_b, b, tmp_path / "b.log")
        posting = {
            "title": "Quantum Pastry Engineer",
            "company": "Lab",
            "city": "Denver",
            "state": "CO",
        }
        added = httpx.post(
            f"{url_a}/v1/jobs", json={"jobs": [posting]}, headers={"X-API-Key": ADMIN}, timeout=60
        )
        assert added.status_code == 201, added.text
        new_id = added.json()["job_ids"][0]
        t0 = time.monotonic()
        ask = {"profile": {"title": "Quantum Pastry Engineer", "location": "Denver, CO"}, "k": 5}
        seen = False
        while time.monotonic() - t0 < PROPAGATION_S and not seen:  # asked within 5 s
            items = httpx.post(f"{url_b}/v1/recommendations", json=ask, timeout=60).json()["items"]
            seen = new_id in [i["job_id"] for i in items]
            time.sleep(0.1)
        assert seen, f"process B did not serve job {new_id} within {PROPAGATION_S} s"
        closed = httpx.delete(f"{url_b}/v1/jobs/{new_id}", headers={"X-API-Key": ADMIN}, timeout=60)
        assert closed.status_code == 200
        t0 = time.monotonic()
        while time.monotonic() - t0 < PROPAGATION_S:
            if httpx.get(f"{url_a}/v1/jobs/{new_id}", timeout=60).json()["open"] is False:
                break
            time.sleep(0.1)
        assert httpx.get(f"{url_a}/v1/jobs/{new_id}", timeout=60).json()["open"] is False
    finally:
        for proc in (a, b):
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
