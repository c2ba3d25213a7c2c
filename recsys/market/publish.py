"""The simulator as a data source: its postings and seekers written into the catalog database.

Simulated postings are upserted with `source="simulator"` and their own job ids; simulated
seekers become stored profiles (created when the simulation says they joined). Serving then
reads them exactly as it reads a board's own imports; the ground truth stays in the market folder.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from recsys.catalog_db import CatalogStore, UpsertResult

SOURCE = "simulator"


def posting_frame(jobs: pd.DataFrame, source: str = SOURCE) -> pd.DataFrame:
    """Catalog DB posting rows for catalog rows (JOB_COLUMNS)."""
    rating = jobs["employer_rating"].astype("float64")
    return pd.DataFrame(
        {
            "job_id": jobs["job_id"].to_numpy(np.int64),
            "external_id": jobs["job_id"].astype(str).to_numpy(),
            "source": source,
            "title": jobs["title"].to_numpy(),
            "company": jobs["company"].astype(str).to_numpy(),
            "company_id": jobs["company_id"].to_numpy(np.int64),
            "employer_id": jobs["company_id"].astype(str).to_numpy(),
            "city": jobs["city"].astype(str).to_numpy(),
            "state": jobs["state"].astype(str).to_numpy(),
            "country": "US",
            "lat": jobs["lat"].astype("float64").to_numpy(),
            "lon": jobs["lon"].astype("float64").to_numpy(),
            "remote": jobs["remote"].to_numpy(bool),
            "seniority": jobs["seniority"].astype(int).to_numpy(),
            "job_zone": jobs["job_zone"].astype(int).to_numpy(),
            "skills": jobs["skills"].map(list).to_numpy(),
            "salary_min": jobs["salary_min"].astype("float64").to_numpy(),
            "salary_max": jobs["salary_max"].astype("float64").to_numpy(),
            "employer_rating": rating.where(rating.notna(), None).to_numpy(),
            "posted_at": pd.to_datetime(jobs["posted_at"]).to_numpy(),
            "expires_at": pd.to_datetime(jobs["expires_at"]).to_numpy(),
            "status": "open",
        }
    )


def seeker_frame(seekers: pd.DataFrame, source: str = SOURCE) -> pd.DataFrame:
    """Catalog DB profile rows for a market's seekers table."""
    return pd.DataFrame(
        {
            "user_id": seekers["user_id"].astype(str).to_numpy(),
            "title": seekers["desired_title"].to_numpy(),
            "skills": seekers["skills"].map(list).to_numpy(),
            "location": (seekers["city"] + ", " + seekers["state"]).to_numpy(),
            "lat": seekers["lat"].astype("float64").to_numpy(),
            "lon": seekers["lon"].astype("float64").to_numpy(),
            "seniority": seekers["level"].astype(int).to_numpy(),
            "expected_salary": seekers["expected_salary"].astype("float64").to_numpy(),
            "wants_remote": seekers["wants_remote"].to_numpy(bool),
            "relocate": seekers["relocate"].to_numpy(bool),
            "discoverable": (
                seekers["discoverable"].to_numpy(bool) if "discoverable" in seekers else True
            ),
            "source": source,
            "created_at": pd.to_datetime(seekers["first_seen"]).to_numpy(),
        }
    )


def posting_dates_now(jobs: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """The jobs with their posting and expiry dates moved together so that the last one was
    posted at `now`: the market's mix of open and lapsed postings as of `now`, for a service on
    the wall clock over a market simulated earlier."""
    shift = pd.Timestamp(now) - pd.to_datetime(jobs["posted_at"]).max()
    return jobs.assign(posted_at=jobs["posted_at"] + shift, expires_at=jobs["expires_at"] + shift)


def publish_postings(store: CatalogStore, jobs: pd.DataFrame, now: datetime) -> UpsertResult:
    return store.postings.upsert(posting_frame(jobs), now)


def publish_seekers(store: CatalogStore, seekers: pd.DataFrame, now: datetime) -> UpsertResult:
    return store.seekers.upsert(seeker_frame(seekers), now)
