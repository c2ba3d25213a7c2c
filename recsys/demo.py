"""`make demo`: the main job end to end on the embedded defaults.

Each step is a library call; the demo only chains them and prints what they return. The market
folder is `artifacts/demo/market` (override the root with RECSYS_ARTIFACTS_DIR).
"""

from __future__ import annotations

import shutil
import sys
import time
from datetime import date

from recsys.cli.console import console, kv_table, table
from recsys.data.check import check_data
from recsys.data.taxonomy import load_taxonomy
from recsys.market.config import MarketConfig
from recsys.market.market import generate_market
from recsys.market.simulate import simulate_days
from recsys.market.summary import market_summary
from recsys.settings import get_settings

DEMO_MARKET = MarketConfig(n_jobs=20_000, n_seekers=10_000, days=7, seed=42, start=date(2026, 1, 5))


def main() -> int:
    settings = get_settings()
    root = settings.artifacts_dir / "demo"
    console.rule("1. data check")
    report, problems = check_data(settings.data_dir)
    for source, counts in report.items():
        console.print(kv_table(source, counts))
    if problems:
        for p in problems:
            console.print(f"[red]problem:[/red] {p}")
        return 1

    console.rule("2. simulate a market")
    folder = root / "market"
    shutil.rmtree(folder, ignore_errors=True)
    t0 = time.perf_counter()
    taxonomy = load_taxonomy(settings.data_dir)
    market = generate_market(DEMO_MARKET, taxonomy, settings.data_dir)
    market.save(folder)
    totals = simulate_days(market, folder)
    console.print(
        f"{DEMO_MARKET.n_jobs:,} jobs, {DEMO_MARKET.n_seekers:,} seekers, "
        f"{DEMO_MARKET.days} days in {time.perf_counter() - t0:.1f} s -> {folder}"
    )

    console.rule("3. market summary")
    summary = market_summary(market, folder)
    console.print(
        kv_table(
            "traffic",
            {
                k: summary[k]
                for k in (
                    "requests",
                    "impressions",
                    "clicks",
                    "applies",
                    "applies per impression",
                    "applies per click",
                )
            },
        )
    )
    majors = summary["jobs per major group"]
    assert isinstance(majors, dict)
    console.print(
        table("jobs per SOC major group (top 8)", ["group", "jobs"], list(majors.items())[:8])
    )
    ranking = summary["ranking"]
    assert isinstance(ranking, dict)
    console.print(kv_table("oracle vs random nDCG@10 on the served lists", ranking))
    console.print(
        table(
            "sample postings",
            ["title", "company", "city", "remote"],
            market.jobs[["title", "company", "city", "remote"]].head(8).to_numpy(),
        )
    )
    console.print(f"[green]demo finished[/green]; events: {totals}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
