"""Draw the jobs and seekers of a market from the real taxonomy and the real catalog's geography.

Occupations are weighted by how often their titles occur among real LinkedIn postings, cities by
how often they host a real posting, employers are real company names. Everything random comes from
one `numpy.random.Generator` seeded by the config, so a seed gives one market.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data.linkedin import load_company_names, load_linkedin_catalog
from recsys.data.taxonomy import Taxonomy, rows_to_csr
from recsys.market.config import MarketConfig
from recsys.market.titles import decorate_titles, noisy_titles

_ZONE_SALARY = np.array([0.0, 32_000, 42_000, 56_000, 82_000, 112_000])
_LEVEL_SALARY = np.array([0.55, 0.85, 1.0, 1.3, 1.7, 2.2])
#: SOC major groups whose postings name a technology in the title ("Developer - Java").
_SPECIALTY_MAJORS = {"11", "13", "15", "17", "27"}
#: share of seekers who opted out of being shown to employers (not discoverable)
NOT_DISCOVERABLE_SHARE = 0.1
#: seed offset of the discoverability draw (its own generator: the other draws stay as they were)
_DISCOVERABLE_SEED = 7_919
_TITLE_NOISE = re.compile(
    r"\b(senior|sr\.?|junior|jr\.?|lead|principal|staff|entry level|ii|iii|iv|i)\b|[-(|,].*$",
    re.I,
)


def occupation_weights(taxonomy: Taxonomy, real_titles: pd.Series) -> np.ndarray:
    """Share of real postings whose cleaned title names each occupation (+1 smoothing)."""
    cleaned = real_titles.str.replace(_TITLE_NOISE, "", regex=True).str.strip().str.lower()
    counts = np.ones(len(taxonomy))
    for title, n in cleaned.value_counts().items():
        hits = taxonomy.lookup_title(str(title))
        for code in hits:
            counts[taxonomy.index[code]] += n / len(hits)
    return counts / counts.sum()


def city_table(catalog: pd.DataFrame) -> pd.DataFrame:
    """Cities of real postings with their posting counts (city-level locations only)."""
    cities = catalog[catalog["location_precision"] == "city"]
    table = cities.groupby(["city", "state"], as_index=False).agg(
        lat=("lat", "first"), lon=("lon", "first"), n=("job_id", "size")
    )
    return table.sort_values("n", ascending=False).reset_index(drop=True)


class SkillSampler:
    """Draws skill sets from an occupation's technology skills, hot and in-demand ones first."""

    def __init__(self, taxonomy: Taxonomy):
        self.taxonomy = taxonomy
        self.pools: list[np.ndarray] = []
        self.weights: list[np.ndarray] = []
        for occ in taxonomy.occupations:
            names = taxonomy.skills_for(occ.code)
            self.pools.append(np.array([taxonomy.skill_index[s] for s in names], dtype=np.int32))
            w = np.array(
                [
                    1.0 + 3.0 * (s in occ.hot_skills) + 2.0 * (s in occ.in_demand_skills)
                    for s in names
                ]
            )
            self.weights.append(w / w.sum() if len(w) else w)

    def draw(
        self, occupations: np.ndarray, sizes: np.ndarray, rng: np.random.Generator
    ) -> list[np.ndarray]:
        """Weighted sampling without replacement (Efraimidis-Spirakis keys), one block of
        random numbers per occupation rather than one call per seeker or job."""
        out: list[np.ndarray] = [np.zeros(0, np.int32)] * len(occupations)
        for occ in np.unique(occupations).tolist():
            rows = np.flatnonzero(occupations == occ)
            pool, w = self.pools[occ], self.weights[occ]
            k = np.minimum(sizes[rows], len(pool))
            if len(pool) == 0 or k.max() == 0:
                continue
            keys = rng.exponential(size=(len(rows), len(pool))) / w
            top = np.argsort(keys, axis=1)[:, : int(k.max())]
            for r, row in enumerate(rows.tolist()):
                out[row] = np.sort(pool[top[r, : k[r]]])
        return out

    def specialty(self, occupation: int, skills: np.ndarray) -> str | None:
        """A hot skill short enough to appear in a title ("Java", "Salesforce"), if any."""
        hot = self.taxonomy.occupations[occupation].hot_skills
        names = [self.taxonomy.skill_vocab[int(k)] for k in skills]
        short = [s for s in names if s in hot and len(s.split()) <= 2 and len(s) <= 18]
        return short[0] if short else None


@dataclass(frozen=True)
class RealBasis:
    """What a market borrows from the real data: occupation frequencies, cities, employers."""

    weights: np.ndarray
    cities: pd.DataFrame
    company_names: list[str]

    @classmethod
    def load(cls, taxonomy: Taxonomy, data_dir: Path) -> RealBasis:
        real = load_linkedin_catalog(data_dir)
        return cls(
            weights=occupation_weights(taxonomy, real["title"]),
            cities=city_table(real),
            company_names=load_company_names(data_dir),
        )


def generate_jobs(
    config: MarketConfig,
    taxonomy: Taxonomy,
    basis: RealBasis,
    rng: np.random.Generator,
    sampler: SkillSampler,
) -> tuple[pd.DataFrame, sp.csr_matrix, np.ndarray]:
    """The job catalog, its required-skill matrix and each job's true occupation index."""
    n = config.n_jobs
    weights, cities, names = basis.weights, basis.cities, basis.company_names
    n_comp = max(10, n // config.jobs_per_company)
    companies = pd.DataFrame(
        {
            "company": [
                names[i % len(names)] + ("" if i < len(names) else f" #{i // len(names)}")
                for i in range(n_comp)
            ],
            "rating": np.clip(rng.normal(3.7, 0.6, n_comp), 1.0, 5.0).round(1),
            "home": rng.choice(len(cities), n_comp, p=cities["n"] / cities["n"].sum()),
        }
    )
    company_p = 1.0 / np.arange(1, n_comp + 1) ** 0.8
    company = rng.choice(n_comp, n, p=company_p / company_p.sum())

    occ = rng.choice(len(taxonomy), n, p=weights).astype(np.int32)
    major = [taxonomy.occupations[o].major[:2] for o in occ.tolist()]
    zone = taxonomy.job_zones[occ].astype(np.int8)
    seniority = np.clip(np.rint(zone - 1.5 + rng.normal(0.4, 1.0, n)), 0, 5).astype(np.int8)
    tech = np.array([m in {"15", "13", "27", "17", "11"} for m in major])
    remote = rng.random(n) < np.where(tech, 0.32, 0.06)
    at_home = rng.random(n) < 0.7
    city = np.where(
        at_home,
        companies["home"].to_numpy()[company],
        rng.choice(len(cities), n, p=cities["n"] / cities["n"].sum()),
    )
    skill_rows = sampler.draw(occ, rng.integers(3, 9, n), rng)

    core = []
    title_pick = rng.random(n)
    for i, o in enumerate(occ.tolist()):
        alts = taxonomy.occupations[o].alternate_titles
        core.append(
            taxonomy.occupations[o].title
            if not alts
            else alts[int(title_pick[i] * 1e9) % len(alts)]
        )
    place = (cities["city"] + ", " + cities["state"]).to_numpy()[city].tolist()
    titles = decorate_titles(
        core,
        seniority,
        remote,
        major,
        [
            sampler.specialty(o, r) if m in _SPECIALTY_MAJORS else None
            for o, r, m in zip(occ.tolist(), skill_rows, major)
        ],
        place,
        rng,
    )

    metro = 1.0 + 0.25 * (cities["n"].to_numpy()[city] > 300)
    mid = _ZONE_SALARY[zone] * _LEVEL_SALARY[seniority] * metro * rng.lognormal(0, 0.15, n)
    start = np.datetime64(config.start.isoformat(), "s")
    posted_day = rng.uniform(-40.0, config.days, n)
    posted_at = start + (posted_day * 86400).astype("timedelta64[s]")
    expires_at = posted_at + (rng.uniform(21, 60, n) * 86400).astype("timedelta64[s]")
    jobs = pd.DataFrame(
        {
            "job_id": np.arange(n, dtype=np.int64) + 1_000_000,
            "title": titles,
            "company_id": company.astype(np.int64),
            "company": companies["company"].to_numpy()[company],
            "city": cities["city"].to_numpy()[city],
            "state": cities["state"].to_numpy()[city],
            "lat": cities["lat"].to_numpy(np.float32)[city],
            "lon": cities["lon"].to_numpy(np.float32)[city],
            "remote": remote,
            "job_zone": zone,
            "seniority": seniority,
            "occupation": "",
            "skills": [[taxonomy.skill_vocab[k] for k in r] for r in skill_rows],
            "salary_min": (mid * 0.88).round(-3).astype(np.float32),
            "salary_max": (mid * 1.12).round(-3).astype(np.float32),
            "posted_at": posted_at,
            "expires_at": expires_at,
            "employer_rating": companies["rating"].to_numpy(np.float32)[company],
        }
    )
    return jobs, rows_to_csr(skill_rows, len(taxonomy.skill_vocab)), occ


def generate_seekers(
    config: MarketConfig,
    taxonomy: Taxonomy,
    basis: RealBasis,
    rng: np.random.Generator,
    sampler: SkillSampler,
) -> tuple[pd.DataFrame, sp.csr_matrix, np.ndarray]:
    """Seeker profiles, their skill matrix and each seeker's true home occupation index."""
    n = config.n_seekers
    weights, cities = basis.weights, basis.cities
    occ = rng.choice(len(taxonomy), n, p=weights).astype(np.int32)
    zone = taxonomy.job_zones[occ]
    level = np.clip(np.rint(zone - 1.5 + rng.normal(0.3, 1.1, n)), 0, 5).astype(np.int8)

    own = sampler.draw(occ, rng.integers(3, 13, n), rng)
    # A fifth of seekers also bring skills from a related occupation (career changers).
    extra_from = rng.random(n) < 0.2
    related = []
    for i, o in enumerate(occ.tolist()):
        rel = taxonomy.occupations[o].related
        related.append(taxonomy.index.get(rel[i % len(rel)], o) if (extra_from[i] and rel) else o)
    extra = sampler.draw(np.array(related), np.where(extra_from, rng.integers(1, 4, n), 0), rng)
    skill_rows = [np.union1d(a, b).astype(np.int32) for a, b in zip(own, extra)]

    stated = []
    pick = rng.random(n)
    for i, o in enumerate(occ.tolist()):
        alts = taxonomy.occupations[o].alternate_titles
        stated.append(
            taxonomy.occupations[o].title
            if pick[i] < 0.05 or not alts
            else alts[int(pick[i] * 1e9) % len(alts)]
        )
    desired = noisy_titles(stated, noise_share=0.35, rng=rng)

    city = rng.choice(len(cities), n, p=cities["n"] / cities["n"].sum())
    new = rng.random(n) < config.new_seeker_share
    first_day = np.where(new, rng.integers(0, max(config.days, 1), n), -rng.integers(1, 365, n))
    start = np.datetime64(config.start.isoformat(), "s")
    expected = _ZONE_SALARY[zone] * _LEVEL_SALARY[level] * rng.lognormal(0, 0.2, n)
    seekers = pd.DataFrame(
        {
            "user_id": [f"s{i:07d}" for i in range(n)],
            "desired_title": desired,
            "skills": [[taxonomy.skill_vocab[k] for k in r] for r in skill_rows],
            "city": cities["city"].to_numpy()[city],
            "state": cities["state"].to_numpy()[city],
            "lat": cities["lat"].to_numpy(np.float32)[city],
            "lon": cities["lon"].to_numpy(np.float32)[city],
            "relocate": rng.random(n) < 0.2,
            "wants_remote": rng.random(n) < 0.3,
            "level": level,
            "expected_salary": expected.round(-3).astype(np.float32),
            "first_seen": start + (first_day.astype(np.int64) * 86400).astype("timedelta64[s]"),
            "is_new": new,
        }
    )
    seekers["willing_to_relocate"] = seekers["relocate"]
    opted_out = np.random.default_rng([config.seed, _DISCOVERABLE_SEED]).random(n)
    seekers["discoverable"] = opted_out >= NOT_DISCOVERABLE_SHARE
    return seekers, rows_to_csr(skill_rows, len(taxonomy.skill_vocab)), occ
