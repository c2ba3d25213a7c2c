"""The job catalog as one columnar table, shared by the real LinkedIn catalog and the simulator.

A catalog is a pandas DataFrame with the columns of `JOB_COLUMNS`, one row per posting, saved as
Parquet. `JobArrays` is the numpy view the request path uses: catalog row ids index every array.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

#: column -> pandas dtype. Skills are lists of strings; unknown numbers are NaN.
JOB_COLUMNS: Final[dict[str, str]] = {
    "job_id": "int64",
    "title": "object",
    "company_id": "int64",
    "company": "object",
    "city": "object",
    "state": "object",
    "lat": "float32",
    "lon": "float32",
    "remote": "bool",
    "job_zone": "int8",
    "seniority": "int8",
    "occupation": "object",
    "skills": "object",
    "salary_min": "float32",
    "salary_max": "float32",
    "posted_at": "datetime64[s]",
    "expires_at": "datetime64[s]",
    "employer_rating": "float32",
}

#: experience levels, 0..5, shared by jobs and seekers (LinkedIn's formatted_experience_level).
SENIORITY_LEVELS: Final[tuple[str, ...]] = (
    "Internship",
    "Entry level",
    "Associate",
    "Mid-Senior level",
    "Director",
    "Executive",
)


def check_catalog(jobs: pd.DataFrame) -> pd.DataFrame:
    """Coerce a catalog to `JOB_COLUMNS`, failing with the names of missing columns."""
    missing = [c for c in JOB_COLUMNS if c not in jobs.columns]
    if missing:
        raise ValueError(f"job catalog lacks columns {missing}; expected {list(JOB_COLUMNS)}")
    if jobs["job_id"].duplicated().any():
        dup = jobs.loc[jobs["job_id"].duplicated(), "job_id"].head(3).tolist()
        raise ValueError(f"job ids must be unique; repeated: {dup}")
    out = jobs[list(JOB_COLUMNS)].copy()
    for col, dtype in JOB_COLUMNS.items():
        if dtype != "object":
            out[col] = out[col].astype(dtype)
    return out.reset_index(drop=True)


def save_catalog(jobs: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    check_catalog(jobs).to_parquet(path, index=False)


def load_catalog(path: Path) -> pd.DataFrame:
    if not Path(path).exists():
        raise FileNotFoundError(f"no job catalog at {path}; run `recsys simulate` first")
    return check_catalog(pd.read_parquet(path))


@dataclass(frozen=True)
class JobArrays:
    """Numpy columns of a catalog for the request path (row id = position in every array)."""

    job_id: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    remote: np.ndarray
    job_zone: np.ndarray
    seniority: np.ndarray
    posted_at: np.ndarray
    expires_at: np.ndarray
    employer_rating: np.ndarray
    salary_min: np.ndarray
    salary_max: np.ndarray

    @classmethod
    def from_catalog(cls, jobs: pd.DataFrame) -> JobArrays:
        return cls(
            job_id=jobs["job_id"].to_numpy(np.int64),
            lat=jobs["lat"].to_numpy(np.float32),
            lon=jobs["lon"].to_numpy(np.float32),
            remote=jobs["remote"].to_numpy(bool),
            job_zone=jobs["job_zone"].to_numpy(np.int8),
            seniority=jobs["seniority"].to_numpy(np.int8),
            posted_at=jobs["posted_at"].to_numpy("datetime64[s]"),
            # a copy the service may write: postings are expired in place
            expires_at=jobs["expires_at"].to_numpy("datetime64[s]", copy=True),
            employer_rating=jobs["employer_rating"].to_numpy(np.float32),
            salary_min=jobs["salary_min"].to_numpy(np.float32),
            salary_max=jobs["salary_max"].to_numpy(np.float32),
        )
