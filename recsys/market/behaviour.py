"""The ground-truth apply model of the simulated market. No trained model reads it.

    P(apply | seeker s, job j, position p) = examination(p) * relevance(s, j)

examination(p) = (1 + p) ** -ETA, p the 0-based slot: the share of seekers who look that far.

relevance(s, j) = sigmoid(BIAS + sum_k W_k * component_k(s, j) + seeker_bias(s) + noise(s, j))
with components, each in [0, 1] (rating in [-1, 1]):
  occupation  taxonomy affinity of the seeker's home occupation and the job's true occupation:
              1 same occupation, .8 same SOC detailed, .55 broad, .3 minor, .12 major, 0 else,
              raised by .3 (up to .6) when O*NET lists the two occupations as related;
  skills      share of the job's required skills that the seeker has;
  location    exp(-km / 30) for an on-site job; relocating seekers keep .4 * exp(-km / 2000);
              a remote job scores .9, 1 for seekers who want remote;
  seniority   exp(-gap^2 / 2), gap = job level - seeker level (over-qualified gaps count .6x);
  freshness   exp(-age_days / 21);
  salary      sigmoid(4 * (job mid salary / seeker expectation - .9));
  rating      (employer rating - 3) / 2.
seeker_bias ~ N(0, .3) per seeker, and noise(s, j) ~ N(0, .35) is a fixed hash of (seeker, job,
seed), so relevance is a deterministic function and the oracle ranking is well defined.

A click happens with examination * sqrt(relevance) and an apply follows a click with
sqrt(relevance), so P(apply) is exactly examination * relevance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsys.data.geo import haversine_km
from recsys.data.taxonomy import Taxonomy

ETA = 0.8
BIAS = -7.0
WEIGHTS = {
    "occupation": 4.2,
    "skills": 1.6,
    "location": 2.2,
    "seniority": 1.2,
    "freshness": 0.8,
    "salary": 0.7,
    "rating": 0.5,
}
_AFFINITY = np.array([1.0, 0.8, 0.55, 0.3, 0.12, 0.0])
SEEKER_BIAS_SD = 0.3
PAIR_NOISE_SD = 0.35


def examination(position: np.ndarray | int) -> np.ndarray:
    """Probability that a seeker looks at the item in slot `position` (0-based)."""
    return np.power(1.0 + np.asarray(position, dtype=np.float64), -ETA)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class JobTruth:
    """What the market knows about each job (row-aligned with the catalog)."""

    occupation: np.ndarray  # int32 taxonomy index
    skills: sp.csr_matrix  # n_jobs x vocab, binary
    lat: np.ndarray
    lon: np.ndarray
    remote: np.ndarray
    seniority: np.ndarray
    posted_day: np.ndarray  # float days since the market's start
    salary_mid: np.ndarray
    rating: np.ndarray


@dataclass(frozen=True)
class SeekerTruth:
    """What the market knows about each seeker (row-aligned with the seeker table)."""

    occupation: np.ndarray
    skills: sp.csr_matrix
    lat: np.ndarray
    lon: np.ndarray
    relocate: np.ndarray
    wants_remote: np.ndarray
    level: np.ndarray
    expected_salary: np.ndarray
    bias: np.ndarray


def _splitmix64(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.uint64)
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def pair_noise(seeker: np.ndarray, job: np.ndarray, seed: int) -> np.ndarray:
    """N(0, PAIR_NOISE_SD) that depends only on (seeker, job, seed)."""
    with np.errstate(over="ignore"):
        key = (seeker.astype(np.uint64) << np.uint64(32)) ^ job.astype(np.uint64)
        key = key ^ _splitmix64(np.array([seed], dtype=np.uint64))
    u = (_splitmix64(key) >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    u1 = np.clip(u, 1e-12, 1.0)
    u2 = (_splitmix64(key + np.uint64(1)) >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return PAIR_NOISE_SD * np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def rowwise_overlap(
    a: sp.csr_matrix, a_rows: np.ndarray, b: sp.csr_matrix, b_rows: np.ndarray
) -> np.ndarray:
    """|A[a_rows[i]] ∩ B[b_rows[i]]| for every pair i, for binary sparse rows."""
    return np.asarray(a[a_rows].multiply(b[b_rows]).sum(axis=1)).ravel()


class ApplyModel:
    """Relevance, examination and the oracle for one market."""

    def __init__(self, taxonomy: Taxonomy, jobs: JobTruth, seekers: SeekerTruth, seed: int):
        self.taxonomy = taxonomy
        self.jobs = jobs
        self.seekers = seekers
        self.seed = seed
        self._job_skill_count = np.asarray(jobs.skills.sum(axis=1)).ravel()

    def components(
        self, s: np.ndarray, j: np.ndarray, day: float | np.ndarray
    ) -> dict[str, np.ndarray]:
        """Each relevance component for the pairs (s[i], j[i]) as of `day`."""
        S, J, tax = self.seekers, self.jobs, self.taxonomy
        dist = tax.distance_idx(S.occupation[s], J.occupation[j])
        affinity = _AFFINITY[dist]
        related = tax.related_mask(S.occupation[s], J.occupation[j])
        affinity = np.where(related & (affinity < 0.6), np.minimum(affinity + 0.3, 0.6), affinity)
        overlap = rowwise_overlap(S.skills, s, J.skills, j)
        skills = overlap / np.maximum(self._job_skill_count[j], 1)
        km = haversine_km(S.lat[s], S.lon[s], J.lat[j], J.lon[j])
        near = np.exp(-km / 30.0)
        onsite = np.where(S.relocate[s], np.maximum(near, 0.4 * np.exp(-km / 2000.0)), near)
        location = np.where(J.remote[j], np.where(S.wants_remote[s], 1.0, 0.9), onsite)
        gap = J.seniority[j].astype(np.float64) - S.level[s]
        gap = np.where(gap < 0, 0.6 * gap, gap)
        age = np.maximum(day - J.posted_day[j], 0.0)
        ratio = J.salary_mid[j] / np.maximum(S.expected_salary[s], 1.0)
        return {
            "occupation": affinity,
            "skills": skills,
            "location": location,
            "seniority": np.exp(-(gap**2) / 2.0),
            "freshness": np.exp(-age / 21.0),
            "salary": sigmoid(4.0 * (ratio - 0.9)),
            "rating": (J.rating[j] - 3.0) / 2.0,
        }

    def relevance(self, s: np.ndarray, j: np.ndarray, day: float | np.ndarray) -> np.ndarray:
        """True relevance in [0, 1] for the pairs (s[i], j[i])."""
        s = np.asarray(s)
        j = np.asarray(j)
        comps = self.components(s, j, day)
        return relevance_from_components(comps, self.seekers.bias[s] + pair_noise(s, j, self.seed))

    def apply_probability(
        self, s: np.ndarray, j: np.ndarray, position: np.ndarray, day: float | np.ndarray
    ) -> np.ndarray:
        return examination(position) * self.relevance(s, j, day)

    def oracle_order(self, s: np.ndarray, j: np.ndarray, day: float | np.ndarray) -> np.ndarray:
        """Indices that sort the candidate pairs by true relevance, best first."""
        return np.argsort(-self.relevance(s, j, day), kind="stable")


def relevance_from_components(components: dict[str, np.ndarray], offset: np.ndarray) -> np.ndarray:
    """sigmoid(BIAS + weighted components + offset): the formula in the module docstring."""
    z = np.full_like(offset, BIAS, dtype=np.float64) + offset
    for name, w in WEIGHTS.items():
        z = z + w * components[name]
    return sigmoid(z)
