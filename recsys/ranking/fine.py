"""Fine ranking: the GBDT apply-rate model over the coarse candidates, on THE feature function."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from recsys.pipeline.candidates import Candidates, RequestContext
from recsys.pipeline.catalog import ServingCatalog
from recsys.ranking.features import job_features


class ApplyRateModel(Protocol):
    """What the fine stage needs of a trained ranker."""

    def predict(self, X: np.ndarray) -> np.ndarray: ...


class FineStage:
    """Computes the feature rows, scores them, and keeps the rows for the impression log.

    With no model (day 0 of a new market) it ranks by the coarse score, so the pipeline serves
    coarse-only until the first training run.
    """

    name = "fine"

    def __init__(self, catalog: ServingCatalog, model: ApplyRateModel | None = None):
        self.catalog = catalog
        self.model = model

    def __call__(self, ctx: RequestContext, candidates: Candidates) -> Candidates:
        features = job_features(ctx, self.catalog, candidates)
        model = self.model  # read once: a hot swap mid-request must not mix two models
        if model is None:
            score = candidates.scores["coarse"]
        else:
            score = np.asarray(model.predict(features), dtype=np.float32)
        out = Candidates(candidates.rows, {**candidates.scores, "fine": score}, features)
        return out.top("fine", len(out))
