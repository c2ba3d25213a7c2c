"""Every online feature in one place: what it is keyed by, what it holds and how long it lives.

Both online-store backends read their limits (list lengths, TTLs, window) from here, so the two
can never disagree about what a feature means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class FeatureView:
    """A group of features served together for one entity.

    `ttl_s` is how long a value stays valid after it was written (None: until replaced);
    `max_len` bounds list-valued fields (None: scalar fields only).
    """

    name: str
    entity: str
    fields: tuple[str, ...]
    ttl_s: float | None = None
    max_len: int | None = None


SEEKER_HISTORY: Final = FeatureView(
    name="seeker_history",
    entity="user_id",
    fields=(
        "applied_job_ids",
        "clicked_job_ids",
        "n_applies",
        "n_clicks",
        "n_impressions",
        "last_active",
    ),
    max_len=50,
)

#: Days of daily buckets summed by `job_popularity`; older buckets fall out of the window.
POPULARITY_WINDOW_DAYS: Final = 7

JOB_POPULARITY: Final = FeatureView(
    name="job_popularity",
    entity="job_id",
    fields=("impressions", "clicks", "applies"),
    ttl_s=float(POPULARITY_WINDOW_DAYS * 86_400),
)

QUERY_VECTOR: Final = FeatureView(
    name="query_vector",
    entity="user_id,title",
    fields=("vector",),
    ttl_s=86_400.0,
)

RESULT_CACHE: Final = FeatureView(
    name="result_cache",
    entity="user_id,key",
    fields=("payload",),
    ttl_s=60.0,
)

FEATURE_VIEWS: Final[tuple[FeatureView, ...]] = (
    SEEKER_HISTORY,
    JOB_POPULARITY,
    QUERY_VECTOR,
    RESULT_CACHE,
)
