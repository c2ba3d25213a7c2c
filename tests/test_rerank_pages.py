"""The per-company cap holds per page, so a long list keeps a chain's good postings."""

from __future__ import annotations

import numpy as np

from recsys.ranking.rerank import capped_pages


def test_each_page_holds_at_most_cap_of_a_company() -> None:
    # best first: five postings of company 7, then one each of 1..6
    groups = np.array([7, 7, 7, 7, 7, 1, 2, 3, 4, 5, 6])
    order = capped_pages(groups, cap=2, k=8, page=4)
    # page 1: two 7s, then 1 and 2; page 2: two more 7s, then 3, 4; then the rest in order
    assert order.tolist() == [0, 1, 5, 6, 2, 3, 7, 8, 4, 9, 10]
    for start in range(0, 8, 4):
        _, counts = np.unique(groups[order[start : start + 4]], return_counts=True)
        assert counts.max() <= 2


def test_nothing_is_lost_or_repeated() -> None:
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 5, 200)
    order = capped_pages(groups, cap=2, k=100)
    assert sorted(order.tolist()) == list(range(200))
