"""Load every data source once and report counts and problems (`recsys data check`)."""

from __future__ import annotations

from pathlib import Path

from recsys.data.errors import DataError
from recsys.data.geo import get_gazetteer
from recsys.data.linkedin import load_company_names, load_linkedin_catalog
from recsys.data.taxonomy import load_taxonomy


def check_data(data_dir: Path) -> tuple[dict[str, dict[str, object]], list[str]]:
    """Counts per source, and a list of problems (empty when everything loaded)."""
    report: dict[str, dict[str, object]] = {}
    problems: list[str] = []
    if not Path(data_dir).is_dir():
        return report, [
            f"data dir {data_dir} does not exist; set RECSYS_DATA_DIR (see README, Data)"
        ]
    try:
        tax = load_taxonomy(Path(data_dir))
        report["O*NET 29.3 + SOC 2018"] = dict(tax.summary())
        if len(tax) < 1000:
            problems.append(f"only {len(tax)} O*NET occupations; expected 1,016")
    except DataError as exc:
        problems.append(str(exc))
    try:
        jobs = load_linkedin_catalog(Path(data_dir))
        precision = jobs["location_precision"].value_counts()
        report["LinkedIn 2023 postings"] = {
            "postings": len(jobs),
            "distinct titles": int(jobs["title"].nunique()),
            "located to a city": int(precision.get("city", 0)),
            "located to a state": int(precision.get("state", 0)),
            "country only": int(precision.get("country", 0)),
            "with skills": int((jobs["skills"].str.len() > 0).sum()),
            "with salary": int(jobs["salary_min"].notna().sum()),
            "with applies": int(jobs["applies"].notna().sum()),
            "remote allowed": int(jobs["remote"].sum()),
        }
        if jobs[["lat", "lon"]].isna().any().any():
            problems.append("some LinkedIn locations did not resolve to coordinates")
        report["employers"] = {"company names": len(load_company_names(Path(data_dir)))}
    except DataError as exc:
        problems.append(str(exc))
    report["gazetteer"] = {"US states": len(get_gazetteer().states)}
    return report, problems
