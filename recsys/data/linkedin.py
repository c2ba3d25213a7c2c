"""The LinkedIn 2023 postings (Kaggle arshkon) as a real job catalog in the `JOB_COLUMNS` schema.

Fields the dump lacks (posting dates, employer rating, company names) are left unknown (NaT, NaN,
"company <id>") rather than invented; `applies` and `views` are kept for popularity priors.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data.errors import read_table
from recsys.data.geo import get_gazetteer
from recsys.jobs import JOB_COLUMNS, SENIORITY_LEVELS, check_catalog

LINKEDIN_DIR = "linkedin_2023_arshkon"
ASANICZKA_DIR = "linkedin_2024_asaniczka"
_ANNUAL = {"YEARLY": 1.0, "MONTHLY": 12.0, "BIWEEKLY": 26.0, "WEEKLY": 52.0, "HOURLY": 2080.0}


@lru_cache(maxsize=2)
def load_linkedin_catalog(data_dir: Path) -> pd.DataFrame:
    """Postings with parsed locations, skills and annualised salaries (plus applies, views)."""
    base = Path(data_dir) / LINKEDIN_DIR
    posts = read_table(
        base / "job_postings.csv",
        [
            "job_id",
            "company_id",
            "title",
            "location",
            "applies",
            "views",
            "remote_allowed",
            "formatted_experience_level",
            "formatted_work_type",
        ],
        what="LinkedIn 2023 job postings",
    )
    posts = posts.dropna(subset=["job_id", "title"]).drop_duplicates("job_id")
    posts["job_id"] = posts["job_id"].astype(np.int64)
    skill_lists = linkedin_skill_lists(base)
    sal = linkedin_salaries(base)

    gaz = get_gazetteer()
    locs = gaz.resolve_many(posts["location"].tolist())
    level = posts["formatted_experience_level"].map({s: i for i, s in enumerate(SENIORITY_LEVELS)})
    out = pd.DataFrame(
        {
            "job_id": posts["job_id"].to_numpy(),
            "title": posts["title"].str.strip().to_numpy(),
            "company_id": pd.to_numeric(posts["company_id"], errors="coerce")
            .fillna(-1)
            .astype(np.int64),
            "city": [loc.city for loc in locs],
            "state": [loc.state for loc in locs],
            "lat": np.array([loc.lat for loc in locs], dtype=np.float32),
            "lon": np.array([loc.lon for loc in locs], dtype=np.float32),
            "location_precision": [loc.precision for loc in locs],
            "remote": posts["remote_allowed"].fillna("0").astype(float).astype(bool).to_numpy(),
            "job_zone": np.int8(-1),
            "seniority": level.fillna(-1).astype(np.int8).to_numpy(),
            "occupation": "",
            "skills": posts["job_id"]
            .map(skill_lists)
            .apply(lambda v: v if isinstance(v, list) else []),
            "salary_min": posts["job_id"].map(sal["min_salary"]).astype(np.float32).to_numpy(),
            "salary_max": posts["job_id"].map(sal["max_salary"]).astype(np.float32).to_numpy(),
            "posted_at": pd.NaT,
            "expires_at": pd.NaT,
            "employer_rating": np.float32("nan"),
            "applies": pd.to_numeric(posts["applies"], errors="coerce").to_numpy(),
            "views": pd.to_numeric(posts["views"], errors="coerce").to_numpy(),
            "work_type": posts["formatted_work_type"].to_numpy(),
        }
    )
    out["company"] = "company " + out["company_id"].astype(str)
    extra = [c for c in out.columns if c not in JOB_COLUMNS]
    return pd.concat([check_catalog(out), out[extra].reset_index(drop=True)], axis=1)


def linkedin_skill_lists(base: Path) -> pd.Series:
    """Skill names per posting (job_id -> sorted list), from job_skills.csv and skills.csv."""
    skills = read_table(base / "job_skills.csv", ["job_id", "skill_abr"], what="job skills")
    names = read_table(base / "skills.csv", ["skill_abr", "skill_name"], what="skill names")
    skills = skills.merge(names, on="skill_abr", how="left")
    skills["job_id"] = pd.to_numeric(skills["job_id"], errors="coerce")
    return (
        skills.dropna(subset=["job_id", "skill_name"])
        .drop_duplicates(["job_id", "skill_name"])
        .sort_values(["job_id", "skill_name"])
        .groupby("job_id")["skill_name"]
        .agg(list)
    )


def linkedin_salaries(base: Path) -> pd.DataFrame:
    """Annualised min_salary and max_salary per posting (job_id index), from salaries.csv."""
    salaries = read_table(
        base / "salaries.csv",
        ["job_id", "min_salary", "max_salary", "med_salary", "pay_period"],
        what="LinkedIn salaries",
    )
    sal = salaries.assign(
        job_id=pd.to_numeric(salaries["job_id"], errors="coerce"),
        factor=salaries["pay_period"].map(_ANNUAL),
    ).dropna(subset=["job_id", "factor"])
    for col in ("min_salary", "max_salary", "med_salary"):
        sal[col] = pd.to_numeric(sal[col], errors="coerce") * sal["factor"]
    sal["min_salary"] = sal["min_salary"].fillna(sal["med_salary"])
    sal["max_salary"] = sal["max_salary"].fillna(sal["med_salary"])
    return sal.groupby("job_id")[["min_salary", "max_salary"]].first()


def load_company_names(data_dir: Path) -> list[str]:
    """Real employer names (asaniczka 2024 postings), most frequent first."""
    frame = read_table(
        Path(data_dir) / ASANICZKA_DIR / "job_postings.csv",
        ["company"],
        what="asaniczka LinkedIn postings",
    )
    return frame["company"].dropna().str.strip().value_counts().index.tolist()
