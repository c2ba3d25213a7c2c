"""Postings sent to the API turned into catalog rows (the columns of `recsys.jobs.JOB_COLUMNS`).

The occupation and, when not given, the job zone are filled in by the service after it has coded
the title, because that needs the encoder.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recsys.core.catalog import ServingCatalog
from recsys.data.geo import get_gazetteer
from recsys.jobs import JOB_COLUMNS


def new_postings(
    postings: list[dict[str, Any]], catalog: ServingCatalog, now: np.datetime64, open_days: int
) -> pd.DataFrame:
    """Rows for `postings` (dicts with the API's JobIn fields): ids assigned after the largest
    in use, the location resolved by the gazetteer, companies matched by name.

    Raises ValueError when a given id is taken or a posting has no place and is not remote.
    """
    ids_in_use = catalog.arrays.job_id
    next_id = int(ids_in_use.max()) + 1 if len(ids_in_use) else 1
    companies = dict(
        zip(
            catalog.jobs["company"].astype(str),
            catalog.jobs["company_id"].astype(int),
            strict=False,
        )
    )
    next_company = int(catalog.jobs["company_id"].max()) + 1 if len(catalog.jobs) else 1
    rating = float(np.nanmedian(catalog.arrays.employer_rating)) if len(catalog.jobs) else 3.5
    gazetteer = get_gazetteer()
    rows: list[dict[str, Any]] = []
    for i, p in enumerate(postings):
        job_id = p.get("job_id")
        if job_id is None:
            job_id, next_id = next_id, next_id + 1
        elif (catalog.rows_of(np.array([job_id]))[0] >= 0) or any(
            r["job_id"] == job_id for r in rows
        ):
            raise ValueError(f"posting {i}: job id {job_id} is already in use")
        company = str(p["company"]).strip()
        if company not in companies:
            companies[company], next_company = next_company, next_company + 1
        if p.get("lat") is not None and p.get("lon") is not None:
            lat, lon = float(p["lat"]), float(p["lon"])
            city, state = str(p.get("city") or ""), str(p.get("state") or "")
        elif p.get("city") or p.get("state"):
            place = gazetteer.resolve(", ".join(s for s in (p.get("city"), p.get("state")) if s))
            lat, lon, city, state = place.lat, place.lon, place.city, place.state
        elif p.get("remote"):
            place = gazetteer.country()
            lat, lon, city, state = place.lat, place.lon, "", ""
        else:
            raise ValueError(f"posting {i}: give city/state or lat/lon, or mark it remote")
        expires = p.get("expires_at")
        rows.append(
            {
                "job_id": int(job_id),
                "title": str(p["title"]).strip(),
                "company_id": companies[company],
                "company": company,
                "city": city,
                "state": state,
                "lat": lat,
                "lon": lon,
                "remote": bool(p.get("remote", False)),
                "job_zone": int(p.get("job_zone") or 0),
                "seniority": int(p.get("seniority", 1)),
                "occupation": "",
                "skills": [str(s) for s in p.get("skills", [])],
                "salary_min": p.get("salary_min") if p.get("salary_min") is not None else np.nan,
                "salary_max": p.get("salary_max") if p.get("salary_max") is not None else np.nan,
                "posted_at": now,
                "expires_at": np.datetime64(expires, "s")
                if expires is not None
                else now + np.timedelta64(open_days, "D"),
                "employer_rating": float(p.get("employer_rating") or rating),
            }
        )
    return pd.DataFrame(rows, columns=list(JOB_COLUMNS))
