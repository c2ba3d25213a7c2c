"""The one periodic background thread of the service (impression log, champion, maintenance)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Periodic:
    """Calls `task` every `interval_s` seconds on a daemon thread until `stop`.

    A call that raises is logged with `failure` and retried on the next tick, so a failing round
    never stops the thread (serving goes on meanwhile).
    """

    def __init__(self, name: str, interval_s: float, task: Callable[[], object], failure: str):
        self.name = name
        self.interval_s = interval_s
        self._task = task
        self._failure = failure
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Periodic:
        self._thread.start()
        return self

    def stop(self, timeout_s: float | None = None) -> None:
        """Stop after the current call; waits `timeout_s` (default: one interval and 5 s)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval_s + 5 if timeout_s is None else timeout_s)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._task()
            except Exception:
                log.exception(self._failure)
