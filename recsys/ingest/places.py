"""Validated postings and profiles turned into catalog rows: places resolved, ids assigned."""

from __future__ import annotations

import hashlib

import pandas as pd

from recsys.data.geo import Location, get_gazetteer
from recsys.ingest.records import PostingRecord, SeekerRecord


def company_id_for(name: str) -> int:
    """A stable id per employer name (case and spacing ignored): per-company caps and
    near-duplicate keys need one, and a board sends names."""
    key = " ".join(name.lower().split())
    if key.startswith("company ") and key[8:].isdigit():  # the LinkedIn dump's "company <id>"
        return int(key[8:])
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 2


def _place(rec: PostingRecord | SeekerRecord) -> Location | None:
    gaz = get_gazetteer()
    city = getattr(rec, "city", None)
    state = getattr(rec, "state", None)
    if rec.lat is not None and rec.lon is not None:
        text = ", ".join(s for s in (city, state) if s) or rec.location or ""
        found = gaz.resolve(text) if text else gaz.country()
        return Location(found.city, found.state, found.country, rec.lat, rec.lon, "city")
    if city or state:
        return gaz.resolve(", ".join(s for s in (city, state) if s))
    if rec.location:
        return gaz.resolve(rec.location)
    return None


def posting_rows(
    records: list[PostingRecord], source: str
) -> tuple[pd.DataFrame, list[tuple[int, str]]]:
    """Catalog rows for `records`, and (index, reason) for those that cannot be placed."""
    rows, rejects = [], []
    gaz = get_gazetteer()
    for i, rec in enumerate(records):
        place = _place(rec)
        if place is None:
            if not rec.remote:
                rejects.append(
                    (
                        i,
                        "no location: give location, city/state or lat/lon, "
                        "or mark the posting remote",
                    )
                )
                continue
            place = gaz.country()
        company = rec.company if not rec.company.isdigit() else f"company {rec.company}"
        rows.append(
            {
                "external_id": rec.external_id,
                "source": source,
                "title": rec.title,
                "company": company,
                "company_id": company_id_for(company),
                "employer_id": rec.employer_id,
                "city": place.city if place.precision == "city" else (rec.city or ""),
                "state": place.state,
                "country": rec.country or place.country or "US",
                "lat": place.lat,
                "lon": place.lon,
                "remote": rec.remote,
                "seniority": -1 if rec.seniority is None else rec.seniority,
                "job_zone": -1 if rec.job_zone is None else rec.job_zone,
                "skills": rec.skills,
                "salary_min": rec.salary_min,
                "salary_max": rec.salary_max,
                "employer_rating": rec.employer_rating,
                "posted_at": rec.posted_at,
                "expires_at": rec.expires_at,
                "status": rec.status,
                "_index": i,
            }
        )
    return pd.DataFrame(rows), rejects


def seeker_rows(records: list[SeekerRecord], source: str) -> pd.DataFrame:
    """Profile rows; a profile without a place is kept (it is served without distance)."""
    rows = []
    for rec in records:
        place = _place(rec)
        rows.append(
            {
                "user_id": rec.user_id,
                "title": rec.title,
                "skills": rec.skills,
                "location": rec.location or (place.label if place else ""),
                "lat": place.lat if place else None,
                "lon": place.lon if place else None,
                "seniority": rec.seniority,
                "expected_salary": rec.expected_salary,
                "wants_remote": rec.wants_remote,
                "relocate": rec.relocate,
                "discoverable": rec.discoverable,
                "source": source,
            }
        )
    return pd.DataFrame(rows)
