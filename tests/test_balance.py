"""The congestion-aware rerank and the marketplace metrics it is judged by."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from recsys.cli.main import app
from recsys.core.candidates import Candidates
from recsys.core.catalog import ServingCatalog
from recsys.core.context import request_context
from recsys.core.profiles import seeker_profile
from recsys.data.taxonomy import Taxonomy
from recsys.evaluation.marketplace import gini, source_shares, zero_share
from recsys.market.market import Market
from recsys.market.needs import applies_wanted
from recsys.ranking.balance import CongestionBalance
from recsys.ranking.rerank import RerankPolicy, RerankStage


@pytest.fixture(scope="module")
def catalog(small_market: tuple[Market, Path], taxonomy: Taxonomy) -> ServingCatalog:
    """A catalog of the small market's first 200 jobs, popularity of its own."""
    market, _ = small_market
    jobs = market.jobs.iloc[:200].reset_index(drop=True)
    emb = np.random.default_rng(0).normal(size=(200, 8)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return ServingCatalog.build(jobs, taxonomy, emb, np.zeros(200, np.int32))


def test_gini_and_zero_share_known_values() -> None:
    assert gini(np.ones(10)) == pytest.approx(0.0)
    assert gini(np.array([0, 0, 0, 1])) == pytest.approx(0.75)
    assert gini(np.zeros(5)) == 0.0
    assert zero_share(np.array([0, 2, 0, 1])) == 0.5
    shares = source_shares(np.array([0, 0, 1, -1]), ("title", "item"))
    assert shares == {"title": 0.5, "item": 0.25, "other": 0.25}


def test_pressure_lowers_the_congested_and_lifts_the_starved(catalog: ServingCatalog) -> None:
    applies = np.zeros(len(catalog), np.float32)
    applies[[0, 1, 2, 3]] = [40.0, 5.0, 0.0, 11.0]
    catalog.set_popularity(applies, applies, applies)
    try:
        balance = CongestionBalance(0.5, 3.0, 5.0)
        p = balance.pressure(catalog, np.array([0, 1, 2, 3]))
        assert p[0] == -1.0 and p[1] == pytest.approx(0.0) and p[2] == 1.0  # 6x short: capped
        assert p[3] == pytest.approx(-np.log(2.0) / np.log(3.0))
        needs = CongestionBalance(0.5, 3.0, 5.0, needs=np.array([40.0]))
        assert needs.pressure(catalog, np.array([0]))[0] == pytest.approx(0.0)
        assert needs.need_of(np.array([0, 7])).tolist() == [40.0, 5.0]  # past the array: default
    finally:
        catalog.reset_popularity()
    with pytest.raises(ValueError, match="strength"):
        CongestionBalance(-1.0, 3.0, 5.0)
    with pytest.raises(ValueError, match="max_factor"):
        CongestionBalance(0.5, 1.0, 5.0)


def test_shift_is_bounded_by_the_list_spread_and_sign_safe(catalog: ServingCatalog) -> None:
    applies = np.zeros(len(catalog), np.float32)
    applies[[0, 1]] = [100.0, 100.0]  # rows 0 and 1 congested, 2 and 3 starved
    catalog.set_popularity(applies, applies, applies)
    try:
        rows = np.array([0, 1, 2, 3])
        score = np.array([-1.0, -2.0, -1.05, -3.0])
        balance = CongestionBalance(0.5, 3.0, 5.0)
        out = balance.adjusted(catalog, rows, score)
        shift = out - score
        assert np.abs(shift).max() == pytest.approx(0.5 * score.std())
        assert shift[0] < 0 < shift[2]  # a starved job overtakes a near-equal congested one
        assert out[2] > out[0] and out[3] < out[1]  # but not one far ahead of it
        np.testing.assert_allclose(
            CongestionBalance(0.0, 3.0, 5.0).adjusted(catalog, rows, score), score
        )
    finally:
        catalog.reset_popularity()


def test_rerank_moves_a_congested_job_down(
    small_market: tuple[Market, Path], catalog: ServingCatalog
) -> None:
    market, _ = small_market
    rows = np.arange(10)
    base = np.linspace(1.0, 0.9, 10).astype(np.float32)
    candidates = Candidates(rows, {"fine": base})
    policy = RerankPolicy(
        max_per_company=10, freshness_boost=0.0, rating_boost=0.0, mmr_lambda=None
    )
    ctx = request_context(seeker_profile(market.seekers, 0), market.start, k=10)
    plain = RerankStage(catalog, policy)(ctx, candidates)
    applies = np.zeros(len(catalog), np.float32)
    applies[plain.rows[0]] = 100.0
    catalog.set_popularity(applies, applies, applies)
    try:
        balanced = RerankStage(catalog, policy, CongestionBalance(1.0, 3.0, 5.0))(ctx, candidates)
    finally:
        catalog.reset_popularity()
    top = int(plain.rows[0])
    assert int(np.flatnonzero(balanced.rows == top)[0]) > 0
    assert sorted(balanced.rows.tolist()) == sorted(plain.rows.tolist())


def test_market_needs_are_fixed_by_the_seed(small_market: tuple[Market, Path]) -> None:
    market, _ = small_market
    a, b = applies_wanted(market.jobs, 1), applies_wanted(market.jobs, 1)
    assert (a == b).all() and (a > 0).all() and len(a) == len(market.jobs)
    assert not (applies_wanted(market.jobs, 2) == a).all()


@pytest.mark.slow
def test_evaluate_marketplace_writes_both_policies(tmp_path: Path) -> None:
    out = tmp_path / "marketplace.json"
    args = ["evaluate", "marketplace", "--days", "8", "--jobs", "400", "--seekers", "200"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "loop"), "--json", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    balanced = [name for name in metrics if "balanced" in name]
    assert "baseline" in metrics and len(balanced) == 1
    for name, m in metrics.items():
        assert {"gini_applies", "zero_apply_share", "total_applies", "ndcg@10"} <= set(m), name
        assert 0.0 <= m["gini_applies"] <= 1.0 and 0.0 <= m["zero_apply_share"] <= 1.0
        assert m["total_applies"] > 0 and 0.0 < m["ndcg@10"] <= 1.0
        shares = [v for k, v in m.items() if k.startswith("share_top20_")]
        assert sum(shares) == pytest.approx(1.0)
    assert metrics[balanced[0]]["gini_applies"] != metrics["baseline"]["gini_applies"]
