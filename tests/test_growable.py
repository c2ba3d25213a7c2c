"""Appends write into spare rows, so forked workers keep sharing what they had."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recsys.core.growable import MIN_SPARE_ROWS, append_rows, capacity_for, with_room
from recsys.recall.index_columns import FilterColumns, IndexStorage


def test_append_fills_spare_rows_in_place_and_grows_when_full() -> None:
    used = np.arange(12, dtype=np.float32).reshape(4, 3)
    buffer = with_room(used)
    assert len(buffer) == capacity_for(4) == 4 + MIN_SPARE_ROWS
    view = buffer[:4]
    new = np.full((2, 3), 7.0, np.float32)
    same = append_rows(buffer, 4, new)
    assert same is buffer  # written in place
    np.testing.assert_array_equal(view, used)  # a reader's view of the old rows is unchanged
    np.testing.assert_array_equal(same[4:6], new)
    full = append_rows(same, len(same), np.ones((1, 3), np.float32))  # no room left: a copy
    assert full is not same and len(full) >= capacity_for(len(same) + 1)
    np.testing.assert_array_equal(full[: len(same)], same)


def _columns(ids: np.ndarray) -> FilterColumns:
    cols = FilterColumns.empty(len(ids))
    cols.job_id[:] = ids
    return cols


def test_index_storage_appends_in_place_after_a_load(tmp_path: Path) -> None:
    store = IndexStorage(4)
    store.append(_columns(np.arange(100)), np.ones((100, 4), np.float32))
    store.save(tmp_path)
    loaded = IndexStorage.load(tmp_path, 4)
    buffer = loaded.emb
    assert len(buffer) > loaded.n == 100  # spare rows from the start
    loaded.append(_columns(np.array([500])), np.full((1, 4), 2.0, np.float32))
    assert loaded.emb is buffer and loaded.n == 101
    np.testing.assert_array_equal(loaded.emb[100], 2.0)
    assert loaded.rows(np.array([500])).tolist() == [100]


def test_the_catalog_appends_embeddings_in_place(small_market) -> None:
    from recsys.core.catalog import ServingCatalog

    market, _ = small_market
    jobs = market.jobs.iloc[:50].reset_index(drop=True)
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(50, 8)).astype(np.float32)
    catalog = ServingCatalog.build(jobs.iloc[:40], market.taxonomy, emb[:40], np.zeros(40))
    before = catalog.embeddings
    catalog.append(jobs.iloc[40:].reset_index(drop=True), emb[40:], np.zeros(10))
    assert np.shares_memory(before, catalog.embeddings)  # the same buffer, no copy
    np.testing.assert_array_equal(before, emb[:40])
    np.testing.assert_array_equal(catalog.embeddings, emb)
    catalog.replace(np.array([3]), jobs.iloc[[3]].reset_index(drop=True), -emb[[3]], [0])
    assert np.shares_memory(before, catalog.embeddings)
    np.testing.assert_array_equal(catalog.embeddings[3], -emb[3])
    assert catalog.rows_of(jobs["job_id"].to_numpy()[45:]).tolist() == list(range(45, 50))


def test_column_lookups_match_the_row_products_after_appends_and_replaces(small_market) -> None:
    """skill_hits / title_hits (the request's scoring by its own columns) equal the sparse
    products over every row, as the catalog is grown and changed."""
    from recsys.core.catalog import ServingCatalog

    market, _ = small_market
    jobs = market.jobs.iloc[:60].reset_index(drop=True)
    emb = np.zeros((60, 8), np.float32)
    catalog = ServingCatalog.build(jobs.iloc[:40], market.taxonomy, emb[:40], np.zeros(40))
    rng = np.random.default_rng(1)

    def check() -> None:
        for _ in range(5):
            skills = (rng.random(catalog.skills.shape[1]) < 0.05) * rng.random()
            words = (rng.random(catalog.titles.shape[1]) < 0.05).astype(np.float32)
            np.testing.assert_allclose(catalog.skill_hits(skills), catalog.skills @ skills, 1e-6)
            np.testing.assert_allclose(catalog.title_hits(words), catalog.titles @ words, 1e-6)
        np.testing.assert_array_equal(catalog.skill_counts, np.diff(catalog.skills.indptr))
        assert catalog.skill_hits(np.zeros(catalog.skills.shape[1])).shape == (len(catalog),)

    check()
    catalog.append(jobs.iloc[40:].reset_index(drop=True), emb[40:], np.zeros(20))
    check()
    swapped = jobs.iloc[[5, 50]].reset_index(drop=True)
    swapped["skills"] = [swapped["skills"][1], swapped["skills"][0]]
    swapped["title"] = ["Pastry Chef", "Data Engineer"]
    swapped["job_id"] = jobs["job_id"].to_numpy()[[3, 45]]
    catalog.replace(np.array([3, 45]), swapped, emb[[3, 45]], [0, 0])
    check()
