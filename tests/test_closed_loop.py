"""The closed loop: serve with the real Recommender, log the scored rows, train, evaluate."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from feature_store.events import read_events
from recsys.closed_loop import run_closed_loop
from recsys.evaluation.ranking import evaluate_ranking
from recsys.market.market import Market
from recsys.pipeline.recommender import Recommender
from recsys.ranking.apply_rate_ranker import load_ranker
from recsys.ranking.features import FEATURE_NAMES, POSITION
from recsys.ranking.train import RankerTrainingConfig, design_matrix, load_selected, train_rankers
from recsys.ranking.training_data import build_training_set, read_feature_rows


@pytest.fixture(scope="module")
def loop_folder(
    small_market: tuple[Market, Path],
    recommender: Recommender,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    market, _ = small_market
    folder = tmp_path_factory.mktemp("loop")
    market.save(folder)
    run_closed_loop(market, folder, recommender, range(0, 2))
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
    data = build_training_set(
        loop_folder / "events", loop_folder / "features", market.config.start + timedelta(days=1)
    )
    applies = read_events(loop_folder / "events")
    applies = applies[applies["type"] == "apply"]
    assert data["apply"].sum() == len(applies.drop_duplicates(["user_id", "job_id", "ts"]))
    assert 0.005 < data["apply"].mean() < 0.2


def test_train_select_and_evaluate(
    loop_folder: Path, small_market: tuple[Market, Path], recommender: Recommender
) -> None:
    market, _ = small_market
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
    recommender.stage("fine").model = model  # type: ignore[attr-defined]
    try:
        run_closed_loop(market, loop_folder, recommender, range(2, 3))
    finally:
        recommender.stage("fine").model = None  # type: ignore[attr-defined]
    models = {k: load_ranker(loop_folder / "ranker" / k) for k in report["models"]}
    table = evaluate_ranking(
        market, loop_folder / "events", recommender, models, day=2, n_requests=60
    )
    assert set(table.index) == {"popularity", "coarse", "lightgbm", "xgboost", "oracle"}
    assert table.loc["oracle", "ndcg@10 / oracle"] == pytest.approx(1.0)
    assert (table["ndcg@10"] <= table.loc["oracle", "ndcg@10"] + 1e-9).all()
    assert table.loc["coarse", "ndcg@10"] > table.loc["popularity", "ndcg@10"]


def test_serving_holds_position_at_zero() -> None:
    rows = pd.DataFrame(np.ones((3, len(FEATURE_NAMES)), np.float32), columns=list(FEATURE_NAMES))
    rows[FEATURE_NAMES[POSITION]] = [0.0, 4.0, 9.0]
    assert design_matrix(rows, "feature")[:, POSITION].tolist() == [0.0, 4.0, 9.0]
    assert design_matrix(rows, "ignore")[:, POSITION].tolist() == [0.0, 0.0, 0.0]
    assert rows[FEATURE_NAMES[POSITION]].tolist() == [0.0, 4.0, 9.0], "input left untouched"


def test_cli_train_evaluate_recommend_index(loop_folder: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from recsys.cli.main import app

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
    assert (ranker / "ranker.json").is_file() and "serving:" in result.output
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
