"""Per-candidate signals shared by the coarse score, the fine features and the reasons.

Each function maps (request, catalog, candidate rows) to one numpy column; none loops over
candidates. Keeping them here means coarse ranking, the GBDT features and the explanations agree
on what "distance" or "freshness" is.
"""

from __future__ import annotations

import numpy as np

from recsys.core.catalog import ServingCatalog
from recsys.core.context import RequestContext
from recsys.data.geo import haversine_km
from recsys.data.taxonomy import MAX_DISTANCE

#: a freshness of 0.5 after this many days.
FRESHNESS_HALF_LIFE_DAYS = 10.0
#: a location score of 0.5 at this distance for on-site jobs.
LOCATION_HALF_DISTANCE_KM = 35.0
UNKNOWN_KM = 5_000.0
#: the least occupation affinity of two occupations O*NET lists as related (career changers
#: apply across SOC groups to the occupations O*NET relates).
RELATED_AFFINITY = 0.4


def distance_km(ctx: RequestContext, catalog: ServingCatalog, rows: np.ndarray) -> np.ndarray:
    """Seeker to job in km; a large constant when the seeker gave no location."""
    p = ctx.profile
    if p.lat is None or p.lon is None:
        return np.full(len(rows), UNKNOWN_KM, dtype=np.float32)
    a = catalog.arrays
    return haversine_km(p.lat, p.lon, a.lat[rows], a.lon[rows]).astype(np.float32)


def job_age_days(ctx: RequestContext, catalog: ServingCatalog, rows: np.ndarray) -> np.ndarray:
    posted = catalog.arrays.posted_at[rows]
    age = (ctx.now - posted).astype("timedelta64[s]").astype(np.float64) / 86_400.0
    return np.where(np.isnat(posted), 30.0, np.maximum(age, 0.0)).astype(np.float32)


def freshness(age_days: np.ndarray) -> np.ndarray:
    return np.power(0.5, age_days / FRESHNESS_HALF_LIFE_DAYS).astype(np.float32)


def location_score(
    ctx: RequestContext, catalog: ServingCatalog, rows: np.ndarray, km: np.ndarray
) -> np.ndarray:
    """1 nearby, decaying with distance; remote jobs score by the seeker's remote preference."""
    near = np.power(0.5, km / LOCATION_HALF_DISTANCE_KM)
    remote = catalog.arrays.remote[rows]
    remote_score = 1.0 if ctx.profile.wants_remote else 0.8
    return np.where(remote, remote_score, near).astype(np.float32)


def title_overlap(ctx: RequestContext, catalog: ServingCatalog, rows: np.ndarray) -> np.ndarray:
    """Share of the query's title words that appear in the job title."""
    words = ctx.view().title_words
    n = words.sum()
    if n == 0:
        return np.zeros(len(rows), np.float32)
    return (catalog.title_hits(words)[rows] / n).astype(np.float32)


def skill_overlap(
    ctx: RequestContext, catalog: ServingCatalog, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(skills in common, the job's required skill count)."""
    return catalog.skill_hits(ctx.view().skills)[rows], catalog.skill_counts[rows]


def similar_to_applied(
    ctx: RequestContext, catalog: ServingCatalog, rows: np.ndarray
) -> np.ndarray:
    """Highest cosine between each candidate and the jobs the seeker applied to (0 if none)."""
    applied = ctx.view().applied_rows
    if len(applied) == 0:
        return np.zeros(len(rows), np.float32)
    sims = catalog.embeddings[rows] @ catalog.embeddings[applied].T
    return sims.max(axis=1).astype(np.float32)


def applied_occupation_share(
    ctx: RequestContext, catalog: ServingCatalog, rows: np.ndarray
) -> np.ndarray:
    """Share of the seeker's applied-to jobs in each candidate's (inferred) occupation.

    What a returning seeker applies to says more about their occupation than a loosely typed
    desired title; 0 for a cold start."""
    applied = catalog.occupation[ctx.view().applied_rows]
    applied = applied[applied >= 0]
    if len(applied) == 0:
        return np.zeros(len(rows), np.float32)
    counts = np.bincount(applied, minlength=len(catalog.taxonomy)).astype(np.float32)
    job_occ = catalog.occupation[rows]
    return np.where(job_occ >= 0, counts[np.maximum(job_occ, 0)] / len(applied), 0.0).astype(
        np.float32
    )


def occupation_affinity(
    ctx: RequestContext, catalog: ServingCatalog, rows: np.ndarray
) -> np.ndarray:
    """How close each candidate's (inferred) occupation is to the seeker's, in [0, 1].

    1 - taxonomy distance / MAX_DISTANCE (1 same occupation, .8 same detailed SOC group ... 0
    unrelated), at least RELATED_AFFINITY where O*NET lists the two as related; 0 when either
    occupation is unknown. On the simulated market the oracle's top 50 are mostly jobs of
    neighbouring occupations, not of the seeker's own, so a graded affinity keeps what a
    same-occupation flag or title cosine would cut."""
    seeker = ctx.view().occupation
    job = catalog.occupation[rows]
    if seeker < 0:
        return np.zeros(len(rows), np.float32)
    known = job >= 0
    safe = np.where(known, job, 0)
    tax, seekers = catalog.taxonomy, np.full(len(rows), seeker)
    affinity = 1.0 - tax.distance_idx(seekers, safe).astype(np.float32) / MAX_DISTANCE
    related = tax.related_mask(seekers, safe)
    affinity = np.where(related, np.maximum(affinity, RELATED_AFFINITY), affinity)
    return np.where(known, affinity, 0.0).astype(np.float32)


def seniority_fit(ctx: RequestContext, catalog: ServingCatalog, rows: np.ndarray) -> np.ndarray:
    """exp(-gap^2 / 2) of the job's seniority minus the seeker's level: 1 at the seeker's level,
    .61 one level off; .5 (no evidence either way) when either is unknown."""
    level = ctx.profile.level
    seniority = catalog.arrays.seniority[rows].astype(np.float32)
    if level is None:
        return np.full(len(rows), 0.5, np.float32)
    gap = seniority - float(level)
    return np.where(seniority >= 0, np.exp(-(gap**2) / 2.0), 0.5).astype(np.float32)
