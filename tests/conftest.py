"""Shared fixtures: the real data folder and one small simulated market per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from recsys.data.taxonomy import Taxonomy, load_taxonomy  # noqa: E402
from recsys.market.config import MarketConfig  # noqa: E402
from recsys.market.market import Market, generate_market  # noqa: E402
from recsys.market.simulate import simulate_days  # noqa: E402
from recsys.pipeline.build import build_recommender  # noqa: E402
from recsys.pipeline.recommender import Recommender  # noqa: E402
from recsys.recall.encoder import TitleEncoder  # noqa: E402
from recsys.settings import get_settings  # noqa: E402

SMALL_MARKET = MarketConfig(n_jobs=3_000, n_seekers=1_500, days=3, seed=7)
#: recall and coarse cuts of the test pipeline, scaled to the small market.
RECALL_K, COARSE_K = 1_500, 200


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = get_settings().data_dir
    if not path.is_dir():
        pytest.fail(f"data dir {path} is missing; set RECSYS_DATA_DIR (README, Data)")
    return path


@pytest.fixture(scope="session")
def taxonomy(data_dir: Path) -> Taxonomy:
    return load_taxonomy(data_dir)


@pytest.fixture(scope="session")
def small_market(
    taxonomy: Taxonomy, data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Market, Path]:
    """A 3,000-job market with three days of events, generated once per session."""
    folder = tmp_path_factory.mktemp("market")
    market = generate_market(SMALL_MARKET, taxonomy, data_dir)
    market.save(folder)
    simulate_days(market, folder)
    return market, folder


def small_recommender(market: Market) -> Recommender:
    """A coarse-only Recommender over `market` with the base encoder and the test cuts. The
    embeddings, occupations and index are cached under artifacts/, so a second one is cheap."""
    settings = get_settings().model_copy(update={"recall_k": RECALL_K, "coarse_k": COARSE_K})
    return build_recommender(
        market.jobs, market.taxonomy, TitleEncoder.load("base"), settings=settings
    )


@pytest.fixture(scope="session")
def recommender(small_market: tuple[Market, Path]) -> Recommender:
    """Shared by every test that only reads it. A test that changes a recommender's state (the
    closed loop counts popularity into its catalog) builds its own with `small_recommender`."""
    market, _ = small_market
    return small_recommender(market)
