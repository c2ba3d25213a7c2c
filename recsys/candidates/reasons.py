"""Why each served candidate is there: skills matched and missing against the posting's required
skills (its occupation's typical ones, said so, when it lists none the taxonomy knows), distance,
seniority and recent activity. Only the final k are explained, so the strings
are built per served seeker, never per candidate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.candidates.features import PairPostings, distance_km
from recsys.candidates.pool import Posting, SeekerPool

LEVELS = ("entry", "junior", "mid", "senior", "lead", "executive")


@dataclass(frozen=True)
class CandidateReasons:
    """What the response shows for one served seeker."""

    reasons: list[str]
    skills_matched: list[str]
    skills_missing: list[str]
    distance_km: float | None
    seniority: str | None
    last_active_days: float | None


def explain(
    posting: Posting, pool: SeekerPool, rows: np.ndarray, inactive: np.ndarray
) -> list[CandidateReasons]:
    """One `CandidateReasons` per served row, in order."""
    km = distance_km(pool, rows, PairPostings.repeat(posting, len(rows)))
    required = list(posting.skills)
    occupations = pool.taxonomy.occupations
    field_name = occupations[posting.occupation].title if posting.occupation >= 0 else ""
    out = []
    for i, row in enumerate(rows.tolist()):
        have = {s.lower() for s in pool.skill_names[row]}
        matched = [s for s in required if s.lower() in have]
        missing = [s for s in required if s.lower() not in have]
        level = int(pool.level[row])
        why = []
        if required and posting.skills_typical:
            why.append(f"has {len(matched)} of the {len(required)} skills typical for {field_name}")
        elif required:
            why.append(f"has {len(matched)} of the {len(required)} required skills")
        if posting.remote:
            why.append("remote posting")
        elif np.isfinite(km[i]):
            relocate = " (willing to relocate)" if pool.willing_to_relocate[row] else ""
            why.append(f"{km[i]:.0f} km away{relocate}")
        seniority = LEVELS[level] if 0 <= level < len(LEVELS) else None
        if seniority is not None:
            gap = "" if posting.seniority < 0 else _gap(level - posting.seniority)
            why.append(f"{seniority} level{gap}")
        days = float(inactive[i])
        active = days < 365.0
        if active:
            why.append("active today" if days < 1 else f"active {int(days)} days ago")
        out.append(
            CandidateReasons(
                reasons=why,
                skills_matched=matched,
                skills_missing=missing,
                distance_km=float(km[i]) if np.isfinite(km[i]) and not posting.remote else None,
                seniority=seniority,
                last_active_days=round(days, 1) if active else None,
            )
        )
    return out


def _gap(gap: int) -> str:
    if gap == 0:
        return ", as the posting asks"
    return f", {abs(gap)} {'above' if gap > 0 else 'below'} the posting"
