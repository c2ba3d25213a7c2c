"""Posting titles and seekers' stated titles, written the way real ones are.

Real LinkedIn titles (linkedin_2023_arshkon) wrap a core occupation title in seniority words
("Sr.", "Lead", "II"), a specialty ("- Python", "- ICU"), the work arrangement ("(Remote)",
"PT"), a shift ("- Night Shift"), a place ("- Austin, TX") or a pay line. Seekers type their
desired title loosely: lower case, abbreviations, a dropped word, a typo. The recall stage must map
both back to the taxonomy, so the noise here is the test of the encoder.
"""

from __future__ import annotations

import re

import numpy as np

_SENIORITY_FORMS: tuple[tuple[str, ...], ...] = (
    ("{t} Intern", "Intern - {t}", "{t} Internship", "Summer {t} Intern"),
    ("Junior {t}", "Jr. {t}", "Entry Level {t}", "{t} I", "{t} (Entry Level)", "{t} Trainee"),
    ("{t} II", "Associate {t}", "{t} 2"),
    ("Senior {t}", "Sr. {t}", "Sr {t}", "{t} III", "Lead {t}", "Staff {t}", "Principal {t}"),
    ("Lead {t}", "Principal {t}", "{t} Supervisor", "{t} Team Lead"),
    ("Head of {t}", "Chief {t}", "{t} Director"),
)
#: chance that a posting at each level names its seniority at all.
_SENIORITY_NAMED = (0.95, 0.45, 0.35, 0.6, 0.7, 0.8)
_SHIFT_MAJORS = {"29", "31", "33", "35", "37", "47", "49", "51", "53"}
_SHIFTS = ("Night Shift", "Day Shift", "2nd Shift", "3rd Shift", "Weekends", "PRN", "Nights")
_HEALTH_SPECIALTIES = (
    "ICU",
    "Med/Surg",
    "Cardiology",
    "Emergency Department",
    "Oncology",
    "Float Pool",
)
_ARRANGEMENTS = (" - Hybrid", " - Part Time", " PT", " (Contract)", " - Full Time", " (Temporary)")
_ABBREVIATIONS = {
    "senior": "sr",
    "junior": "jr",
    "manager": "mgr",
    "engineer": "eng",
    "developer": "dev",
    "assistant": "asst",
    "administrator": "admin",
    "representative": "rep",
    "technician": "tech",
    "specialist": "spec",
    "coordinator": "coord",
    "director": "dir",
    "management": "mgmt",
    "operations": "ops",
    "associate": "assoc",
    "department": "dept",
}
_ABBREV_RE = re.compile(r"\b(" + "|".join(_ABBREVIATIONS) + r")\b", re.I)


def decorate_titles(
    core: list[str],
    seniority: np.ndarray,
    remote: np.ndarray,
    major: list[str],
    skill: list[str | None],
    place: list[str],
    rng: np.random.Generator,
) -> list[str]:
    """Posting titles: the core title plus seniority, specialty, arrangement, shift, place, pay."""
    n = len(core)
    u = rng.random((n, 9))
    pick = rng.integers(0, 1 << 30, size=(n, 4))
    out = []
    for i in range(n):
        t = core[i]
        lvl = int(seniority[i])
        if u[i, 0] < _SENIORITY_NAMED[lvl]:
            forms = _SENIORITY_FORMS[lvl]
            t = forms[pick[i, 0] % len(forms)].format(t=t)
        if skill[i] and u[i, 1] < 0.15:
            t += f" - {skill[i]}" if u[i, 2] < 0.6 else f" ({skill[i]})"
        elif major[i] == "29" and u[i, 1] < 0.2:
            t += f" - {_HEALTH_SPECIALTIES[pick[i, 1] % len(_HEALTH_SPECIALTIES)]}"
        if remote[i] and u[i, 3] < 0.4:
            t += " (Remote)" if u[i, 2] < 0.7 else " - Remote"
        elif u[i, 3] < 0.08:
            t += _ARRANGEMENTS[pick[i, 2] % len(_ARRANGEMENTS)]
        if major[i] in _SHIFT_MAJORS and u[i, 4] < 0.15:
            t += f" - {_SHIFTS[pick[i, 3] % len(_SHIFTS)]}"
        if not remote[i] and u[i, 5] < 0.06:
            t += f" - {place[i]}" if u[i, 6] < 0.7 else f" job in {place[i]}"
        if lvl <= 1 and u[i, 7] < 0.03:
            low = 15 + int(u[i, 8] * 15)
            t += f" - ${low} to ${low + 6}/hour"
        elif u[i, 7] > 0.97:
            t += f" (R{pick[i, 1] % 90000 + 10000})"
        out.append(t)
    return out


def noisy_titles(titles: list[str], noise_share: float, rng: np.random.Generator) -> list[str]:
    """Titles as seekers type them: a share of them abbreviated, cased, trimmed or misspelt."""
    n = len(titles)
    u = rng.random((n, 6))
    pos = rng.integers(0, 1 << 30, size=(n, 2))
    out = []
    for i, t in enumerate(titles):
        if u[i, 0] >= noise_share:
            out.append(t)
            continue
        if u[i, 1] < 0.5:
            t = _ABBREV_RE.sub(lambda m: _ABBREVIATIONS[m.group(1).lower()], t)
        words = t.split()
        if len(words) >= 3 and u[i, 2] < 0.25:
            del words[pos[i, 0] % len(words)]
            t = " ".join(words)
        if len(t) > 6 and u[i, 3] < 0.2:
            j = 1 + pos[i, 1] % (len(t) - 2)
            t = t[:j] + t[j + 1 :] if u[i, 4] < 0.5 else t[:j] + t[j + 1] + t[j] + t[j + 2 :]
        if u[i, 5] < 0.6:
            t = t.lower()
        out.append(t)
    return out
