"""THE seeker x job feature function: the fine ranker's input when serving and when training.

Serving calls `job_features` on the ~500 coarse candidates and logs the rows it scored with the
impression; the training set is those logged rows joined with later clicks and applies. So there
is one definition of every feature and no train/serve skew.

`position` is a training-only feature (the slot the job was shown in) that serving holds at 0, so
the model can attribute "shown first" to the slot and not to the job (position-bias handling).
"""

from __future__ import annotations

from typing import Final

import numpy as np

from recsys.core.candidates import Candidates
from recsys.core.catalog import ServingCatalog
from recsys.core.context import RequestContext
from recsys.data.taxonomy import MAX_DISTANCE
from recsys.ranking import signals
from recsys.ranking.coarse import popularity_score

FEATURE_NAMES: Final[tuple[str, ...]] = (
    "recall_score",
    "coarse_score",
    "taxonomy_distance",
    "occupation_related",
    "skill_overlap",
    "skill_coverage",
    "seeker_skill_share",
    "log_distance_km",
    "is_remote",
    "remote_match",
    "seniority_gap",
    "job_age_days",
    "salary_ratio",
    "employer_rating",
    "popularity",
    "log_impressions",
    "log_seeker_applies",
    "days_since_last_activity",
    "is_new_seeker",
    "similar_to_applied",
    "applied_occupation_share",
    "title_overlap",
    "shown_position",
)
FEATURE_INDEX: Final[dict[str, int]] = {n: i for i, n in enumerate(FEATURE_NAMES)}
POSITION = FEATURE_INDEX["shown_position"]
SERVING_POSITION = 0.0
#: the feature the GBDT is boosted from (`ApplyRateRanker.prior_feature`): the coarse rule's score
PRIOR_FEATURE: Final[str] = "coarse_score"
#: features whose effect on the apply rate has a known direction (+1 more is better, -1 worse),
#: given to the GBDT as monotone constraints: the fit signals the coarse rule weighs, and the
#: slot (lower slots are examined less). Price, rating, popularity and recency stay free.
MONOTONE: Final[dict[str, int]] = {
    "recall_score": 1,
    "coarse_score": 1,
    "taxonomy_distance": -1,
    "occupation_related": 1,
    "skill_overlap": 1,
    "skill_coverage": 1,
    "seeker_skill_share": 1,
    "log_distance_km": -1,
    "similar_to_applied": 1,
    "applied_occupation_share": 1,
    "title_overlap": 1,
    "shown_position": -1,
}


def job_features(
    ctx: RequestContext,
    catalog: ServingCatalog,
    candidates: Candidates,
    position: np.ndarray | None = None,
) -> np.ndarray:
    """Feature matrix (n_candidates x len(FEATURE_NAMES)), float32, NaN where unknown."""
    rows = candidates.rows
    n = len(rows)
    view, prof, hist, arr = ctx.view(), ctx.profile, ctx.history, catalog.arrays
    out = np.empty((n, len(FEATURE_NAMES)), dtype=np.float32)

    def put(name: str, values: np.ndarray | float) -> None:
        out[:, FEATURE_INDEX[name]] = values

    put("recall_score", candidates.scores.get("recall", np.full(n, np.nan)))
    put("coarse_score", candidates.scores.get("coarse", np.full(n, np.nan)))
    job_occ = catalog.occupation[rows]
    if view.occupation >= 0:
        known = job_occ >= 0
        safe = np.where(known, job_occ, 0)
        dist = catalog.taxonomy.distance_idx(np.full(n, view.occupation), safe)
        put("taxonomy_distance", np.where(known, dist, MAX_DISTANCE + 1))
        put(
            "occupation_related",
            known & catalog.taxonomy.related_mask(np.full(n, view.occupation), safe),
        )
    else:
        put("taxonomy_distance", MAX_DISTANCE + 1)
        put("occupation_related", 0.0)
    common, required = signals.skill_overlap(ctx, catalog, rows)
    put("skill_overlap", common)
    put("skill_coverage", common / np.maximum(required, 1.0))
    put("seeker_skill_share", common / max(view.n_skills, 1))
    km = signals.distance_km(ctx, catalog, rows)
    remote = arr.remote[rows]
    put("log_distance_km", np.log1p(km))
    put("is_remote", remote)
    put("remote_match", remote & prof.wants_remote)
    level = np.nan if prof.level is None else float(prof.level)
    seniority = arr.seniority[rows].astype(np.float32)
    put("seniority_gap", np.where(seniority >= 0, seniority - level, np.nan))
    put("job_age_days", signals.job_age_days(ctx, catalog, rows))
    mid = (arr.salary_min[rows] + arr.salary_max[rows]) / 2.0
    expected = np.nan if not prof.expected_salary else float(prof.expected_salary)
    put("salary_ratio", mid / expected)
    put("employer_rating", arr.employer_rating[rows])
    put("popularity", popularity_score(catalog, rows))
    put("log_impressions", np.log1p(catalog.popularity.impressions[rows]))
    put("log_seeker_applies", np.log1p(hist.n_applies))
    put("days_since_last_activity", hist.days_since_last_activity)
    put("is_new_seeker", float(hist.is_new))
    put("similar_to_applied", signals.similar_to_applied(ctx, catalog, rows))
    put("applied_occupation_share", signals.applied_occupation_share(ctx, catalog, rows))
    put("title_overlap", signals.title_overlap(ctx, catalog, rows))
    put("shown_position", SERVING_POSITION if position is None else position)
    return out
