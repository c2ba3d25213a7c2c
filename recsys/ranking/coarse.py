"""Coarse ranking: a rule-based composite score over the recall candidates, cut to ~500."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.core.candidates import Candidates
from recsys.core.catalog import ServingCatalog
from recsys.core.context import RequestContext
from recsys.ranking import signals
from recsys.settings import Settings


@dataclass(frozen=True)
class CoarseWeights:
    """Weights of the composite score; the defaults are the settings' (RECSYS_COARSE_W_*)."""

    similarity: float
    freshness: float
    popularity: float
    title: float
    location: float

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

    def __init__(self, catalog: ServingCatalog, weights: CoarseWeights, k: int):
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
