"""Fine ranking: the GBDT apply-rate model over the coarse candidates, on THE feature function."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from recsys.core.candidates import Candidates
from recsys.core.catalog import ServingCatalog
from recsys.core.context import RequestContext
from recsys.ranking.apply_rate_ranker import ApplyRateRanker, load_ranker
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

    def with_model(self, model: ApplyRateModel | None) -> FineStage:
        """The same stage over the same catalog, scoring with `model`."""
        return FineStage(self.catalog, model)

    def save_artifacts(self, folder: Path) -> None:
        """Save the ranker into `folder` (its native file and `ranker.json`); nothing to save
        when the stage serves coarse-only."""
        if isinstance(self.model, ApplyRateRanker):
            self.model.save(Path(folder))
        elif self.model is not None:
            raise TypeError(f"cannot save a {type(self.model).__name__}; not an ApplyRateRanker")

    @classmethod
    def load_artifacts(cls, folder: Path, catalog: ServingCatalog) -> FineStage:
        """The stage scoring with the ranker saved in `folder` (by `save_artifacts`, or one kind
        of a `recsys ranker train` output)."""
        return cls(catalog, load_ranker(Path(folder)))

    def __call__(self, ctx: RequestContext, candidates: Candidates) -> Candidates:
        features = job_features(ctx, self.catalog, candidates)
        model = self.model  # read once: a hot swap mid-request must not mix two models
        if model is None:
            score = candidates.scores["coarse"]
        else:
            score = np.asarray(model.predict(features), dtype=np.float32)
        out = Candidates(candidates.rows, {**candidates.scores, "fine": score}, features)
        return out.top("fine", len(out))
