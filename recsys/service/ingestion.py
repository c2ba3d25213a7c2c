"""Events into the service: the durable stream first (deduplicated by event id), then the online
store and the in-process popularity counters; and the stream drained to the Parquet log.

When the stream's server is down, events are kept in a local spool (fsync'd before they are
acknowledged) and replayed, oldest first, once it answers again: on the next ingest, on the
next drain, and when the service starts. Without a spool an unavailable stream raises
StoreUnavailableError, which the API answers with 503 and Retry-After; an event is never
acknowledged and then dropped.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from feature_store.events import normalize_events
from feature_store.online import OnlineStore, StoreUnavailableError
from feature_store.spool import EventSpool
from feature_store.stream import EventStream
from recsys.core.catalog import ServingCatalog
from recsys.service.clock import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int
    #: of the accepted, how many wait in the local spool for the stream to come back (their
    #: duplicates are only recognised at replay)
    buffered: int = 0


class EventIngestion:
    """Client events and the impression log's events, kept once each."""

    def __init__(
        self,
        catalog: ServingCatalog,
        store: OnlineStore,
        stream: EventStream,
        events_root: Path,
        clock: Clock,
        spool: EventSpool | None = None,
    ):
        self.catalog = catalog
        self.store = store
        self.stream = stream
        self.events_root = Path(events_root)
        self.clock = clock
        self.spool = spool
        self._replaying = threading.Lock()
        #: spooled events wait that no replay has moved on yet (a crashed process's included)
        self._spooled = spool is not None and spool.count() > 0
        if self._spooled:
            self.replay()

    def ingest(self, events: pd.DataFrame) -> IngestResult:
        """Append to the durable stream, then fold the new events into the online store and the
        catalog's popularity counters; into the spool when the stream is unavailable."""
        if events.empty:
            return IngestResult(0, 0)
        if self._spooled:
            self.replay()  # older events first
        try:
            new = self.stream.append_new(events)
        except StoreUnavailableError:
            if self.spool is None:
                raise
            frame = normalize_events(events).drop_duplicates("event_id", keep="first")
            n = self.spool.add(frame)
            self._spooled = True
            return IngestResult(n, len(events) - n, buffered=n)
        self.catalog.add_events(new)
        self._apply(new)
        return IngestResult(len(new), len(events) - len(new))

    def _apply(self, new: pd.DataFrame) -> None:
        """Fold events the stream took into the online store; spool them when it is down."""
        if new.empty:
            return
        try:
            self.store.apply_events(new)
        except StoreUnavailableError:
            if self.spool is None:
                raise
            self.spool.add(new, appended=True)
            self._spooled = True

    def replay(self) -> int:
        """Move spooled events on to the stream and the online store; returns how many moved
        (0 while the server is still down, or while another thread replays)."""
        if self.spool is None or not self._replaying.acquire(blocking=False):
            return 0
        try:
            moved = self.spool.replay(self._forward)
            self._spooled = self.spool.count() > 0
        except StoreUnavailableError:
            return 0
        finally:
            self._replaying.release()
        if moved:
            log.info("replayed %d spooled events into the event stream", moved)
        return moved

    def _forward(self, to_append: pd.DataFrame, to_apply: pd.DataFrame) -> pd.DataFrame:
        """One spooled batch: append what the stream has not seen, count and apply it; returns
        the events the stream holds but the online store still lacks."""
        new = self.stream.append_new(to_append) if len(to_append) else to_append
        self.catalog.add_events(new)
        todo = pd.concat([new, to_apply], ignore_index=True) if len(to_apply) else new
        if todo.empty:
            return todo
        try:
            self.store.apply_events(todo)
        except StoreUnavailableError:
            return todo
        return todo.iloc[:0]

    def drain(self) -> int:
        """Move the stream's events into the daily Parquet partitions training reads (spooled
        events first); 0 while the stream is unavailable."""
        self.replay()
        try:
            return self.stream.drain(self.events_root)
        except StoreUnavailableError as exc:
            log.warning("event stream unavailable, drain skipped: %s", exc)
            return 0

    def known_jobs(self, job_ids: np.ndarray) -> np.ndarray:
        """Which job ids the catalog holds (expired postings included)."""
        return self.catalog.rows_of(np.asarray(job_ids, np.int64)) >= 0

    def refresh_popularity(self) -> None:
        """Re-read job popularity over the store's window (other workers' events included);
        while the store is unavailable the last snapshot (plus this process's events) stays."""
        now = pd.Timestamp(self.clock()).to_pydatetime()
        catalog = self.catalog
        try:
            counts = self.store.job_popularity(catalog.arrays.job_id, now)
        except StoreUnavailableError as exc:
            log.warning("online store unavailable, keeping the last popularity: %s", exc)
            return
        catalog.set_popularity(*counts)
