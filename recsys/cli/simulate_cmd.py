"""`recsys simulate`: generate a market and its event log."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import typer

from recsys.catalog_db import CatalogStore
from recsys.cli.console import console, kv_table, progress, table
from recsys.data.taxonomy import load_taxonomy
from recsys.market.config import MarketConfig
from recsys.market.market import generate_market
from recsys.market.over_catalog import market_over_catalog
from recsys.market.publish import publish_postings, publish_seekers
from recsys.market.simulate import simulate_days
from recsys.market.summary import market_summary, outcome_rates
from recsys.pipeline.build import serving_encoder
from recsys.recall.encoder import TitleEncoder
from recsys.recall.occupations import OccupationIndex
from recsys.service.catalog_source import load_rows
from recsys.settings import get_settings


def simulate(
    jobs: int = typer.Option(100_000, "--jobs", min=10, help="jobs in the catalog"),
    seekers: int = typer.Option(50_000, "--seekers", min=10, help="job seekers"),
    days: int = typer.Option(14, "--days", min=1, help="days of traffic"),
    seed: int = typer.Option(42, "--seed", help="the same seed gives the same market"),
    start: str = typer.Option("2026-01-05", "--start", help="first day (YYYY-MM-DD)"),
    out: Path = typer.Option(Path("artifacts/market"), "--out", help="market folder"),
    over_catalog: bool = typer.Option(
        False,
        "--over-catalog",
        help="simulate seekers over the catalog database's open postings (--jobs is ignored)",
    ),
    publish: bool = typer.Option(
        True, help="write the postings and seekers into the catalog database (RECSYS_DATABASE_URL)"
    ),
    summary_json: Path | None = typer.Option(None, "--json", help="write the summary as JSON"),
) -> None:
    """Generate jobs (or take the catalog's), seekers and daily events with a known ground
    truth; the simulator writes into the same catalog database real data lives in."""
    config = MarketConfig(
        n_jobs=jobs, n_seekers=seekers, days=days, seed=seed, start=date.fromisoformat(start)
    )
    settings = get_settings()
    t0 = time.perf_counter()
    taxonomy = load_taxonomy(settings.data_dir)
    store = CatalogStore.open(settings.catalog_url, migrate=True)
    now = datetime.now(UTC).replace(tzinfo=None)
    if over_catalog:
        encoder = TitleEncoder.load(serving_encoder(settings))
        occupations = OccupationIndex.load_or_build(encoder, taxonomy, settings.artifacts_dir)
        rows = load_rows(store, encoder, occupations, taxonomy)
        is_open = (rows.jobs["expires_at"] > pd.Timestamp(config.start)).to_numpy()
        catalog = rows.jobs[is_open].reset_index(drop=True)
        config = replace(config, n_jobs=len(catalog))
        market = market_over_catalog(
            config, taxonomy, settings.data_dir, catalog, rows.occupation[is_open]
        )
    else:
        market = generate_market(config, taxonomy, settings.data_dir)
        if publish:
            publish_postings(store, market.jobs, now)
    if publish:
        publish_seekers(store, market.seekers, now)
    store.close()
    market.save(out)
    t_gen = time.perf_counter() - t0
    with progress() as bar:
        task = bar.add_task("simulating days", total=days)
        totals = simulate_days(market, out, progress=lambda _d: bar.advance(task))
    t_sim = time.perf_counter() - t0 - t_gen
    summary = market_summary(market, out)
    summary["seconds"] = {"generate": round(t_gen, 2), "simulate": round(t_sim, 2)}
    console.print(
        kv_table(
            f"market in {out}",
            {
                "jobs": len(market.jobs),
                "seekers": len(market.seekers),
                "requests": totals["requests"],
                "impressions": totals["impression"],
                "clicks": totals["click"],
                "applies": totals["apply"],
                "applies per impression": summary["applies per impression"],
                "positive answers per impression": outcome_rates(totals)["positive response rate"],
                "recruiter sessions (candidate impressions)": totals.get("candidate_impression", 0),
                "generate (s)": round(t_gen, 2),
                "simulate (s)": round(t_sim, 2),
            },
        )
    )
    majors = summary["jobs per major group"]
    assert isinstance(majors, dict)
    console.print(table("jobs per SOC major group", ["group", "jobs"], majors.items()))
    ranking = summary["ranking"]
    assert isinstance(ranking, dict)
    console.print(kv_table("oracle vs random on the served lists", ranking))
    if summary_json:
        summary_json.parent.mkdir(parents=True, exist_ok=True)
        summary_json.write_text(json.dumps(summary, indent=2))
