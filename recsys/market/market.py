"""A generated market: catalog, seekers, ground truth and its apply model, saved to one folder.

Layout of a market folder:
    market.json           the config and counts
    jobs.parquet          the job catalog (JOB_COLUMNS; `occupation` is left for inference)
    seekers.parquet       seeker profiles as the service sees them
    truth/jobs.parquet    each job's true occupation (the ground truth; no model reads it)
    truth/seekers.parquet each seeker's home occupation and bias
    events/date=YYYY-MM-DD/part-0.parquet   logged impressions, clicks and applies
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.core.folder import JOBS_FILE, META_FILE, SEEKERS_FILE, MarketFolder
from recsys.data.taxonomy import Taxonomy
from recsys.jobs import save_catalog
from recsys.market.behaviour import SEEKER_BIAS_SD, ApplyModel, JobTruth, SeekerTruth
from recsys.market.config import MarketConfig
from recsys.market.generate import RealBasis, SkillSampler, generate_jobs, generate_seekers

#: the job attributes a market over a real catalog may draw (truth/job_truth.parquet).
TRUTH_COLUMNS = ("skills", "seniority", "salary_min", "salary_max", "employer_rating")
JOB_TRUTH_FILE = "job_truth.parquet"


@dataclass
class Market:
    """Everything about one simulated market; `model` holds the ground truth."""

    config: MarketConfig
    taxonomy: Taxonomy
    jobs: pd.DataFrame
    seekers: pd.DataFrame
    job_occupation: np.ndarray
    seeker_occupation: np.ndarray
    seeker_bias: np.ndarray
    model: ApplyModel
    #: the jobs as the ground truth sees them, where that differs from the catalog (a market over
    #: a real catalog draws what the board left out); None: the catalog is the truth
    job_truth: pd.DataFrame | None = None

    @property
    def start(self) -> np.datetime64:
        return np.datetime64(self.config.start.isoformat(), "s")

    def day_of(self, ts: np.ndarray) -> np.ndarray:
        """Float days since the market's start."""
        return (np.asarray(ts, dtype="datetime64[s]") - self.start).astype(np.float64) / 86400.0

    @classmethod
    def build(
        cls,
        config: MarketConfig,
        taxonomy: Taxonomy,
        jobs: pd.DataFrame,
        seekers: pd.DataFrame,
        job_occ: np.ndarray,
        seeker_occ: np.ndarray,
        seeker_bias: np.ndarray,
        job_skills: sp.csr_matrix | None = None,
        seeker_skills: sp.csr_matrix | None = None,
    ) -> Market:
        start = np.datetime64(config.start.isoformat(), "s")
        posted_day = (jobs["posted_at"].to_numpy("datetime64[s]") - start).astype(
            np.float64
        ) / 86400
        job_truth = JobTruth(
            occupation=job_occ.astype(np.int32),
            skills=job_skills if job_skills is not None else taxonomy.skill_matrix(jobs["skills"]),
            lat=jobs["lat"].to_numpy(np.float64),
            lon=jobs["lon"].to_numpy(np.float64),
            remote=jobs["remote"].to_numpy(bool),
            seniority=jobs["seniority"].to_numpy(np.int8),
            posted_day=posted_day,
            salary_mid=((jobs["salary_min"] + jobs["salary_max"]) / 2).to_numpy(np.float64),
            rating=jobs["employer_rating"].to_numpy(np.float64),
        )
        seeker_truth = SeekerTruth(
            occupation=seeker_occ.astype(np.int32),
            skills=(
                seeker_skills
                if seeker_skills is not None
                else taxonomy.skill_matrix(seekers["skills"])
            ),
            lat=seekers["lat"].to_numpy(np.float64),
            lon=seekers["lon"].to_numpy(np.float64),
            relocate=seekers["relocate"].to_numpy(bool),
            wants_remote=seekers["wants_remote"].to_numpy(bool),
            level=seekers["level"].to_numpy(np.int8),
            expected_salary=seekers["expected_salary"].to_numpy(np.float64),
            bias=seeker_bias,
        )
        model = ApplyModel(taxonomy, job_truth, seeker_truth, config.seed)
        return cls(config, taxonomy, jobs, seekers, job_occ, seeker_occ, seeker_bias, model)

    def with_catalog(self, catalog: pd.DataFrame) -> Market:
        """This market serving `catalog` (row-aligned with the jobs) while its ground truth stays
        the jobs it was built from."""
        truth = self.jobs[list(TRUTH_COLUMNS)].reset_index(drop=True)
        return replace(self, jobs=catalog.reset_index(drop=True), job_truth=truth)

    def save(self, out: Path) -> None:
        out = Path(out)
        (out / "truth").mkdir(parents=True, exist_ok=True)
        save_catalog(self.jobs, out / JOBS_FILE)
        self.seekers.to_parquet(out / SEEKERS_FILE, index=False)
        pd.DataFrame(
            {"job_id": self.jobs["job_id"], "occupation": self.taxonomy.codes[self.job_occupation]}
        ).to_parquet(out / "truth" / "jobs.parquet", index=False)
        if self.job_truth is not None:
            self.job_truth.to_parquet(out / "truth" / JOB_TRUTH_FILE, index=False)
        pd.DataFrame(
            {
                "user_id": self.seekers["user_id"],
                "occupation": self.taxonomy.codes[self.seeker_occupation],
                "bias": self.seeker_bias,
            }
        ).to_parquet(out / "truth" / "seekers.parquet", index=False)
        meta = {
            "config": self.config.to_json(),
            "n_jobs": len(self.jobs),
            "n_seekers": len(self.seekers),
        }
        (out / META_FILE).write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, folder: Path, taxonomy: Taxonomy) -> Market:
        folder = Path(folder)
        served = MarketFolder(folder)
        config = MarketConfig.from_json(served.meta()["config"])
        jobs, seekers = served.jobs(), served.seekers()
        tj = pd.read_parquet(folder / "truth" / "jobs.parquet")
        ts = pd.read_parquet(folder / "truth" / "seekers.parquet")
        job_occ = tj["occupation"].map(taxonomy.index).to_numpy(np.int32)
        seeker_occ = ts["occupation"].map(taxonomy.index).to_numpy(np.int32)
        truth_path = folder / "truth" / JOB_TRUTH_FILE
        truth = jobs
        if truth_path.is_file():
            truth = jobs.assign(**pd.read_parquet(truth_path)[list(TRUTH_COLUMNS)])
        market = cls.build(
            config, taxonomy, truth, seekers, job_occ, seeker_occ, ts["bias"].to_numpy(np.float64)
        )
        return market.with_catalog(jobs) if truth_path.is_file() else market


def generate_market(config: MarketConfig, taxonomy: Taxonomy, data_dir: Path) -> Market:
    """Draw a market from a config; the same config (seed included) gives the same market."""
    rng = np.random.default_rng(config.seed)
    sampler = SkillSampler(taxonomy)
    basis = RealBasis.load(taxonomy, data_dir)
    jobs, job_skills, job_occ = generate_jobs(config, taxonomy, basis, rng, sampler)
    seekers, seeker_skills, seeker_occ = generate_seekers(config, taxonomy, basis, rng, sampler)
    bias = rng.normal(0.0, SEEKER_BIAS_SD, len(seekers))
    return Market.build(
        config, taxonomy, jobs, seekers, job_occ, seeker_occ, bias, job_skills, seeker_skills
    )
