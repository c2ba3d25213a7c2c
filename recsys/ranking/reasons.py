"""Human-readable reasons for the served items, computed from the same signals the rankers use.

Only the final k items are explained, so building the strings is per served item, not per
candidate.
"""

from __future__ import annotations

import numpy as np

from recsys.core.candidates import Candidates
from recsys.core.catalog import ServingCatalog
from recsys.core.context import RequestContext
from recsys.ranking import signals

SIMILAR_TO_APPLIED = 0.8
TITLE_MATCH = 0.6
GOOD_RATING = 4.0


def _posted(age_days: float) -> str:
    days = int(age_days)
    if days == 0:
        return "posted today"
    return "posted yesterday" if days == 1 else f"posted {days} days ago"


def explain(ctx: RequestContext, catalog: ServingCatalog, served: Candidates) -> list[list[str]]:
    """One list of reasons per served item, most specific first."""
    rows = served.rows
    common, _ = signals.skill_overlap(ctx, catalog, rows)
    km = signals.distance_km(ctx, catalog, rows)
    age = signals.job_age_days(ctx, catalog, rows)
    similar = signals.similar_to_applied(ctx, catalog, rows)
    remote = catalog.arrays.remote[rows]
    rating = catalog.arrays.employer_rating[rows]
    recall = served.scores.get("recall", np.zeros(len(rows)))
    n_skills = ctx.view().n_skills
    title = ctx.profile.desired_title.strip()
    out = []
    for i in range(len(rows)):
        why = []
        if recall[i] >= TITLE_MATCH and title:
            why.append(f'close match for "{title}"')
        if common[i] > 0:
            why.append(f"matches {int(common[i])} of your {n_skills} skills")
        if similar[i] >= SIMILAR_TO_APPLIED:
            why.append("similar to jobs you applied to")
        if remote[i]:
            why.append("remote")
        elif km[i] < signals.UNKNOWN_KM:
            why.append(f"{km[i]:.0f} km away")
        why.append(_posted(float(age[i])))
        if np.isfinite(rating[i]) and rating[i] >= GOOD_RATING:
            why.append(f"employer rated {rating[i]:.1f}/5")
        out.append(why)
    return out
