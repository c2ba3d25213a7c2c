"""Recall's candidate sources: title ANN, item-to-item, popular and fresh in the occupation."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import small_recommender

from recsys.core.context import History, RequestContext, request_context
from recsys.core.profiles import seeker_profile
from recsys.market.market import Market
from recsys.pipeline.recommender import Recommender
from recsys.recall.index_columns import FilterColumns
from recsys.recall.index_filter import IndexFilter
from recsys.recall.sources import (
    SOURCE_COLUMN,
    SOURCES,
    merge_sources,
    occupation_pool,
    source_names,
)
from recsys.recall.stage import IndexToCatalog, index_filter


@pytest.fixture(scope="module")
def rec(small_market: tuple[Market, Path]) -> Recommender:
    """This module's own recommender: the tests set its popularity counters."""
    market, _ = small_market
    return small_recommender(market)


def _ctx(
    market: Market, rec: Recommender, row: int, history: History | None = None
) -> RequestContext:
    now = market.start + np.timedelta64(3 * 86400, "s")
    ctx = request_context(seeker_profile(market.seekers, row), now, k=20, history=history)
    ctx.seeker = rec.seeker_view(ctx)
    return ctx


def _with_occupation(market: Market, rec: Recommender) -> int:
    """A seeker whose title maps to an occupation with postings nearby."""
    for row in range(200):
        ctx = _ctx(market, rec, row)
        occ = ctx.view().occupation
        if occ >= 0 and int((rec.catalog.occupation == occ).sum()) > 30:
            return row
    raise AssertionError("no seeker with a well-stocked occupation in the small market")


def test_merge_keeps_one_row_each_with_the_most_specific_tag(rec: Recommender) -> None:
    query = rec.catalog.embeddings[0]
    title = np.array([0, 1, 2, 3])
    item, popular, fresh = np.array([2, 9]), np.array([3, 9, 11]), np.array([11, 12])
    merged = merge_sources(rec.catalog, query, [title, item, popular, fresh])
    assert sorted(merged.rows.tolist()) == [0, 1, 2, 3, 9, 11, 12]
    tag = dict(zip(merged.rows.tolist(), source_names(merged.scores[SOURCE_COLUMN]), strict=True))
    assert tag == {
        0: "title",
        1: "title",
        2: "item",
        3: "popular",
        9: "item",
        11: "popular",
        12: "fresh",
    }
    capped = merge_sources(rec.catalog, query, [title, item, popular, fresh], limit=5)
    assert sorted(capped.rows.tolist()) == [2, 3, 9, 11, 12]  # title rows give way first
    cosine = rec.catalog.embeddings[merged.rows] @ query
    np.testing.assert_allclose(merged.scores["recall"], cosine, rtol=1e-5)


def test_merge_keeps_the_title_searchs_scores_and_scores_the_other_rows(
    rec: Recommender,
) -> None:
    query = rec.catalog.embeddings[0]
    title = np.array([0, 1, 2, 3])
    found = [title, np.array([2, 9]), np.array([3, 9, 11]), np.array([11, 12])]
    exact = merge_sources(rec.catalog, query, found)
    same = merge_sources(
        rec.catalog, query, found, title_scores=rec.catalog.embeddings[title] @ query
    )
    np.testing.assert_array_equal(same.rows, exact.rows)
    np.testing.assert_allclose(same.scores["recall"], exact.scores["recall"], rtol=1e-5)
    shifted = rec.catalog.embeddings[title] @ query + 0.5  # told apart from a fresh product
    merged = merge_sources(rec.catalog, query, found, title_scores=shifted)
    score = dict(zip(merged.rows.tolist(), merged.scores["recall"].tolist(), strict=True))
    cosine = {r: float(rec.catalog.embeddings[r] @ query) for r in score}
    for row in (0, 1):  # found by the title search alone: its score is kept
        assert score[row] == pytest.approx(cosine[row] + 0.5, abs=1e-5)
    for row in (2, 3, 9, 11, 12):  # tagged by another source: scored here
        assert score[row] == pytest.approx(cosine[row], abs=1e-5)


def test_item_to_item_follows_applied_and_clicked_jobs(
    small_market: tuple[Market, Path], rec: Recommender
) -> None:
    market, _ = small_market
    row = _with_occupation(market, rec)
    cold = rec.run_through(_ctx(market, rec, row), "recall")
    assert "item" not in set(source_names(cold.scores[SOURCE_COLUMN]))  # no history, no item
    seen = cold.rows[:3]
    ids = rec.catalog.arrays.job_id
    history = History(applied_job_ids=ids[seen[:1]], clicked_job_ids=ids[seen[1:]])
    warm = rec.run_through(_ctx(market, rec, row, history), "recall")
    item = warm.rows[warm.scores[SOURCE_COLUMN] == SOURCES.index("item")]
    assert len(item) > 0
    assert not np.isin(ids[item], history.applied_job_ids).any()  # applied jobs stay excluded
    centre = rec.catalog.embeddings[seen].mean(axis=0)
    sims = rec.catalog.embeddings[item] @ centre
    others = rec.catalog.embeddings[warm.rows] @ centre
    assert float(np.median(sims)) > float(np.median(others))


def test_popular_and_fresh_come_from_the_seekers_occupation(
    small_market: tuple[Market, Path], rec: Recommender
) -> None:
    market, _ = small_market
    row = _with_occupation(market, rec)
    ctx = _ctx(market, rec, row)
    # the radius stays put: widened, the sources would search a wider pool than the one below
    ctx.filters = replace(ctx.filters, widen_radius=False)
    occ = ctx.view().occupation
    n = len(rec.catalog)
    applies = np.zeros(n, np.float32)
    with rec.index.filtered(ctx.view().query, index_filter(ctx)) as search:
        pool = occupation_pool(search, rec.catalog, occ, IndexToCatalog(rec.catalog))
    assert len(pool) > 5
    hot = pool[:5]  # open, nearby, in the occupation: made the most applied to
    applies[hot] = 50.0
    rec.catalog.set_popularity(applies * 10, applies, applies)
    try:
        out = rec.run_through(ctx, "recall")
    finally:
        rec.catalog.reset_popularity()
    names = source_names(out.scores[SOURCE_COLUMN])
    popular = out.rows[names == "popular"]
    fresh = out.rows[names == "fresh"]
    assert len(fresh) > 0
    assert (rec.catalog.occupation[popular] == occ).all()
    assert (rec.catalog.occupation[fresh] == occ).all()
    assert set(hot.tolist()) <= set(out.rows.tolist())
    assert set(popular.tolist()) <= set(hot.tolist())
    posted = rec.catalog.arrays.posted_at
    same = pool[(posted[pool] <= ctx.now) & ~np.isin(pool, popular)]
    assert posted[fresh].min() >= np.sort(posted[same])[-len(fresh)]  # the newest of them


def test_the_served_list_carries_each_item_source(
    small_market: tuple[Market, Path], rec: Recommender
) -> None:
    market, _ = small_market
    ctx = request_context(seeker_profile(market.seekers, 3), market.start, k=20)
    out = rec.recommend(ctx)
    codes = out.items.scores[SOURCE_COLUMN]
    assert len(codes) == len(out.items) and set(codes.tolist()) <= set(range(len(SOURCES)))


def test_index_to_catalog_follows_compaction_and_new_postings(
    small_market: tuple[Market, Path],
) -> None:
    """The cached index-row -> catalog-row map is rebuilt when the index renumbers its rows
    (a compaction) and when a posting reaches both the index and the catalog."""
    market, _ = small_market
    rec = small_recommender(market)  # its own: this test removes and adds postings
    index, catalog = rec.index, rec.catalog
    to_catalog = IndexToCatalog(catalog)
    query = catalog.embeddings[7]

    open_then = IndexFilter(now=market.start + np.timedelta64(86400, "s"))

    def found() -> tuple[np.ndarray, np.ndarray]:
        with index.filtered(query, open_then) as search:
            rows, _ = search.search_rows(len(index))
            return to_catalog(search, rows), search.row_job_ids()[rows]

    rows, ids = found()
    assert len(rows) > 100
    np.testing.assert_array_equal(catalog.arrays.job_id[rows], ids)
    gone = index.job_ids[: int(0.4 * len(index))]  # past the dead fraction: compacted
    index.remove(gone)
    rows, ids = found()
    assert not np.isin(ids, gone).any()
    np.testing.assert_array_equal(catalog.arrays.job_id[rows], ids)
    posting = market.jobs.iloc[[7]].reset_index(drop=True)
    posting["job_id"] = int(catalog.arrays.job_id.max()) + 1
    index.add_columns(FilterColumns.from_catalog(posting), catalog.embeddings[[7]])
    rows, ids = found()
    assert posting["job_id"][0] in ids and (rows[ids == posting["job_id"][0]] == -1).all()
    catalog.append(posting, catalog.embeddings[[7]], catalog.occupation[[7]])
    rows, ids = found()
    assert rows[ids == posting["job_id"][0]].tolist() == [len(catalog) - 1]
    np.testing.assert_array_equal(catalog.arrays.job_id[rows], ids)
