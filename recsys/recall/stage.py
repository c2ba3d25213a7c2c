"""The recall stage: the seeker's query vector against the job index, hard filters inside.

The query vector comes from the profile step (`Recommender.seeker_view`: the desired title's
embedding, cached by the encoder, blended with the jobs recently applied to). This stage turns the
request's filters into an `IndexFilter` and returns about `settings.recall_k` catalog rows with
their cosine similarity as the `recall` score.
"""

from __future__ import annotations

import numpy as np

from recsys.pipeline.candidates import Candidates, RequestContext
from recsys.pipeline.catalog import ServingCatalog
from recsys.recall.job_index import IndexFilter, JobIndex


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


class RecallStage:
    """Top-`k` jobs by cosine to the query among the jobs that pass the hard filters."""

    name = "recall"

    def __init__(self, index: JobIndex, catalog: ServingCatalog, k: int = 10_000):
        if k < 1:
            raise ValueError(f"recall k must be at least 1, got {k}")
        self.index = index
        self.catalog = catalog
        self.k = k

    def __call__(self, ctx: RequestContext, candidates: Candidates) -> Candidates:
        job_ids, scores = self.index.search(ctx.view().query, self.k, index_filter(ctx))
        rows = self.catalog.rows_of(job_ids)
        known = rows >= 0  # a job added to the index but not (yet) to the serving catalog
        return Candidates(rows[known], {"recall": scores[known].astype(np.float32)})
