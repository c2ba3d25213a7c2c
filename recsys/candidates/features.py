"""THE posting x seeker feature function of the candidate ranker, for serving and for training.

Serving calls `pair_features` for one posting over the coarse cut; the training set builder
calls it over logged (posting, seeker) pairs, so every feature has one definition (no
train/serve skew). Each input is row-aligned per pair; `PairPostings.repeat` turns one posting
into those columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.candidates.pool import Posting, SeekerPool
from recsys.data.geo import haversine_km
from recsys.data.taxonomy import MAX_DISTANCE

FEATURE_NAMES: Final[tuple[str, ...]] = (
    "coarse_score",
    "title_similarity",
    "taxonomy_distance",
    "occupation_related",
    "skill_overlap",
    "skill_coverage",
    "seeker_skill_share",
    "posting_skill_count",
    "log_distance_km",
    "is_remote",
    "wants_remote",
    "willing_to_relocate",
    "seniority_gap",
    "seeker_level",
    "salary_ratio",
)
FEATURE_INDEX: Final[dict[str, int]] = {n: i for i, n in enumerate(FEATURE_NAMES)}


@dataclass(frozen=True, eq=False)
class PairPostings:
    """The posting side of each pair: per-pair columns and the posting's skill rows."""

    lat: np.ndarray
    lon: np.ndarray
    remote: np.ndarray
    seniority: np.ndarray  # -1 when unknown
    salary_mid: np.ndarray
    skills: sp.csr_matrix  # pairs x skill vocabulary
    occupation: np.ndarray  # inferred, -1 unknown

    @classmethod
    def repeat(cls, posting: Posting, n: int) -> PairPostings:
        """One posting as the posting side of n pairs."""
        return cls(
            lat=np.full(n, posting.lat),
            lon=np.full(n, posting.lon),
            remote=np.full(n, posting.remote),
            seniority=np.full(n, posting.seniority, np.int16),
            salary_mid=np.full(n, posting.salary_mid),
            skills=posting.skill_vector[np.zeros(n, np.int64)],
            occupation=np.full(n, posting.occupation, np.int32),
        )

    @classmethod
    def from_catalog(
        cls,
        jobs: pd.DataFrame,
        skills: sp.csr_matrix,
        occupation: np.ndarray,
        job_rows: np.ndarray,
    ) -> PairPostings:
        """Catalog rows (JOB_COLUMNS) as the posting side of pairs; `skills` is the catalog's
        skill matrix (`Taxonomy.skill_matrix(jobs["skills"])`), `occupation` its inferred
        occupations, both row-aligned with `jobs`."""
        seniority = pd.to_numeric(jobs["seniority"], errors="coerce").fillna(-1)
        mid = (jobs["salary_min"].astype("float64") + jobs["salary_max"].astype("float64")) / 2
        return cls(
            lat=jobs["lat"].to_numpy(np.float64)[job_rows],
            lon=jobs["lon"].to_numpy(np.float64)[job_rows],
            remote=jobs["remote"].to_numpy(bool)[job_rows],
            seniority=seniority.to_numpy(np.int16)[job_rows],
            salary_mid=mid.to_numpy(np.float64)[job_rows],
            skills=skills[job_rows],
            occupation=np.asarray(occupation, np.int32)[job_rows],
        )


def skill_overlap(pool: SeekerPool, rows: np.ndarray, postings: PairPostings) -> np.ndarray:
    """|seeker skills ∩ posting's required skills| per pair."""
    return np.asarray(pool.skills[rows].multiply(postings.skills).sum(axis=1)).ravel()


def distance_km(pool: SeekerPool, rows: np.ndarray, postings: PairPostings) -> np.ndarray:
    """Great-circle km between seeker and posting (NaN when the seeker has no place)."""
    return haversine_km(pool.lat[rows], pool.lon[rows], postings.lat, postings.lon)


def occupation_distance(
    pool: SeekerPool, rows: np.ndarray, postings: PairPostings
) -> tuple[np.ndarray, np.ndarray]:
    """(taxonomy distance, related) of the inferred occupations per pair; distance
    MAX_DISTANCE + 1 and not related where either is unknown."""
    seeker, job = pool.occupation[rows], postings.occupation
    known = (seeker >= 0) & (job >= 0)
    a, b = np.where(known, seeker, 0), np.where(known, job, 0)
    distance = np.where(known, pool.taxonomy.distance_idx(a, b), MAX_DISTANCE + 1)
    return distance, known & pool.taxonomy.related_mask(a, b)


def pair_features(
    pool: SeekerPool,
    rows: np.ndarray,
    postings: PairPostings,
    title_similarity: np.ndarray,
    coarse_score: np.ndarray,
) -> np.ndarray:
    """Feature matrix (pairs x len(FEATURE_NAMES)), float32, NaN where unknown.

    `coarse_score` is the coarse rules' score of each pair (`CoarseRules.score`): the model
    learns corrections to it, which matters while labels are few."""
    n = len(rows)
    out = np.empty((n, len(FEATURE_NAMES)), dtype=np.float32)

    def put(name: str, values: np.ndarray | float) -> None:
        out[:, FEATURE_INDEX[name]] = values

    common = skill_overlap(pool, rows, postings)
    required = np.asarray(postings.skills.sum(axis=1)).ravel()
    put("coarse_score", coarse_score)
    put("title_similarity", title_similarity)
    distance, related = occupation_distance(pool, rows, postings)
    put("taxonomy_distance", distance)
    put("occupation_related", related)
    put("skill_overlap", common)
    put("skill_coverage", common / np.maximum(required, 1.0))
    put("seeker_skill_share", common / np.maximum(pool.n_skills[rows], 1.0))
    put("posting_skill_count", required)
    put("log_distance_km", np.log1p(distance_km(pool, rows, postings)))
    put("is_remote", postings.remote)
    put("wants_remote", pool.wants_remote[rows])
    put("willing_to_relocate", pool.willing_to_relocate[rows])
    level = pool.level[rows].astype(np.float32)
    level = np.where(level >= 0, level, np.nan)
    seniority = np.where(postings.seniority >= 0, postings.seniority, np.nan)
    put("seniority_gap", seniority - level)
    put("seeker_level", level)
    put("salary_ratio", postings.salary_mid / pool.expected_salary[rows])
    return out
