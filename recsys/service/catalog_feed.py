"""One process's serving catalog kept current with the catalog database's change feed.

Every API process polls `postings.seq > last seen` (RECSYS_CATALOG_POLL_S, 1 s by default) and
applies what committed: new postings are appended to the catalog and the index, changed ones are
replaced in place, closed ones leave the index. A process that writes a change applies it at
once (`poll` after its commit), so its own next request sees it; the others within a poll.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import numpy as np

from recsys.catalog_db import CatalogStore
from recsys.data.taxonomy import Taxonomy
from recsys.pipeline.recommender import Recommender
from recsys.recall.index_columns import FilterColumns
from recsys.recall.occupations import OccupationIndex
from recsys.service.catalog_source import CatalogRows, load_rows

log = logging.getLogger(__name__)


class CatalogFeed:
    """Applies committed catalog changes to one Recommender's catalog and index."""

    def __init__(
        self,
        store: CatalogStore,
        recommender: Recommender,
        occupations: OccupationIndex,
        taxonomy: Taxonomy,
        seq: int,
        lock: threading.Lock,
        clock: Callable[[], np.datetime64],
    ):
        self.store = store
        self.recommender = recommender
        self.occupations = occupations
        self.taxonomy = taxonomy
        self.seq = seq
        self._lock = lock
        self._clock = clock
        self.applied = 0

    @property
    def lock(self) -> threading.Lock:
        """The lock writes and applies share (held while another pipeline is switched in)."""
        return self._lock

    def switch_locked(self, recommender: Recommender, seq: int) -> int:
        """Apply changes to `recommender` from now on: a pipeline of another encoder built
        current to `seq`, first caught up with what committed since. For a caller that holds the
        lock; when the catch-up fails the feed keeps its pipeline. Returns the postings applied."""
        staged = CatalogFeed(
            self.store,
            recommender,
            recommender.occupations,
            self.taxonomy,
            seq,
            self._lock,
            self._clock,
        )
        applied = staged.poll_locked()
        self.recommender, self.occupations, self.seq = recommender, staged.occupations, staged.seq
        self.applied += applied
        return applied

    def poll(self) -> int:
        """Apply every change committed since the last poll; returns how many postings."""
        with self._lock:
            return self.poll_locked()

    def poll_locked(self) -> int:
        """`poll` for a caller that holds the lock (a write that just committed)."""
        rows = load_rows(
            self.store, self.recommender.encoder, self.occupations, self.taxonomy, self.seq
        )
        if len(rows.jobs) == 0:
            return 0
        self._apply(rows)
        self.seq = rows.seq
        self.applied += len(rows.jobs)
        log.info("applied %d catalog changes (seq %d)", len(rows.jobs), rows.seq)
        return len(rows.jobs)

    def _apply(self, rows: CatalogRows) -> None:
        catalog, index = self.recommender.catalog, self.recommender.index
        ids = rows.jobs["job_id"].to_numpy(np.int64)
        at = catalog.rows_of(ids)
        new, old = at < 0, at >= 0
        if old.any():
            catalog.replace(
                at[old],
                rows.jobs[old].reset_index(drop=True),
                rows.embeddings[old],
                rows.occupation[old],
            )
        if new.any():
            catalog.append(
                rows.jobs[new].reset_index(drop=True), rows.embeddings[new], rows.occupation[new]
            )
        index.remove(ids[old])
        is_open = rows.jobs["expires_at"].to_numpy("datetime64[s]") > self._clock()
        if is_open.any():
            fresh = rows.jobs[is_open].reset_index(drop=True)
            index.add_columns(FilterColumns.from_catalog(fresh), rows.embeddings[is_open])
