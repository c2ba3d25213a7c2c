"""The closed loop: serve with the real Recommender, log the scored rows, train, evaluate.

The loop counts popularity into its recommender's catalog, so this module serves with a
recommender of its own (`loop_recommender`), never the session's. The fast tests read one served
day; training and the CLI (`slow`) need a second day, served into a copy.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import small_recommender

from feature_store.events import read_events
from recsys.core.context import request_context
from recsys.core.profiles import seeker_profile
from recsys.lifecycle.ranking_evaluation import evaluate_ranking, position_bias_table
from recsys.market.market import Market
from recsys.offline.closed_loop import run_closed_loop
from recsys.pipeline.recommender import Recommender
from recsys.ranking.apply_rate_ranker import load_ranker
from recsys.ranking.features import FEATURE_INDEX, FEATURE_NAMES, POSITION, SERVING_POSITION
from recsys.ranking.train import RankerTrainingConfig, design_matrix, load_selected, train_rankers
from recsys.ranking.training_data import build_training_set, read_feature_rows


@pytest.fixture(scope="module")
def loop_recommender(small_market: tuple[Market, Path]) -> Recommender:
    """This module's own recommender: the loop and the evaluation reset and count popularity in
    its catalog (each call rebuilds it from the events first, so the order of tests is free)."""
    market, _ = small_market
    return small_recommender(market)


@pytest.fixture(scope="module")
def loop_folder(
    small_market: tuple[Market, Path],
    loop_recommender: Recommender,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """Day 0 of the small market served coarse-only: its events and the served feature rows."""
    market, _ = small_market
    folder = tmp_path_factory.mktemp("loop")
    market.save(folder)
    run_closed_loop(market, folder, loop_recommender, range(0, 1))
    return folder


@pytest.fixture(scope="module")
def two_day_loop(
    loop_folder: Path,
    small_market: tuple[Market, Path],
    loop_recommender: Recommender,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """A copy of `loop_folder` with day 1 served too (histories and popularity replayed from day
    0): a day to train on and a later day to validate or evaluate on."""
    market, _ = small_market
    folder = tmp_path_factory.mktemp("loop2") / "market"
    shutil.copytree(loop_folder, folder)
    run_closed_loop(market, folder, loop_recommender, range(1, 2))
    return folder


def test_logged_rows_are_the_served_lists(
    loop_folder: Path, small_market: tuple[Market, Path]
) -> None:
    market, _ = small_market
    rows = read_feature_rows(loop_folder / "features")
    events = read_events(loop_folder / "events")
    shown = events[events["type"] == "impression"]
    assert len(rows) == len(shown) > 0
    merged = rows.merge(shown, on=["request_id", "job_id"], suffixes=("", "_event"))
    assert len(merged) == len(rows), "every logged row is an impression of the same request"
    assert (merged["position"] == merged["position_event"]).all()
    assert list(rows.columns[-len(FEATURE_NAMES) :]) == list(FEATURE_NAMES)
    # the slot a row was shown in is recorded; serving scored every row at slot 0
    assert rows[FEATURE_NAMES[POSITION]].max() > 0


def test_labels_come_from_later_applies(
    loop_folder: Path, small_market: tuple[Market, Path]
) -> None:
    market, _ = small_market
    data = build_training_set(loop_folder / "events", loop_folder / "features", market.config.start)
    applies = read_events(loop_folder / "events")
    applies = applies[applies["type"] == "apply"]
    assert data["apply"].sum() == len(applies.drop_duplicates(["user_id", "job_id", "ts"]))
    assert 0.005 < data["apply"].mean() < 0.2


@pytest.mark.slow
def test_train_select_and_evaluate(
    two_day_loop: Path,
    small_market: tuple[Market, Path],
    loop_recommender: Recommender,
    tmp_path: Path,
) -> None:
    market, _ = small_market
    loop_folder = tmp_path / "market"  # day 2 is served below: into a copy of its own
    shutil.copytree(two_day_loop, loop_folder)
    until = market.config.start + timedelta(days=1)
    report = train_rankers(
        loop_folder / "events",
        loop_folder / "features",
        until,
        loop_folder / "ranker",
        RankerTrainingConfig(n_estimators=40),
    )
    assert set(report["models"]) == {"lightgbm", "xgboost"}
    assert report["selected"] in report["models"]
    kind, model = load_selected(loop_folder / "ranker")
    assert kind == report["selected"]
    # serve day 2 with the model, then evaluate day 2 against the oracle
    run_closed_loop(market, loop_folder, loop_recommender.with_ranker(model), range(2, 3))
    models = {k: load_ranker(loop_folder / "ranker" / k) for k in report["models"]}
    table = evaluate_ranking(
        market, loop_folder / "events", loop_recommender, models, day=2, n_requests=60
    )
    policies = {"popularity", "coarse", "lightgbm", "xgboost", "oracle_on_pool"}
    assert set(table.index) == policies | {"oracle"}
    print(table.to_string())
    # The oracle ranks the whole open catalog (after the hard filters) by true relevance; no
    # policy comes near it (one that did would be reading the ground truth), and ordering the
    # coarse pool by truth cannot beat it.
    ratio = table.drop(index=["oracle", "oracle_on_pool"])["ndcg@10 / oracle"]
    assert ((ratio > 0) & (ratio < 0.95)).all(), ratio
    assert table.loc["oracle", "ndcg@10"] == 1.0
    assert ratio.max() < table.loc["oracle_on_pool", "ndcg@10 / oracle"] <= 1.0
    recall, coarse = table["top50 after recall"], table["top50 after coarse"]
    assert (recall.nunique(), coarse.nunique()) == (1, 1)  # per stage, the same for every row
    assert 0 < coarse.iat[0] <= recall.iat[0] < 1  # recall misses some; coarse cannot add any
    assert (table.drop(index="oracle")["top50 kept"] <= coarse.iat[0] + 1e-9).all()
    # The slot effect the selected model learned, against the simulator's examination curve.
    logged = read_feature_rows(loop_folder / "features", None, until)
    X = logged[list(FEATURE_NAMES)].to_numpy(np.float32)[:5000]
    bias = position_bias_table(model, X, 10)
    print(bias.to_string())
    assert bias["estimated"].iat[-1] < bias["estimated"].iat[0]  # lower slots: fewer applies
    # The GBDT is boosted from the coarse score and keeps only the rounds that help on the
    # validation lists, so it at least matches the rule it starts from (it fell to 0.73 against
    # coarse 0.83 when 300 fixed rounds overfit a day's few hundred applies) and ranks far
    # better than popularity. Beating coarse by much needs more applies than a day of a small
    # market logs (the open gap, issue 15).
    selected = table.loc[report["selected"], "ndcg@10 / oracle"]
    assert selected >= table.loc["coarse", "ndcg@10 / oracle"] - 0.02, table
    assert selected > table.loc["popularity", "ndcg@10 / oracle"] + 0.3
    assert table.loc["coarse", "ndcg@10"] > table.loc["popularity", "ndcg@10"]


class RecordingRanker:
    """An apply-rate model that keeps every feature matrix the fine stage asks it to score."""

    def __init__(self) -> None:
        self.scored: list[np.ndarray] = []

    def predict(self, X: np.ndarray) -> np.ndarray:
        self.scored.append(np.array(X, copy=True))
        return np.asarray(X[:, FEATURE_INDEX["coarse_score"]], dtype=np.float32)


def test_serving_holds_position_at_zero(
    recommender: Recommender, small_market: tuple[Market, Path]
) -> None:
    """The slot a job will be shown in is not known when it is scored: the ranker sees every
    candidate at slot 0, and the fine stage hands on (to the rerank and the impression log) the
    rows it scored, slot 0 included. Only the log records the real slot (test above)."""
    market, _ = small_market
    model = RecordingRanker()
    serving = recommender.with_ranker(model)  # a new pipeline: the session's is left as it is
    now = np.datetime64(f"{market.config.start.isoformat()}T12:00:00", "s")
    for row in range(3):
        ctx = request_context(seeker_profile(market.seekers, row), now, k=10)
        out = serving.recommend(ctx, keep_stage_outputs=True)
        assert len(model.scored) == row + 1, "one predict call per request"
        scored, fine = model.scored[-1], out.stage_outputs["fine"]
        assert len(scored) == ctx.counts["fine"] > ctx.k
        assert (scored[:, POSITION] == SERVING_POSITION).all(), "the ranker saw a real slot"
        assert fine.features is not None and out.items.features is not None
        assert (fine.features[:, POSITION] == SERVING_POSITION).all()
        assert (out.items.features[:, POSITION] == SERVING_POSITION).all()
    assert recommender.ranker is None, "the session recommender still serves coarse-only"


def test_design_matrix_keeps_or_ignores_the_slot() -> None:
    """Training: `position="feature"` learns from the logged slot, "ignore" holds it at 0."""
    rows = pd.DataFrame(np.ones((3, len(FEATURE_NAMES)), np.float32), columns=list(FEATURE_NAMES))
    rows[FEATURE_NAMES[POSITION]] = [0.0, 4.0, 9.0]
    assert design_matrix(rows, "feature")[:, POSITION].tolist() == [0.0, 4.0, 9.0]
    assert design_matrix(rows, "ignore")[:, POSITION].tolist() == [0.0, 0.0, 0.0]
    assert rows[FEATURE_NAMES[POSITION]].tolist() == [0.0, 4.0, 9.0], "input left untouched"


@pytest.mark.slow
def test_cli_train_evaluate_recommend_index(two_day_loop: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from recsys.cli.main import app

    loop_folder = two_day_loop
    runner = CliRunner()
    events, ranker = loop_folder / "events", tmp_path / "ranker"
    days = sorted(p.name.split("=")[1] for p in events.iterdir())
    result = runner.invoke(
        app,
        [
            "ranker",
            "train",
            "--events",
            str(events),
            "--until",
            days[0],
            "--out",
            str(ranker),
            "--trees",
            "20",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (ranker / "selection.json").is_file() and "serving:" in result.output
    out = tmp_path / "eval.json"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "ranking",
            "--events",
            str(events),
            "--day",
            "1",
            "--ranker",
            str(ranker),
            "--requests",
            "20",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert set(pd.read_json(out, orient="index").index) >= {"coarse", "oracle", "lightgbm"}
    result = runner.invoke(
        app,
        [
            "recommend",
            "--market",
            str(loop_folder),
            "--title",
            "registered nurse",
            "--location",
            "Austin, TX",
            "--k",
            "5",
            "--ranker",
            str(ranker),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "per-stage" in result.output and "total" in result.output
    bad = runner.invoke(app, ["recommend", "--market", str(loop_folder)])
    assert bad.exit_code != 0 and "--title" in bad.output
    result = runner.invoke(
        app,
        [
            "index",
            "build",
            "--market",
            str(loop_folder),
            "--encoder",
            "base",
            "--out",
            str(tmp_path / "index"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "index" / "meta.json").is_file()
