"""The candidate ranker's GBDT fit model: P(the seeker applies) x P(a positive answer | applied).

Two LightGBM heads over the same `pair_features` rows (`recsys.ranking.apply_rate_ranker`, so
both serve through the compiled trees):
- the *apply* head learns from every logged impression whether the seeker applied;
- the *response* head learns from the applications alone whether the employer answered
  positively (shortlisted or further; the board sees a `shortlist` event).
Their product is the chance the pair ends in an apply with a positive answer: what an employer
wants at the top of a candidate list. Two heads rather than one label because positive answers
are a few per thousand impressions, while applies are several times more frequent and the
response head sees only the pairs it has to judge.

Saved as a folder: `apply/` and `response/` (each a saved ranker) plus `fit_model.json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import numpy as np

from recsys.candidates.features import FEATURE_NAMES
from recsys.ranking.apply_rate_ranker import ApplyRateRanker, load_ranker, make_ranker

METADATA_FILE: Final[str] = "fit_model.json"
FORMAT_VERSION: Final[int] = 1
#: hyperparameters of both heads: small, regularised trees (positives are rare)
HEAD_PARAMS: Final[dict[str, Any]] = {
    "n_estimators": 150,
    "learning_rate": 0.05,
    "num_leaves": 7,
    "max_depth": 4,
    "min_child_samples": 100,
}


class FitModel:
    """Two GBDT heads; `predict` is their product, float32 (module docstring)."""

    def __init__(self, apply_head: ApplyRateRanker, response_head: ApplyRateRanker):
        self.apply_head = apply_head
        self.response_head = response_head

    @property
    def feature_names(self) -> list[str]:
        return self.apply_head.feature_names

    @classmethod
    def fit(
        cls,
        X: np.ndarray,
        applied: np.ndarray,
        positive: np.ndarray,
        seed: int = 42,
        n_jobs: int = 2,
    ) -> FitModel:
        """Train both heads on feature rows, apply labels and positive-answer labels."""
        applied = np.asarray(applied, bool)
        positive = np.asarray(positive, bool) & applied
        if applied.sum() < 2 or positive.sum() < 1 or (~positive[applied]).sum() < 1:
            raise ValueError(
                f"too few labels to train a fit model: {int(applied.sum())} applies, "
                f"{int(positive.sum())} positive answers; simulate more days"
            )
        params = {**HEAD_PARAMS, "random_state": seed, "n_jobs": n_jobs}
        names = list(FEATURE_NAMES)
        apply_head = make_ranker("lightgbm", **params).fit(X, applied, feature_names=names)
        response_params = {**params, "min_child_samples": 30}
        response_head = make_ranker("lightgbm", **response_params).fit(
            X[applied], positive[applied], feature_names=names
        )
        return cls(apply_head, response_head)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """P(apply) x P(positive | apply) per row."""
        return (self.apply_head.predict(X) * self.response_head.predict(X)).astype(np.float32)

    def feature_importance(self) -> dict[str, dict[str, float]]:
        return {
            "apply": self.apply_head.feature_importance(),
            "response": self.response_head.feature_importance(),
        }

    def save(self, folder: Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.apply_head.save(folder / "apply")
        self.response_head.save(folder / "response")
        meta = {"format_version": FORMAT_VERSION, "feature_names": self.feature_names}
        (folder / METADATA_FILE).write_text(json.dumps(meta, indent=2))
        return folder

    @classmethod
    def load(cls, folder: Path) -> FitModel:
        """Read a folder written by `save`; refuse one with other features than this code's."""
        folder = Path(folder)
        path = folder / METADATA_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"no candidate fit model in {folder} (missing {METADATA_FILE}); train one with "
                "`recsys retrain` or check the path"
            )
        meta = json.loads(path.read_text())
        if meta.get("feature_names") != list(FEATURE_NAMES):
            raise ValueError(
                f"the fit model in {folder} was trained on features {meta.get('feature_names')}, "
                f"this code computes {list(FEATURE_NAMES)}; retrain it"
            )
        return cls(load_ranker(folder / "apply"), load_ranker(folder / "response"))
