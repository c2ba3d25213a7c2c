"""`recsys serve` run and stopped in its own process, with its log checked for tracebacks."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


def recsys_command() -> list[str]:
    """The `recsys` script next to this interpreter, or the CLI module when there is none."""
    script = Path(sys.executable).parent / "recsys"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "recsys.cli.main"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


@dataclass
class Server:
    """`recsys serve` in its own process, its output in a log file."""

    cmd: list[str]
    env: dict[str, str]
    log_path: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    shutdown: dict[str, Any] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> Server:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(
            self.cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        return self

    def wait_ready(self, timeout_s: float) -> dict[str, Any]:
        """Seconds from the process start to /healthz and /readyz answering 200."""
        assert self.proc is not None
        healthy = None
        detail = ""
        with httpx.Client(base_url=self.base_url, timeout=5.0) as client:
            while time.perf_counter() - self.started_at < timeout_s:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"the server exited with {self.proc.returncode} before it was ready; "
                        f"log {self.log_path}:\n{tail(self.log_path, 40)}"
                    )
                try:
                    if healthy is None and client.get("/healthz").status_code == 200:
                        healthy = time.perf_counter() - self.started_at
                    r = client.get("/readyz")
                    if r.status_code == 200:
                        ready = time.perf_counter() - self.started_at
                        return {"healthz_s": healthy, "readyz_s": ready}
                    detail = r.json().get("detail", "")
                    if detail.startswith("loading failed"):
                        raise RuntimeError(f"the service failed to load: {detail}")
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
        raise TimeoutError(f"not ready after {timeout_s:.0f} s ({detail}); log {self.log_path}")

    def stop(self, timeout_s: float = 60.0) -> dict[str, Any]:
        """SIGINT (uvicorn's graceful shutdown), then SIGTERM, then SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            code = None if self.proc is None else self.proc.returncode
            self.shutdown = {"signal": None, "returncode": code, "seconds": 0.0}
            return self.shutdown
        t0 = time.perf_counter()
        for sig, wait in ((signal.SIGINT, timeout_s), (signal.SIGTERM, 10.0), (signal.SIGKILL, 10)):
            self.proc.send_signal(sig)
            try:
                self.proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        self.shutdown = {
            "signal": sig.name,
            "returncode": self.proc.returncode,
            "seconds": time.perf_counter() - t0,
        }
        return self.shutdown


def tail(path: Path, lines: int) -> str:
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def log_problems(path: Path) -> dict[str, Any]:
    """Tracebacks and ERROR lines in the server's log (the first few tracebacks in full)."""
    text = path.read_text(errors="replace") if path.is_file() else ""
    blocks = re.split(r"(?=^Traceback \(most recent call last\):)", text, flags=re.M)
    tracebacks = [b.strip()[:4000] for b in blocks if b.startswith("Traceback")]
    errors = [ln for ln in text.splitlines() if re.search(r"\bERROR\b|Exception", ln)]
    return {
        "tracebacks": len(tracebacks),
        "first_tracebacks": tracebacks[:3],
        "error_lines": errors,
    }
