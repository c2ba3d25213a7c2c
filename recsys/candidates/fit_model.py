"""The candidate ranker's GBDT fit model: P(the seeker applies) x P(a positive answer | applied).

LightGBM heads over the same `pair_features` rows (`recsys.ranking.apply_rate_ranker`, so
all serve through the compiled trees):
- the *click* head learns from every logged impression whether the seeker clicked (or
  applied), and the *apply* head from the clicked impressions whether the seeker then applied:
  P(apply) = P(click) x P(apply | click). Clicks are two to three times as many as applies, so
  the head that sees the whole impression log learns from more positives (on a 6,000-job
  market, seed 7: +0.003 of the oracle's nDCG@10 over one apply head, within noise). Without
  click labels the apply head learns from every impression;
- the *response* head learns whether the employer answered an application positively
  (shortlisted or further; the board sees a `shortlist` event), and, when recruiter screens are
  given (`labelled_screens`), whether a recruiter shortlisted a seeker shown in a candidate list:
  both are the employer judging fit, and screens add pairs the seekers' own searches never
  made (five days of a 6,000-job market: 1,761 applies, 9,195 screened seekers; +0.006 and
  +0.015 of the oracle's nDCG@10 on market seeds 7 and 11).
The heads' product is the chance the pair ends in an apply with a positive answer: what an
employer wants at the top of a candidate list. Separate heads rather than one label because
positive answers are a few per thousand impressions, while clicks and applies are several times
more frequent and the response head sees only the pairs it has to judge.

Every head is monotone in the features whose direction is known (`MONOTONE`): with a few
hundred positive answers, unconstrained trees learn noise such as "a nearer seeker fits worse"
(on a 6,000-job market, seed 7: +0.018 of the oracle's nDCG@10).

Saved as a folder: `apply/`, `click/` and `response/` (each a saved ranker) plus
`fit_model.json`; a folder of format 1 (no click head) loads as P(apply) x P(positive | apply),
so a champion saved before the click head can still be compared against.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import numpy as np

from recsys.candidates.features import FEATURE_NAMES
from recsys.ranking.apply_rate_ranker import ApplyRateRanker, load_ranker, make_ranker

METADATA_FILE: Final[str] = "fit_model.json"
FORMAT_VERSION: Final[int] = 2
#: hyperparameters of every head: small, regularised trees (positives are rare); the heads that
#: learn from a subset (apply after a click, the employer's answer) take smaller leaves
HEAD_PARAMS: Final[dict[str, Any]] = {
    "n_estimators": 150,
    "learning_rate": 0.05,
    "num_leaves": 7,
    "max_depth": 4,
    "min_child_samples": 100,
}
#: +1: the fit may only rise with the feature, -1: only fall (`ApplyRateRanker.monotone`)
MONOTONE: Final[dict[str, int]] = {
    "coarse_score": 1,
    "title_similarity": 1,
    "taxonomy_distance": -1,
    "occupation_related": 1,
    "skill_overlap": 1,
    "skill_coverage": 1,
    "log_distance_km": -1,
}


class FitModel:
    """GBDT heads; `predict` is their blend, float32 (module docstring)."""

    def __init__(
        self,
        apply_head: ApplyRateRanker,
        response_head: ApplyRateRanker,
        click_head: ApplyRateRanker | None = None,
    ):
        self.apply_head = apply_head
        self.response_head = response_head
        self.click_head = click_head

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
        screened_X: np.ndarray | None = None,
        screened_positive: np.ndarray | None = None,
        clicked: np.ndarray | None = None,
    ) -> FitModel:
        """Train the heads on impression rows with their apply, positive-answer and (if given)
        click labels; the response head also on recruiter screens (`screened_X`, shortlisted or
        not), if given. Without clicks there is no click head (module docstring)."""
        applied = np.asarray(applied, bool)
        positive = np.asarray(positive, bool) & applied
        if applied.sum() < 2 or positive.sum() < 1 or (~positive[applied]).sum() < 1:
            raise ValueError(
                f"too few labels to train a fit model: {int(applied.sum())} applies, "
                f"{int(positive.sum())} positive answers; simulate more days"
            )
        params = {**HEAD_PARAMS, "random_state": seed, "n_jobs": n_jobs, "monotone": MONOTONE}
        names = list(FEATURE_NAMES)
        click_head = None
        if clicked is None:
            apply_head = make_ranker("lightgbm", **params).fit(X, applied, feature_names=names)
        else:
            seen = np.asarray(clicked, bool) | applied
            click_head = make_ranker("lightgbm", **params).fit(X, seen, feature_names=names)
            apply_head = make_ranker("lightgbm", **{**params, "min_child_samples": 30}).fit(
                X[seen], applied[seen], feature_names=names
            )
        judged_X, judged = X[applied], positive[applied]
        if screened_X is not None and screened_positive is not None and len(screened_X):
            judged_X = np.vstack([judged_X, screened_X])
            judged = np.concatenate([judged, np.asarray(screened_positive, bool)])
        response_params = {**params, "min_child_samples": 30}
        response_head = make_ranker("lightgbm", **response_params).fit(
            judged_X, judged, feature_names=names
        )
        return cls(apply_head, response_head, click_head)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """P(apply) x P(positive | apply) per row, P(apply) = P(click) x P(apply | click) when
        there is a click head."""
        score = self.apply_head.predict(X) * self.response_head.predict(X)
        if self.click_head is not None:
            score = score * self.click_head.predict(X)
        return score.astype(np.float32)

    def feature_importance(self) -> dict[str, dict[str, float]]:
        out = {
            "apply": self.apply_head.feature_importance(),
            "response": self.response_head.feature_importance(),
        }
        if self.click_head is not None:
            out["click"] = self.click_head.feature_importance()
        return out

    def save(self, folder: Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.apply_head.save(folder / "apply")
        self.response_head.save(folder / "response")
        if self.click_head is not None:
            self.click_head.save(folder / "click")
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
        click = folder / "click"
        return cls(
            load_ranker(folder / "apply"),
            load_ranker(folder / "response"),
            load_ranker(click) if meta.get("format_version", 1) >= 2 and click.is_dir() else None,
        )
