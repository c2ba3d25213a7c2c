"""Served lists become impression events and feature rows, written off the request path.

A request only enqueues what it served (a few arrays); a background thread turns batches of lists
into impression events (through the same ingestion as client events: the durable stream, then the
online store) and into the served feature rows that training joins with later applies
(`recsys.ranking.training_data`). A full queue drops the list and counts it rather than slowing
the response.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from feature_store.partitions import unique_part_name
from recsys.ranking.training_data import feature_frame, write_feature_rows
from recsys.service.periodic import Periodic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServedList:
    """One served list: who saw which jobs, in which slots, and the rows the ranker scored."""

    request_id: str
    user_id: str
    ts: np.datetime64
    job_ids: np.ndarray
    features: np.ndarray


class ImpressionLog:
    """A bounded queue drained by one thread every `flush_s` seconds."""

    def __init__(
        self,
        ingest: Callable[[pd.DataFrame], object],
        features_root: Path,
        *,
        flush_s: float = 1.0,
        max_queue: int = 10_000,
    ):
        self._ingest = ingest
        self.features_root = Path(features_root)
        self.flush_s = flush_s
        self._queue: queue.Queue[ServedList] = queue.Queue(max_queue)
        self._lock = threading.Lock()
        self.logged = 0
        self.dropped = 0
        self.failures = 0
        self._thread = Periodic(
            "impression-log", flush_s, self.flush, "flushing the impression log failed"
        ).start()

    def log(self, served: ServedList) -> None:
        """Enqueue without blocking; a full queue drops the list (counted in `dropped`)."""
        try:
            self._queue.put_nowait(served)
        except queue.Full:
            self.dropped += 1

    def flush(self) -> int:
        """Write everything queued so far; returns the impressions written."""
        with self._lock:
            batch: list[ServedList] = []
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if not batch:
                return 0
            try:
                self._write(batch)
            except Exception:  # a failed write must not kill the logging thread
                self.failures += 1
                log.exception("writing %d served lists failed", len(batch))
                return 0
            n = sum(len(s.job_ids) for s in batch)
            self.logged += n
            return n

    def close(self) -> None:
        """Stop the thread after a last flush."""
        self._thread.stop(timeout_s=10)
        self.flush()

    def _write(self, batch: list[ServedList]) -> None:
        batch = [s for s in batch if len(s.job_ids)]  # an empty list shows nothing to log
        if not batch:
            return
        sizes = np.array([len(s.job_ids) for s in batch])
        request_id = np.repeat([s.request_id for s in batch], sizes)
        user_id = np.repeat([s.user_id for s in batch], sizes)
        ts = np.repeat(np.array([s.ts for s in batch], dtype="datetime64[ms]"), sizes)
        job_id = np.concatenate([s.job_ids for s in batch]).astype(np.int64)
        position = np.concatenate([np.arange(n) for n in sizes])
        features = np.concatenate([s.features for s in batch])
        events = pd.DataFrame(
            {
                "event_id": pd.Series(request_id).str.cat(position.astype(str), sep=":"),
                "ts": pd.to_datetime(ts).tz_localize("UTC"),
                "user_id": user_id,
                "job_id": job_id,
                "type": "impression",
                "request_id": request_id,
                "position": position.astype(np.int16),
            }
        )
        self._ingest(events)
        rows = feature_frame(request_id, user_id, job_id, position, ts, features)
        days = ts.astype("datetime64[D]")
        for day in np.unique(days):
            write_feature_rows(
                self.features_root,
                date.fromisoformat(str(day)),
                rows[days == day].reset_index(drop=True),
                part=unique_part_name(),
            )
