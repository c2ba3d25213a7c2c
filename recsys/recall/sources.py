"""Candidate sources of the recall stage, merged under quotas, each candidate tagged by source.

One source alone (the title vector) misses what a seeker showed they want and lets the most-shown
jobs feed on themselves. Recall therefore merges four sources, all under the request's hard
filters:

- `title`: the title ANN (the query vector against the job index), filling up to `recall_k`;
- `item`: item-to-item, the jobs nearest to the mean embedding of the seeker's applied and clicked
  jobs (clicks weigh `recall_click_weight`), up to `recall_quota_item`;
- `popular`: the most-applied (then most-clicked) postings nearby in the seeker's occupation;
- `fresh`: the newest postings nearby in the seeker's occupation.

A job found by several sources keeps the most specific tag (item, popular, fresh, then title), so
a source's share counts what it added beyond the title search. The tag is the `source` column of
the candidates (an index into `SOURCES`), carried by every later stage into the served list.
Every source is one vectorised pass over arrays: no per-candidate Python.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np

from recsys.core.candidates import Candidates
from recsys.core.catalog import ServingCatalog
from recsys.core.context import RequestContext
from recsys.core.sources import SOURCE_COLUMN, SOURCES, source_names
from recsys.recall.filtered_search import FilteredSearch
from recsys.settings import Settings

__all__ = [
    "SOURCES",
    "SOURCE_COLUMN",
    "SourceQuotas",
    "extra_sources",
    "merge_sources",
    "source_names",
]

#: index rows found by a search -> their catalog rows (-1: not in the catalog)
ToCatalog = Callable[[FilteredSearch, np.ndarray], np.ndarray]
#: which tag a job found by several sources keeps: the most specific first
_PRIORITY: Final[tuple[int, ...]] = (1, 2, 3, 0)


@dataclass(frozen=True)
class SourceQuotas:
    """How many candidates each non-title source may add; defaults are the settings'."""

    item: int
    popular: int
    fresh: int
    click_weight: float

    @classmethod
    def from_settings(cls, s: Settings) -> SourceQuotas:
        return cls(
            s.recall_quota_item, s.recall_quota_popular, s.recall_quota_fresh, s.recall_click_weight
        )


def top_rows(rows: np.ndarray, keys: np.ndarray, k: int) -> np.ndarray:
    """The `k` rows with the largest `keys`, best first (stable for ties)."""
    if k <= 0 or len(rows) == 0:
        return rows[:0]
    if k < len(rows):
        part = np.argpartition(-keys, k - 1)[:k]
        return rows[part[np.argsort(-keys[part], kind="stable")]]
    return rows[np.argsort(-keys, kind="stable")]


def history_query(
    catalog: ServingCatalog, ctx: RequestContext, click_weight: float
) -> np.ndarray | None:
    """The normalised weighted mean embedding of the applied and clicked jobs; None without any."""
    applied = catalog.rows_of(ctx.history.applied_job_ids)
    clicked = catalog.rows_of(ctx.history.clicked_job_ids)
    applied, clicked = applied[applied >= 0], clicked[clicked >= 0]
    rows = np.r_[applied, clicked]
    if len(rows) == 0:
        return None
    weights = np.r_[np.ones(len(applied)), np.full(len(clicked), click_weight)]
    q = (weights[:, None] * catalog.embeddings[rows]).sum(axis=0)
    norm = float(np.linalg.norm(q))
    return (q / norm).astype(np.float32) if norm > 0 else None


def occupation_pool(
    search: FilteredSearch, catalog: ServingCatalog, occupation: int, to_catalog: ToCatalog
) -> np.ndarray:
    """Catalog rows passing the filters whose inferred occupation is the seeker's."""
    if occupation < 0:
        return np.zeros(0, np.int64)
    rows = to_catalog(search, search.allowed_rows())
    rows = rows[rows >= 0]
    return rows[catalog.occupation[rows] == occupation]


def merge_sources(
    catalog: ServingCatalog,
    query: np.ndarray,
    found: list[np.ndarray],
    limit: int | None = None,
    title_scores: np.ndarray | None = None,
) -> Candidates:
    """One candidate per catalog row from the per-source rows (`found[i]` from `SOURCES[i]`):
    the tag by `_PRIORITY`, the `recall` score the cosine to the query for every candidate; at
    most `limit`, the title rows (best first) filling what the other sources leave; best first
    by that score, as the title search alone returns them.

    `title_scores` (aligned with `found[0]`): the index's scores of the title rows, kept as
    their cosine, so that only the other sources' rows are gathered and scored here; gathering
    every candidate's embedding again cost as much as a third of the search itself."""
    order = [found[i] for i in _PRIORITY]
    rows = np.concatenate([r.astype(np.int64) for r in order])
    tags = np.concatenate([np.full(len(found[i]), i, np.int8) for i in _PRIORITY])
    _, first = np.unique(rows, return_index=True)
    first = np.sort(first)[:limit]  # the title search's last (weakest) rows give way
    rows, tags = rows[first], tags[first]
    if title_scores is None:
        cosine = (catalog.embeddings[rows] @ query).astype(np.float32)
    else:
        cosine = _scores_with_title(catalog, query, found, first, rows, title_scores)
    return Candidates(rows, {"recall": cosine, SOURCE_COLUMN: tags}).top("recall", len(rows))


def _scores_with_title(
    catalog: ServingCatalog,
    query: np.ndarray,
    found: list[np.ndarray],
    first: np.ndarray,
    rows: np.ndarray,
    title_scores: np.ndarray,
) -> np.ndarray:
    """Cosines of the merged `rows` (positions `first` in the priority-ordered concatenation):
    the title search's scores where the row came from it, a fresh product elsewhere."""
    title = SOURCES.index("title")
    title_start = sum(len(found[i]) for i in _PRIORITY[: _PRIORITY.index(title)])
    from_title = (first >= title_start) & (first < title_start + len(found[title]))
    cosine = np.empty(len(rows), np.float32)
    cosine[from_title] = np.asarray(title_scores, np.float32)[first[from_title] - title_start]
    other = ~from_title
    cosine[other] = catalog.embeddings[rows[other]] @ query
    return cosine


def extra_sources(
    search: FilteredSearch,
    catalog: ServingCatalog,
    ctx: RequestContext,
    quotas: SourceQuotas,
    to_catalog: ToCatalog,
) -> list[np.ndarray]:
    """Catalog rows from the item, popular and fresh sources, in that order, under the title
    search's filters at its final radius."""
    empty = np.zeros(0, np.int64)
    item = empty
    hq = history_query(catalog, ctx, quotas.click_weight) if quotas.item > 0 else None
    if hq is not None:
        found, _ = search.search_rows(quotas.item, query=hq)
        item = to_catalog(search, found)
        item = item[item >= 0]
    popular, fresh = empty, empty
    if quotas.popular > 0 or quotas.fresh > 0:
        pool = occupation_pool(search, catalog, ctx.view().occupation, to_catalog)
        pop = catalog.popularity
        demand = pop.applies[pool] + 0.1 * pop.clicks[pool]
        popular = top_rows(pool, demand, quotas.popular)
        popular = popular[pop.applies[popular] + pop.clicks[popular] > 0]  # popular, not just any
        posted = catalog.arrays.posted_at[pool].astype("datetime64[s]").astype(np.int64)
        recent = posted <= np.asarray(ctx.now).astype("datetime64[s]").astype(np.int64)
        fresh = top_rows(pool[recent], posted[recent].astype(np.float64), quotas.fresh)
    return [item, popular, fresh]
