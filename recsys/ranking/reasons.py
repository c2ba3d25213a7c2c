"""Human-readable reasons for the served items, computed from the same signals the rankers use.

Only the final k items are explained, so building the strings is per served item, not per
candidate.
"""

from __future__ import annotations

import numpy as np

from recsys.core.candidates import Candidates
from recsys.core.catalog import ServingCatalog
from recsys.core.context import RequestContext
from recsys.core.sources import SOURCE_COLUMN, SOURCE_REASONS
from recsys.ranking import signals

SIMILAR_TO_APPLIED = 0.8
TITLE_MATCH = 0.6
GOOD_RATING = 4.0
#: skills named per list in a reason; the rest are counted ("and 3 more").
MAX_NAMED_SKILLS = 3


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_NAMED_SKILLS])
    more = len(names) - MAX_NAMED_SKILLS
    return f"{shown} and {more} more" if more > 0 else shown


def skill_reason(matched: list[str], missing: list[str]) -> str | None:
    """ "you have Python, SQL; it also asks for Spark": what the seeker brings and what the job
    asks for beyond it, so a seeker sees why it fits and what they would need (None when no
    skill matches: a bare list of missing skills is not a reason to show the job)."""
    if not matched:
        return None
    text = f"you have {_names(matched)}"
    return f"{text}; it also asks for {_names(missing)}" if missing else text


def matched_and_missing(
    ctx: RequestContext, catalog: ServingCatalog, rows: np.ndarray
) -> list[tuple[list[str], list[str]]]:
    """Per served row: the job's required skills the seeker has, and those they lack (names in
    the taxonomy's vocabulary order)."""
    job_skills = catalog.skills[rows].tocsr()
    has = ctx.view().skills[job_skills.indices] > 0
    vocab = catalog.taxonomy.skill_vocab
    out = []
    for i in range(len(rows)):
        lo, hi = job_skills.indptr[i], job_skills.indptr[i + 1]
        ids, mine = job_skills.indices[lo:hi], has[lo:hi]
        out.append(([vocab[j] for j in ids[mine]], [vocab[j] for j in ids[~mine]]))
    return out


def _posted(age_days: float) -> str:
    days = int(age_days)
    if days == 0:
        return "posted today"
    return "posted yesterday" if days == 1 else f"posted {days} days ago"


def explain(ctx: RequestContext, catalog: ServingCatalog, served: Candidates) -> list[list[str]]:
    """One list of reasons per served item, most specific first."""
    rows = served.rows
    skills = matched_and_missing(ctx, catalog, rows)
    km = signals.distance_km(ctx, catalog, rows)
    age = signals.job_age_days(ctx, catalog, rows)
    similar = signals.similar_to_applied(ctx, catalog, rows)
    remote = catalog.arrays.remote[rows]
    rating = catalog.arrays.employer_rating[rows]
    recall = served.scores.get("recall", np.zeros(len(rows)))
    source = served.scores.get(SOURCE_COLUMN, np.zeros(len(rows), np.int8))
    title = ctx.profile.desired_title.strip()
    out = []
    for i in range(len(rows)):
        why = []
        if recall[i] >= TITLE_MATCH and title:
            why.append(f'close match for "{title}"')
        skill_line = skill_reason(*skills[i])
        if skill_line is not None:
            why.append(skill_line)
        if similar[i] >= SIMILAR_TO_APPLIED:
            why.append("similar to jobs you applied to")
        elif int(source[i]) in SOURCE_REASONS:
            why.append(SOURCE_REASONS[int(source[i])])
        if remote[i]:
            why.append("remote")
        elif km[i] < signals.UNKNOWN_KM:
            why.append(f"{km[i]:.0f} km away")
        why.append(_posted(float(age[i])))
        if np.isfinite(rating[i]) and rating[i] >= GOOD_RATING:
            why.append(f"employer rated {rating[i]:.1f}/5")
        out.append(why)
    return out
