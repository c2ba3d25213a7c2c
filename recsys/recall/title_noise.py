"""Decorated and noisy variants of clean taxonomy titles, as real postings write them.

Taxonomy titles are clean ("Registered Nurses"); posting titles are not: "Sr. RN - Night Shift",
"Staff Accountant | Remote", "Warehouse Associate - $18/hr", "Maintenence Technician II".
Training anchors get such decorations at random so the encoder learns that they do not change
the occupation. The patterns below were read off the LinkedIn postings in shared data
(`linkedin_2023_arshkon/job_postings.csv`): seniority words and Roman levels, " - " / " | " /
"(...)" tails with locations, shifts, contract types and pay lines, dropped or doubled letters,
and the usual abbreviations. Locations are drawn from the postings' own `location` column.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from recsys.data.errors import read_table

POSTINGS_FILE = Path("linkedin_2023_arshkon") / "job_postings.csv"
FALLBACK_LOCATIONS = ("New York, NY", "Chicago, IL", "Houston, TX", "Remote", "United States")
SENIORITY = ("Senior", "Sr.", "Junior", "Jr.", "Lead", "Principal", "Staff", "Entry Level")
LEVEL_SUFFIX = ("I", "II", "III", "IV", "1", "2")
SCHEDULE = (
    "Night Shift",
    "Day Shift",
    "Full Time",
    "Part Time",
    "PRN",
    "Per Diem",
    "Weekends",
    "Contract",
    "Temporary",
    "Remote",
    "Hybrid",
    "Travel",
    "Sign-On Bonus",
)
PAY = ("$18/hr", "$25 - $32/hour", "Up to $85K", "$60,000 - $75,000", "Make $31 to $39/hour")
SEPARATORS = (" - ", " | ", ", ")
ABBREVIATIONS = {
    "senior": "Sr.",
    "junior": "Jr.",
    "manager": "Mgr",
    "assistant": "Asst.",
    "associate": "Assoc.",
    "engineer": "Eng.",
    "technician": "Tech",
    "representative": "Rep",
    "administrator": "Admin",
    "administrative": "Admin",
    "coordinator": "Coord.",
    "specialist": "Spec.",
    "director": "Dir.",
    "supervisor": "Supv.",
    "development": "Dev",
    "developer": "Dev",
    "operations": "Ops",
    "registered nurse": "RN",
    "licensed practical nurse": "LPN",
    "certified nursing assistant": "CNA",
    "human resources": "HR",
    "information technology": "IT",
    "customer service": "CS",
}
_ABBREVIATION = re.compile(
    r"\b(" + "|".join(sorted(ABBREVIATIONS, key=len, reverse=True)) + r")s?\b", re.I
)


def posting_locations(data_dir: Path, top: int = 200) -> tuple[str, ...]:
    """The most frequent posting locations, or a short fallback list without the postings."""
    path = Path(data_dir) / POSTINGS_FILE
    if not path.is_file():
        return FALLBACK_LOCATIONS
    locations = read_table(path, ["location"], what="LinkedIn postings")["location"].dropna()
    return tuple(locations.value_counts().index[:top].astype(str)) or FALLBACK_LOCATIONS


def _typo(title: str, rng: np.random.Generator) -> str:
    """Drop, double or swap one letter inside a word (never the first letter)."""
    if len(title) < 5:
        return title
    i = int(rng.integers(1, len(title) - 2))
    if not (title[i].isalpha() and title[i + 1].isalpha()):
        return title
    kind = int(rng.integers(0, 3))
    if kind == 0:
        return title[:i] + title[i + 1 :]
    if kind == 1:
        return title[:i] + title[i] + title[i:]
    return title[:i] + title[i + 1] + title[i] + title[i + 2 :]


class TitleNoiser:
    """Applies up to two random decorations to a fraction `rate` of a batch of titles."""

    def __init__(self, locations: tuple[str, ...], rate: float, seed: int):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"noise rate must be in [0, 1], got {rate}")
        self.locations = locations or FALLBACK_LOCATIONS
        self.rate = rate
        self.rng = np.random.default_rng(seed)

    def _pick(self, options: tuple[str, ...]) -> str:
        return options[int(self.rng.integers(0, len(options)))]

    def _decorate_once(self, title: str) -> str:
        kind = int(self.rng.integers(0, 7))
        if kind == 0:
            return f"{self._pick(SENIORITY)} {title}"
        if kind == 1:
            return f"{title} {self._pick(LEVEL_SUFFIX)}"
        if kind == 2:
            return f"{title}{self._pick(SEPARATORS)}{self._pick(self.locations)}"
        if kind == 3:
            return f"{title}{self._pick(SEPARATORS)}{self._pick(SCHEDULE)}"
        if kind == 4:
            return f"{title} - {self._pick(PAY)}"
        if kind == 5:
            return _typo(title, self.rng)
        return _ABBREVIATION.sub(lambda m: ABBREVIATIONS[m.group(1).lower()], title, count=1)

    def __call__(self, titles: list[str]) -> list[str]:
        """Noisy copies; the rest of the batch is returned unchanged."""
        hit = self.rng.random(len(titles)) < self.rate
        twice = self.rng.random(len(titles)) < 0.3
        out = list(titles)
        for i in np.flatnonzero(hit):
            out[i] = self._decorate_once(out[i])
            if twice[i]:
                out[i] = self._decorate_once(out[i])
        return out
