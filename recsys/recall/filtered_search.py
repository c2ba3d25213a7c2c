"""One request's searches of the job index under one set of hard filters, its radius widening.

A served request asks the index several things under the same filters: the title query's top k,
again at a wider radius while few good jobs are near, the history query's top few at the final
radius, and every allowed job for the popular and fresh sources. Asked one by one, each question
recomputed the allowed mask (a haversine over the latitude band) and each widened title search
gathered and scored every allowed row again; on a 20k-job market 250 of 300 requests widened.
`FilteredSearch` computes the mask without the radius once, the radius part once per radius,
and each row's exact title score at most once (`RowScores`); whether to widen is an exact
count over those scores on the exact path, and a search of only as many jobs as the rule
needs on the approximate one, with no top-k sorted only to be thrown away.

It reads the index's storage by row number, so it lives inside `JobIndex.filtered`, which holds
the index's read lock until the request is done with it.
"""

from __future__ import annotations

import faiss
import numpy as np

from recsys.recall.index_columns import IndexStorage
from recsys.recall.index_filter import IndexFilter, base_mask, within_radius
from recsys.recall.search import (
    GpuReplica,
    IndexConfig,
    RowScores,
    count_at_least,
    search_rows,
    tries_gpu,
    tries_ivf,
)


class FilteredSearch:
    """The searches of one query under one set of filters, whose radius `widen` may grow."""

    def __init__(
        self,
        store: IndexStorage,
        ivf: faiss.IndexIVF | None,
        gpu: GpuReplica | None,
        config: IndexConfig,
        query: np.ndarray,
        filters: IndexFilter | None = None,
    ):
        self._store, self._ivf, self._gpu, self._config = store, ivf, gpu, config
        self._query = query
        self._filters = filters or IndexFilter()
        self._base = base_mask(store, self._filters)
        self._scores = RowScores(store, query)
        self._masks: dict[float | None, tuple[np.ndarray, int]] = {}
        #: the radius the searches use now (None: no radius)
        self.radius_km = self._filters.radius_km if self._filters.center is not None else None

    def widen(self, factor: float) -> None:
        """Search `factor` times further from here on (no radius: nothing changes)."""
        if self.radius_km is not None:
            self.radius_km *= factor

    def mask(self) -> tuple[np.ndarray, int]:
        """The allowed rows at the current radius, and how many there are."""
        found = self._masks.get(self.radius_km)
        if found is None:
            mask = within_radius(self._store, self._filters, self._base, self.radius_km)
            found = self._masks[self.radius_km] = (mask, int(np.count_nonzero(mask)))
        return found

    def search(self, k: int, query: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The best `min(k, allowed)` jobs at the current radius for the title query (or for
        `query`, sharing the mask): (job ids int64, scores float32), best first, no padding."""
        rows, scores = self.search_rows(k, query)
        return self._store.cols.job_id[rows], scores

    def search_rows(self, k: int, query: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """`search`, answering index rows (see `row_job_ids`) instead of job ids."""
        mask, n_allowed = self.mask()
        want = min(int(k), n_allowed)
        if want == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        own = query is None
        q = self._query if query is None else query
        return search_rows(
            self._store,
            self._ivf,
            self._gpu,
            self._config,
            q,
            want,
            mask,
            n_allowed,
            self._scores if own else None,
        )

    def has_at_least(self, n: int, threshold: float) -> bool:
        """Whether at least `n` allowed jobs at the current radius score >= `threshold` for the
        title query: counted exactly over the allowed rows when a search of `n` would be exact,
        else by an approximate search of only `n` (the widening question needs no more: at
        100k jobs, asking it with recall's k = 10,000 made every IVF search probe every list)."""
        mask, n_allowed = self.mask()
        if n_allowed < n:
            return False
        if tries_gpu(self._gpu, n) or tries_ivf(self._ivf, self._config, n, n_allowed):
            _, scores = self.search_rows(n)
            return int(np.count_nonzero(scores >= threshold)) >= n
        return count_at_least(self._scores, mask, threshold) >= n

    def allowed_rows(self) -> np.ndarray:
        """Index rows of every job allowed at the current radius."""
        return np.flatnonzero(self.mask()[0])

    def allowed_job_ids(self) -> np.ndarray:
        """Ids of every job allowed at the current radius."""
        return self._store.cols.job_id[self.allowed_rows()]

    def row_job_ids(self) -> np.ndarray:
        """The job id of every index row in use (dead ones included): what the rows answered
        by `search_rows` and `allowed_rows` mean, as long as `layout` stays the same."""
        return self._store.cols.job_id[: self._store.n]

    @property
    def layout(self) -> tuple[int, int, int]:
        """Changes whenever an index row's meaning may have: (storage, renumberings, rows)."""
        return id(self._store), self._store.layout, self._store.n
