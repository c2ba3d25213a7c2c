"""Served rows and postings shaped as the API returns them (only the k served rows become dicts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recsys.core.catalog import ServingCatalog


@dataclass
class ServedResponse:
    """A served list as the API returns it."""

    request_id: str
    items: list[dict[str, Any]]
    model_versions: dict[str, str]
    cached: bool
    timings_ms: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    #: servers the service worked without for this answer (e.g. ["redis"])
    degraded: list[str] = field(default_factory=list)


def response_items(
    catalog: ServingCatalog, rows: np.ndarray, scores: np.ndarray, reasons: list[list[str]]
) -> list[dict[str, Any]]:
    """The served catalog rows as response items, with their scores and reasons.

    Only the columns shown are taken at the served rows: taking the rows out of the whole frame
    first copies every column (skills lists included), and a whole string column as an array
    converts every row of the catalog."""
    jobs = catalog.jobs

    def column(name: str) -> Any:
        return jobs[name].array.take(rows)

    remote = jobs["remote"].to_numpy(bool)[rows]
    place = [
        "Remote" if far else f"{city}, {state}"
        for far, city, state in zip(remote, column("city"), column("state"), strict=True)
    ]
    return [
        {
            "job_id": int(job_id),
            "title": str(title),
            "company": str(company),
            "location": where,
            "remote": bool(far),
            "score": round(float(score), 6),
            "reasons": why,
        }
        for job_id, title, company, where, far, score, why in zip(
            jobs["job_id"].to_numpy()[rows],
            column("title"),
            column("company"),
            place,
            remote,
            scores,
            reasons,
            strict=True,
        )
    ]


def posting_record(catalog: ServingCatalog, row: int, now: np.datetime64) -> dict[str, Any]:
    """One posting as stored, with whether it is still open at `now`."""
    job = catalog.jobs.iloc[row]
    expires = np.datetime64(job["expires_at"], "s")
    return {
        "job_id": int(job["job_id"]),
        "title": str(job["title"]),
        "company": str(job["company"]),
        "city": str(job["city"]),
        "state": str(job["state"]),
        "lat": float(job["lat"]),
        "lon": float(job["lon"]),
        "remote": bool(job["remote"]),
        "seniority": int(job["seniority"]),
        "occupation": str(job["occupation"]),
        "skills": [str(s) for s in job["skills"]],
        "salary_min": _finite_or_none(job["salary_min"]),
        "salary_max": _finite_or_none(job["salary_max"]),
        "posted_at": str(np.datetime64(job["posted_at"], "s")),
        "expires_at": str(expires),
        "open": bool(expires > now),
    }


def _finite_or_none(value: object) -> float | None:
    number = float(value)  # type: ignore[arg-type]
    return number if np.isfinite(number) else None
