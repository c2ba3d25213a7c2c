"""`recsys simulate`: generate a market and its event log."""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

import typer

from recsys.cli.console import console, kv_table, progress, table
from recsys.data.taxonomy import load_taxonomy
from recsys.market.config import MarketConfig
from recsys.market.market import generate_market
from recsys.market.simulate import simulate_days
from recsys.market.summary import market_summary
from recsys.settings import get_settings


def simulate(
    jobs: int = typer.Option(100_000, "--jobs", min=10, help="jobs in the catalog"),
    seekers: int = typer.Option(50_000, "--seekers", min=10, help="job seekers"),
    days: int = typer.Option(14, "--days", min=1, help="days of traffic"),
    seed: int = typer.Option(42, "--seed", help="the same seed gives the same market"),
    start: str = typer.Option("2026-01-05", "--start", help="first day (YYYY-MM-DD)"),
    out: Path = typer.Option(Path("artifacts/market"), "--out", help="market folder"),
    summary_json: Path | None = typer.Option(None, "--json", help="write the summary as JSON"),
) -> None:
    """Generate jobs, seekers and daily events with a known ground truth."""
    config = MarketConfig(
        n_jobs=jobs, n_seekers=seekers, days=days, seed=seed, start=date.fromisoformat(start)
    )
    settings = get_settings()
    t0 = time.perf_counter()
    taxonomy = load_taxonomy(settings.data_dir)
    market = generate_market(config, taxonomy, settings.data_dir)
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
