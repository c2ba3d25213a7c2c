"""The real Redis the service-bound tests talk to, on RECSYS_REDIS_URL (default db 15).

Tests skip when no server answers, except under CI=true where a missing Redis is a failure:
CI always has one, so a skip there would hide a broken backend.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis

from feature_store.online import StoreUnavailableError
from feature_store.redis_conn import client_for, connect

REDIS_URL = os.environ.get("RECSYS_REDIS_URL", "redis://127.0.0.1:6379/15")


def redis_client_or_skip() -> redis.Redis:
    """A client on the test database, flushed; skip (or fail under CI=true) without Redis."""
    try:
        client = connect(REDIS_URL)
    except StoreUnavailableError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true needs Redis: {exc}")
        pytest.skip(f"Redis tests skipped: {exc}")
    client.flushdb()
    return client


def redis_server_or_skip() -> str:
    """The redis-server binary; skip (or fail under CI=true) where it is not installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true needs the redis-server binary on PATH")
        pytest.skip("redis-server is not on PATH")
    return binary


class PrivateRedis:
    """A redis-server of the test's own on a free loopback port, to kill and restart at will.

    It keeps an append-only file fsync'd on every write (`appendfsync always`): a kill -9 then
    loses nothing Redis acknowledged, as a production Redis holding the event stream must be
    configured; with `--appendonly no` a restart empties the stream, and the events in it
    with it, whatever the service does.
    """

    def __init__(self, folder: Path) -> None:
        self.binary = redis_server_or_skip()
        self.folder = folder
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.folder)]
        log = (self.folder / "redis.log").open("ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        client = client_for(self.url, timeout_s=0.2, socket_timeout_s=1.0)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                client.ping()
                break
            except redis.RedisError:  # not listening yet, or loading the append-only file
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(
                        f"redis-server did not start: {(self.folder / 'redis.log').read_text()}"
                    ) from None
                time.sleep(0.05)
        client.close()

    def kill(self) -> None:
        """kill -9, as a crash would."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.kill()
