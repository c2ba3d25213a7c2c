"""Events into the service: the durable stream first (deduplicated by event id), then the online
store and the in-process popularity counters; and the stream drained to the Parquet log."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from feature_store.online import OnlineStore
from feature_store.stream import EventStream
from recsys.core.catalog import ServingCatalog
from recsys.service.clock import Clock


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int


class EventIngestion:
    """Client events and the impression log's events, kept once each."""

    def __init__(
        self,
        catalog: ServingCatalog,
        store: OnlineStore,
        stream: EventStream,
        events_root: Path,
        clock: Clock,
    ):
        self.catalog = catalog
        self.store = store
        self.stream = stream
        self.events_root = Path(events_root)
        self.clock = clock

    def ingest(self, events: pd.DataFrame) -> IngestResult:
        """Append to the durable stream, then fold the new events into the online store and the
        catalog's popularity counters."""
        if events.empty:
            return IngestResult(0, 0)
        new = self.stream.append_new(events)
        if not new.empty:
            self.store.apply_events(new)
            self.catalog.add_events(new)
        return IngestResult(len(new), len(events) - len(new))

    def drain(self) -> int:
        """Move the stream's events into the daily Parquet partitions training reads."""
        return self.stream.drain(self.events_root)

    def known_jobs(self, job_ids: np.ndarray) -> np.ndarray:
        """Which job ids the catalog holds (expired postings included)."""
        return self.catalog.rows_of(np.asarray(job_ids, np.int64)) >= 0

    def refresh_popularity(self) -> None:
        """Re-read job popularity over the store's window (other workers' events included)."""
        now = pd.Timestamp(self.clock()).to_pydatetime()
        catalog = self.catalog
        catalog.set_popularity(*self.store.job_popularity(catalog.arrays.job_id, now))
