"""The recall stage: the seeker's query vector against the job index, hard filters inside.

The query vector comes from the profile step (`Recommender.seeker_view`: the desired title's
embedding, cached by the encoder, blended with the jobs recently applied to). This stage turns the
request's filters into an `IndexFilter` and returns about `settings.recall_k` catalog rows with
their cosine similarity as the `recall` score. With `quotas` it also merges the item-to-item,
popular and fresh sources (`recsys.recall.sources`), each candidate tagged in the `source`
column. Its artifact is the job index.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recsys.core.candidates import Candidates
from recsys.core.catalog import ServingCatalog
from recsys.core.context import RequestContext
from recsys.recall.filtered_search import FilteredSearch
from recsys.recall.job_index import IndexFilter, JobIndex
from recsys.recall.sources import SourceQuotas, extra_sources, merge_sources
from recsys.settings import Settings


def index_filter(ctx: RequestContext) -> IndexFilter:
    """The request's hard filters as the index takes them (no location: no radius)."""
    profile, filters = ctx.profile, ctx.filters
    has_location = profile.lat is not None and profile.lon is not None
    radius = filters.radius_km if has_location else None
    center = None
    if radius is not None and profile.lat is not None and profile.lon is not None:
        center = (float(profile.lat), float(profile.lon))
    return IndexFilter(
        center=center,
        radius_km=radius,
        remote=filters.remote,
        min_zone=filters.min_zone,
        max_zone=filters.max_zone,
        now=ctx.now,
        exclude_ids=ctx.history.applied_job_ids,
    )


@dataclass(frozen=True)
class RadiusWidening:
    """When a default radius holds fewer than `min_good` jobs with cosine >= `good_similarity`,
    search again `factor` times wider, at most `steps` times (80 km -> 240 -> 720 by default):
    people look across their region when their own town has little for them. The defaults are
    the settings' (RECSYS_RECALL_WIDEN_*)."""

    good_similarity: float
    min_good: int
    factor: float
    steps: int

    @classmethod
    def from_settings(cls, s: Settings) -> RadiusWidening:
        return cls(
            s.recall_widen_similarity,
            s.recall_widen_min_good,
            s.recall_widen_factor,
            s.recall_widen_steps,
        )


class IndexToCatalog:
    """Index rows -> catalog rows (-1: not in the catalog yet), recomputed only when the
    index's rows or the catalog's ids changed. Looking the answer's 10,000 job ids up in the
    catalog on every request (a binary search each) was a tenth of the recall stage's CPU in
    `benchmarks.request_profile`; one gather from this map replaces it."""

    def __init__(self, catalog: ServingCatalog):
        self.catalog = catalog
        self._cached: tuple[tuple[object, ...], np.ndarray] | None = None

    def __call__(self, search: FilteredSearch, rows: np.ndarray) -> np.ndarray:
        """The catalog rows of index `rows` found by `search`."""
        key = (*search.layout, self.catalog.id_version)
        cached = self._cached
        if cached is None or cached[0] != key:
            cached = (key, self.catalog.rows_of(search.row_job_ids()))
            self._cached = cached
        return cached[1][rows]


class RecallStage:
    """Top-`k` jobs by cosine to the query among the jobs that pass the hard filters."""

    name = "recall"

    def __init__(
        self,
        index: JobIndex,
        catalog: ServingCatalog,
        k: int,
        widening: RadiusWidening | None = None,
        quotas: SourceQuotas | None = None,
    ):
        if k < 1:
            raise ValueError(f"recall k must be at least 1, got {k}")
        self.index = index
        self.catalog = catalog
        self.k = k
        #: None: the radius is never widened
        self.widening = widening
        #: None: the title ANN is the only source (no `source` column)
        self.quotas = quotas
        self._to_catalog = IndexToCatalog(catalog)

    def save_artifacts(self, folder: Path) -> None:
        """Save the job index (with its id map and encoder fingerprint) into `folder`."""
        self.index.save(Path(folder))

    @classmethod
    def load_artifacts(
        cls,
        folder: Path,
        catalog: ServingCatalog,
        k: int,
        expected_fingerprint: str,
        widening: RadiusWidening | None = None,
        quotas: SourceQuotas | None = None,
    ) -> RecallStage:
        """The stage over the index saved in `folder` (configured by the other arguments);
        raises JobIndexError when it was built with another encoder."""
        index = JobIndex.load(Path(folder), expected_fingerprint=expected_fingerprint)
        return cls(index, catalog, k, widening, quotas)

    def __call__(self, ctx: RequestContext, candidates: Candidates) -> Candidates:
        query, w = ctx.view().query, self.widening
        with self.index.filtered(query, index_filter(ctx)) as search:
            steps = 0
            while (
                w is not None
                and ctx.filters.widen_radius
                and search.radius_km is not None
                and steps < w.steps
                and not search.has_at_least(w.min_good, w.good_similarity)
            ):
                search.widen(w.factor)
                steps += 1
            if steps:
                ctx.counts["recall_radius_km"] = int(search.radius_km or 0)
            index_rows, scores = search.search_rows(self.k)
            rows = self._to_catalog(search, index_rows)
            known = rows >= 0  # a job added to the index but not (yet) to the serving catalog
            if self.quotas is None:
                return Candidates(rows[known], {"recall": scores[known].astype(np.float32)})
            extra = extra_sources(search, self.catalog, ctx, self.quotas, self._to_catalog)
        return merge_sources(
            self.catalog, query, [rows[known], *extra], self.k, title_scores=scores[known]
        )
