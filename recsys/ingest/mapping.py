"""Column mappings: which column of a board's file feeds which field of a posting or profile.

`--map title=job_title,company=employer` names the file's column for each field; a field not
named is read from a column of its own name when the file has one. Presets bundle a mapping with
the joins a known dump needs (the LinkedIn 2023 postings keep skills and pay in side tables).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd


def parse_map(text: str | None) -> dict[str, str]:
    """`a=b,c=d` -> {"a": "b", "c": "d"} (field -> file column)."""
    out: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        target, sep, source = part.partition("=")
        if not sep or not target.strip() or not source.strip():
            raise ValueError(f"--map entry {part!r}: write FIELD=COLUMN, e.g. title=job_title")
        out[target.strip()] = source.strip()
    return out


@dataclass(frozen=True)
class Mapping:
    """field -> column, plus extra columns joined on by a key column (for presets)."""

    columns: dict[str, str] = field(default_factory=dict)
    #: reads side tables next to the file: a frame indexed by the key column's values
    enrich: Callable[[Path], pd.DataFrame] | None = None
    enrich_key: str | None = None

    def with_overrides(self, overrides: dict[str, str]) -> Mapping:
        return Mapping({**self.columns, **overrides}, self.enrich, self.enrich_key)

    def check(self, fields: Iterable[str], file_columns: list[str]) -> None:
        """Fail early when the mapping names a field that does not exist or a missing column."""
        known = set(fields)
        unknown = sorted(set(self.columns) - known)
        if unknown:
            raise ValueError(f"--map names unknown fields {unknown}; fields are {sorted(known)}")
        if file_columns:
            absent = sorted({c for c in self.columns.values() if c not in file_columns})
            if absent:
                raise ValueError(
                    f"--map reads columns {absent} that the file lacks; it has {file_columns}"
                )

    def apply(self, values: dict[str, Any], fields: Iterable[str]) -> dict[str, Any]:
        """One raw row as {field: value}; empty cells are left out, so defaults apply."""
        out = {f: values.get(self.columns.get(f, f)) for f in fields}
        return {f: v for f, v in out.items() if v is not None}


def _linkedin_2023_sides(path: Path) -> pd.DataFrame:
    from recsys.data.linkedin import linkedin_salaries, linkedin_skill_lists

    base = Path(path).parent
    skills = linkedin_skill_lists(base)
    pay = linkedin_salaries(base)
    frame = pd.DataFrame({"skills": skills}).join(pay, how="outer")
    frame.index = frame.index.astype("int64").astype(str)
    return frame


#: the LinkedIn 2023 postings (`linkedin_2023_arshkon/job_postings.csv`): skills and annual
#: salaries come from job_skills.csv, skills.csv and salaries.csv beside it. The dump has no
#: company names, so the company is its LinkedIn id.
PRESETS: dict[str, Mapping] = {
    "linkedin-2023": Mapping(
        columns={
            "external_id": "job_id",
            "title": "title",
            "company": "company_id",
            "employer_id": "company_id",
            "location": "location",
            "remote": "remote_allowed",
            "seniority": "formatted_experience_level",
            "skills": "skills",
            "salary_min": "min_salary",
            "salary_max": "max_salary",
        },
        enrich=_linkedin_2023_sides,
        enrich_key="job_id",
    ),
}


def mapping_for(preset: str | None, overrides: str | None) -> Mapping:
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; presets: {sorted(PRESETS)}")
    base = PRESETS[preset] if preset else Mapping()
    return base.with_overrides(parse_map(overrides))
