"""Coarse ranking: a rule-based composite score over the recall candidates, cut to ~500."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.pipeline.candidates import Candidates, RequestContext
from recsys.pipeline.catalog import ServingCatalog
from recsys.ranking import signals
from recsys.settings import Settings


@dataclass(frozen=True)
class CoarseWeights:
    similarity: float = 1.0
    freshness: float = 0.3
    popularity: float = 0.2
    title: float = 0.4
    location: float = 0.3

    @classmethod
    def from_settings(cls, s: Settings) -> CoarseWeights:
        return cls(
            s.coarse_w_similarity,
            s.coarse_w_freshness,
            s.coarse_w_popularity,
            s.coarse_w_title,
            s.coarse_w_location,
        )


def popularity_score(catalog: ServingCatalog, rows: np.ndarray) -> np.ndarray:
    """Smoothed apply rate squashed to [0, 1): .5 at the prior rate of 3%."""
    rate = catalog.popularity.apply_rate()[rows]
    return (rate / (rate + 0.03)).astype(np.float32)


class CoarseStage:
    """Scores every recall candidate with weighted signals and keeps the best `k`."""

    name = "coarse"

    def __init__(self, catalog: ServingCatalog, weights: CoarseWeights, k: int = 500):
        self.catalog = catalog
        self.weights = weights
        self.k = k

    def score(self, ctx: RequestContext, candidates: Candidates) -> np.ndarray:
        rows, w, cat = candidates.rows, self.weights, self.catalog
        km = signals.distance_km(ctx, cat, rows)
        return (
            w.similarity * candidates.scores["recall"]
            + w.freshness * signals.freshness(signals.job_age_days(ctx, cat, rows))
            + w.popularity * popularity_score(cat, rows)
            + w.title * signals.title_overlap(ctx, cat, rows)
            + w.location * signals.location_score(ctx, cat, rows, km)
        ).astype(np.float32)

    def __call__(self, ctx: RequestContext, candidates: Candidates) -> Candidates:
        scored = candidates.with_score("coarse", self.score(ctx, candidates))
        return scored.top("coarse", self.k)
