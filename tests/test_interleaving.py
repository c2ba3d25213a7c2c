"""Team-draft interleaving, traffic assignment, the experiment log and its sensitivity."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import small_recommender
from typer.testing import CliRunner

from feature_store.events import read_events
from recsys.cli.main import app
from recsys.experiments.assignment import in_experiment
from recsys.experiments.interleaving import (
    CHALLENGER,
    CHAMPION,
    credit,
    outcome,
    team_draft,
)
from recsys.experiments.log import experiment_outcomes, read_teams, team_frame, write_teams
from recsys.market.market import Market
from recsys.offline.interleaved_loop import run_interleaved_loop
from recsys.offline.interleaving_sim import Pools, request_pools, requests_needed, sensitivity
from recsys.ranking.balance import CongestionBalance

#: requests per seeded run in the closed-loop check (benchmarks/interleaving_power.py)
TDI_REQUESTS = 400


def test_team_draft_takes_each_rankings_best_unused_and_balances_teams() -> None:
    rng = np.random.default_rng(0)
    a = np.array([[1, 2, 3, 4, 5, 6]])
    b = np.array([[4, 1, 7, 8, 9, 10]])
    items, team = team_draft(a, b, 6, rng)
    assert len(set(items[0].tolist())) == 6  # no job twice
    counts = np.bincount(team[0], minlength=2)
    assert abs(int(counts[0]) - int(counts[1])) <= 1
    for ranking, code in ((a[0], CHAMPION), (b[0], CHALLENGER)):
        picked = items[0][team[0] == code]
        rank = [int(np.flatnonzero(ranking == x)[0]) for x in picked]
        assert rank == sorted(rank)  # each team adds its jobs in its own order
    assert items[0][0] in (1, 4)  # the first pick is one ranking's top job


def test_team_draft_over_many_requests_is_fair_when_rankings_agree() -> None:
    rng = np.random.default_rng(1)
    a = np.tile(np.arange(20), (4000, 1))
    items, team = team_draft(a, a.copy(), 10, rng)
    assert (items == np.arange(10)).all()  # same ranking: same list
    share = float((team == CHALLENGER).mean())
    assert 0.48 < share < 0.52  # and neither team is favoured


def test_team_draft_fills_from_the_other_ranking_when_one_runs_out() -> None:
    items, team = team_draft(
        np.array([[1, -1, -1]]), np.array([[2, 3, 4]]), 4, np.random.default_rng(2)
    )
    assert sorted(items[0][:4].tolist()) == [1, 2, 3, 4]
    assert (team[0] >= 0).all()


def test_credit_and_the_sign_test_pick_the_team_that_got_the_clicks() -> None:
    team = np.tile(np.array([0, 1, 0, 1]), (200, 1)).astype(np.int8)
    clicks = np.zeros((200, 4))
    clicks[:150, 1] = 1  # the challenger's slot clicked in 150 requests
    clicks[150:170, 0] = 1
    applies = np.zeros((200, 4))
    o = outcome(credit(team, clicks, applies))
    assert (o.challenger_wins, o.champion_wins) == (150, 20)
    assert o.winner == "challenger" and o.p_value < 1e-6
    even = outcome(credit(team[:0], clicks[:0], applies[:0]))
    assert even.winner == "undecided"


def test_assignment_is_stable_and_respects_the_share() -> None:
    ids = np.array([f"req-{i}" for i in range(20_000)])
    taken = in_experiment(ids, 0.1, "exp1")
    assert 0.09 < taken.mean() < 0.11
    assert (in_experiment(ids, 0.1, "exp1") == taken).all()
    assert (in_experiment(ids, 0.1, "exp2") != taken).any()
    with pytest.raises(ValueError, match="share"):
        in_experiment(ids, 1.5, "exp1")


def test_the_log_joined_with_events_gives_the_winner(tmp_path: Path) -> None:
    team = np.tile(np.array([0, 1]), (100, 1)).astype(np.int8)
    ids = np.array([f"r{i}" for i in range(100)])
    write_teams(tmp_path, date(2026, 1, 5), team_frame("tdi", ids, team))
    events = pd.DataFrame(
        {
            "type": ["click"] * 80 + ["apply"] * 10,
            "request_id": [f"r{i}" for i in range(80)] + [f"r{i}" for i in range(80, 90)],
            "position": [1] * 70 + [0] * 10 + [1] * 10,
        }
    )
    results = experiment_outcomes(read_teams(tmp_path), events)
    o, n = results["tdi"]
    assert n == 100 and o.challenger_wins == 80 and o.champion_wins == 10
    assert o.winner == "challenger"


def test_interleaving_finds_a_better_ranker_with_fewer_requests_than_ab() -> None:
    rng = np.random.default_rng(3)
    n, depth = 600, 60
    rel = rng.beta(1.0, 6.0, (n, depth))
    pools = Pools(np.tile(np.arange(depth), (n, 1)), rel + rng.normal(0, 0.15, (n, depth)), rel)
    result = sensitivity(pools, lift=0.5, sizes=[50, 200, 800], seeds=10)
    assert result["ndcg@10_challenger"] > result["ndcg@10_champion"]
    tdi = requests_needed(result, "interleaving", 9, "correct")
    assert tdi is not None
    ab = requests_needed(result, "ab", 9, "correct")
    assert ab is None or ab >= tdi


@pytest.mark.slow
def test_in_the_closed_loop_interleaving_picks_the_oracle_better_ranker_19_of_20(
    small_market: tuple[Market, Path],
) -> None:
    """The 20-seed run on the small market's real coarse pools (benchmarks/interleaving_power.py
    prints the whole table against A/B)."""
    market, _ = small_market
    pools = request_pools(market, small_recommender(market), range(1), depth=60)
    result = sensitivity(pools, lift=0.3, sizes=[TDI_REQUESTS], seeds=20)
    assert result["ndcg@10_challenger"] > result["ndcg@10_champion"]
    assert result["sizes"][0]["interleaving_correct"] >= 19


@pytest.mark.slow
def test_an_interleaved_loop_is_shown_by_the_cli(
    small_market: tuple[Market, Path], tmp_path: Path
) -> None:
    market, _ = small_market
    champion = small_recommender(market)
    challenger = champion.with_balance(CongestionBalance(0.5, 3.0, 5.0))
    market.save(tmp_path)
    run_interleaved_loop(market, tmp_path, champion, challenger, range(1), share=0.5)
    teams = read_teams(tmp_path / "experiments")
    assert (
        0.3
        < teams["request_id"].nunique()
        / len(read_events(tmp_path / "events").query("type == 'impression'")["request_id"].unique())
        < 0.7
    )
    out = tmp_path / "show.json"
    result = CliRunner().invoke(
        app, ["experiments", "show", "--events", str(tmp_path / "events"), "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    shown = json.loads(out.read_text())["champion-vs-challenger"]
    assert shown["requests"] == teams["request_id"].nunique()
    assert shown["winner"] in ("champion", "challenger", "undecided")
    assert shown["champion_wins"] + shown["challenger_wins"] > 0
