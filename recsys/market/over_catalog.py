"""A simulated market over a real catalog: imported postings, simulated seekers and behaviour.

The postings are the board's (titles, employers, places as imported); the simulator adds what a
real dump does not say but behaviour needs, and keeps it as ground truth that no model reads:
each posting's true occupation is the one coded from its title and skills, its required skills
are the ones it lists that the taxonomy knows, else drawn from that occupation; pay, employer
rating and level the board left out are drawn the way `generate_jobs` draws them. Seekers are
generated as for a simulated market, with occupations weighted like the catalog's own.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data.taxonomy import Taxonomy, rows_to_csr
from recsys.market.behaviour import SEEKER_BIAS_SD
from recsys.market.config import MarketConfig
from recsys.market.generate import (
    _LEVEL_SALARY,
    _ZONE_SALARY,
    RealBasis,
    SkillSampler,
    city_table,
    generate_seekers,
)
from recsys.market.market import Market


def market_over_catalog(
    config: MarketConfig,
    taxonomy: Taxonomy,
    data_dir: Path,
    jobs: pd.DataFrame,
    job_occupation: np.ndarray,
) -> Market:
    """A market whose jobs are `jobs` (catalog rows) with true occupations `job_occupation`."""
    rng = np.random.default_rng(config.seed)
    sampler = SkillSampler(taxonomy)
    occ = np.asarray(job_occupation, np.int32)
    if (occ < 0).any():
        raise ValueError(f"{int((occ < 0).sum())} postings have no coded occupation")
    n = len(jobs)
    listed = taxonomy.skill_matrix(jobs["skills"])
    known = np.asarray(listed.sum(axis=1)).ravel() > 0
    drawn = sampler.draw(occ, np.where(known, 0, rng.integers(3, 9, n)), rng)
    listed_rows = np.split(listed.indices, listed.indptr[1:-1])
    skill_rows = [
        np.asarray(lst if k else d, np.int32) for lst, d, k in zip(listed_rows, drawn, known)
    ]
    truth = jobs.copy()
    zone = taxonomy.job_zones[occ].astype(np.int8)
    level = truth["seniority"].to_numpy(np.int8)
    guess = np.clip(np.rint(zone - 1.5 + rng.normal(0.4, 1.0, n)), 0, 5).astype(np.int8)
    level = np.where(level >= 0, level, guess)
    mid = _ZONE_SALARY[zone] * _LEVEL_SALARY[level] * rng.lognormal(0, 0.15, n)
    given = ((truth["salary_min"] + truth["salary_max"]) / 2).to_numpy(np.float64)
    mid = np.where(np.isfinite(given) & (given > 0), given, mid)
    rating = truth["employer_rating"].to_numpy(np.float64)
    drawn_rating = np.clip(rng.normal(3.7, 0.6, n), 1.0, 5.0).round(1)
    truth["seniority"] = level
    truth["salary_min"] = (mid * 0.88).astype(np.float32)
    truth["salary_max"] = (mid * 1.12).astype(np.float32)
    truth["employer_rating"] = np.where(np.isfinite(rating), rating, drawn_rating).astype(
        np.float32
    )
    weights = np.bincount(occ, minlength=len(taxonomy)).astype(np.float64) + 0.05
    real = RealBasis.load(taxonomy, data_dir)
    located = jobs.assign(location_precision=np.where(jobs["city"] != "", "city", "state"))
    basis = RealBasis(weights / weights.sum(), city_table(located), real.company_names)
    seekers, seeker_skills, seeker_occ = generate_seekers(config, taxonomy, basis, rng, sampler)
    bias = rng.normal(0.0, SEEKER_BIAS_SD, len(seekers))
    job_skills = rows_to_csr(skill_rows, len(taxonomy.skill_vocab))
    truth["skills"] = [[taxonomy.skill_vocab[k] for k in r] for r in skill_rows]
    market = Market.build(
        config, taxonomy, truth, seekers, occ, seeker_occ, bias, job_skills, seeker_skills
    )
    return market.with_catalog(jobs)  # models see the catalog, not the drawn truth
