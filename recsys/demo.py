"""`make demo`: the main job end to end on the embedded defaults.

Each step is a library call; the demo only chains them and prints what they return:
data check -> simulated market -> encoder fine-tuning (within its budget) and retrieval metrics ->
job index -> closed loop (day 0 coarse-only, then a trained ranker) -> ranking evaluation on a
held-out day against the oracle -> one explained recommendation -> the HTTP service started
and sent a handful of requests and events. Everything lands in
`artifacts/demo/` (override the root with RECSYS_ARTIFACTS_DIR).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from recsys import demo_api
from recsys.cli.console import console, kv_table, table
from recsys.cli.evaluate_cmd import print_ranking_table
from recsys.closed_loop import run_closed_loop
from recsys.data.check import check_data
from recsys.data.taxonomy import Taxonomy, load_taxonomy
from recsys.evaluation.retrieval import SUMMARY_KEYS
from recsys.market.config import MarketConfig
from recsys.market.market import Market, generate_market
from recsys.market.summary import market_summary
from recsys.pipeline.build import build_recommender
from recsys.pipeline.serving import evaluate_market_day, profile_request
from recsys.ranking.train import load_selected, train_rankers
from recsys.recall.encoder import EncoderError, TitleEncoder, read_metadata
from recsys.recall.encoder_training import train_encoder
from recsys.settings import get_settings

DEMO_MARKET = MarketConfig(n_jobs=20_000, n_seekers=8_000, days=6, seed=42, start=date(2026, 1, 5))
#: day 0 serves coarse-only; the ranker trained on days < SERVE_FROM serves from then on;
#: the last day is held out for the offline evaluation.
SERVE_FROM = 1


def _encoder(taxonomy: Taxonomy, folder: Path) -> TitleEncoder:
    """Fine-tune within the settings' budget, or reuse a folder trained with the same budget."""
    budget = get_settings().encoder_budget_steps
    try:
        meta = read_metadata(folder)
        if meta["training"]["budget_steps"] == budget and meta.get("evaluation"):
            console.print(f"reusing the encoder in {folder} ({budget} steps); delete it to retrain")
            return TitleEncoder.load(folder)
    except (EncoderError, KeyError):
        pass
    t0 = time.perf_counter()
    with console.status(f"fine-tuning the encoder ({budget} steps on CPU)") as status:
        train_encoder(
            taxonomy,
            folder,
            on_step=lambda step, total, loss: status.update(
                f"fine-tuning the encoder: step {step}/{total}, loss {loss:.3f}"
            ),
        )
    console.print(f"encoder trained and evaluated in {time.perf_counter() - t0:.0f} s -> {folder}")
    return TitleEncoder.load(folder)


def _print_retrieval(folder: Path) -> None:
    evaluation = read_metadata(folder)["evaluation"]
    rows = [[r[k] for k in SUMMARY_KEYS] for r in evaluation["results"]]
    console.print(table("retrieval on held-out O*NET titles", SUMMARY_KEYS, rows))


def _closed_loop(market: Market, folder: Path, encoder: TitleEncoder) -> Path:
    """Day 0 coarse-only, train, serve the remaining days with the model, retrain before the
    held-out last day."""
    start, days = market.config.start, market.config.days
    t0 = time.perf_counter()
    rec = build_recommender(market.jobs, market.taxonomy, encoder)
    console.print(
        f"index over {len(market.jobs):,} jobs ({rec.stage('recall').index.kind}) "  # type: ignore[attr-defined]
        f"and the catalog built in {time.perf_counter() - t0:.1f} s"
    )
    phases = [(range(0, SERVE_FROM), None), (range(SERVE_FROM, days - 1), SERVE_FROM - 1)]
    phases.append((range(days - 1, days), days - 2))
    ranker_dir = folder / "ranker"
    for served, trained_until in phases:
        if trained_until is not None:
            until = start + timedelta(days=trained_until)
            t1 = time.perf_counter()
            report = train_rankers(folder / "events", folder / "features", until, ranker_dir)
            best = report["selected"]
            console.print(
                f"ranker trained on days <= {until} ({report['train_rows']:,} rows, "
                f"{report['train_applies']:,} applies) in {time.perf_counter() - t1:.0f} s: "
                + ", ".join(
                    f"{k} val nDCG@10 {m['ndcg@10']:.3f}" for k, m in report["models"].items()
                )
                + f"; serving {best}"
            )
            rec.stage("fine").model = load_selected(ranker_dir)[1]  # type: ignore[attr-defined]
        t1 = time.perf_counter()
        totals = run_closed_loop(market, folder, rec, served)
        mode = "coarse-only" if trained_until is None else "fine ranker"
        console.print(
            f"days {served.start}-{served.stop - 1} served {mode}: "
            f"{totals['requests']:,} requests, {totals['apply']:,} applies "
            f"in {time.perf_counter() - t1:.0f} s"
        )
    return ranker_dir


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

    console.rule("2. a simulated market")
    folder = root / "market"
    shutil.rmtree(folder, ignore_errors=True)
    taxonomy = load_taxonomy(settings.data_dir)
    market = generate_market(DEMO_MARKET, taxonomy, settings.data_dir)
    market.save(folder)
    console.print(
        f"{DEMO_MARKET.n_jobs:,} jobs, {DEMO_MARKET.n_seekers:,} seekers, {DEMO_MARKET.days} days"
    )

    console.rule("3. the title encoder, fine-tuned on O*NET")
    encoder_dir = root / "encoder"
    encoder = _encoder(taxonomy, encoder_dir)
    _print_retrieval(encoder_dir)

    console.rule("4. the closed loop: serve, log, train, serve")
    ranker_dir = _closed_loop(market, folder, encoder)
    summary = market_summary(market, folder)
    console.print(
        kv_table(
            "traffic",
            {
                k: summary[k]
                for k in ("requests", "impressions", "clicks", "applies", "applies per impression")
            },
        )
    )

    console.rule("5. offline ranking evaluation on the held-out last day")
    frame = evaluate_market_day(folder, DEMO_MARKET.days - 1, ranker_dir, str(encoder_dir))
    print_ranking_table(frame, f"day {DEMO_MARKET.days - 1}")
    out = root / "ranking_evaluation.json"
    out.write_text(json.dumps(json.loads(frame.to_json(orient="index")), indent=2) + "\n")
    console.print(f"saved {out}")

    console.rule("6. one request, explained")
    rec = build_recommender(market.jobs, taxonomy, encoder, ranker=load_selected(ranker_dir)[1])
    ctx = profile_request(
        "react developer",
        "Austin, TX",
        ["JavaScript", "React"],
        k=5,
        now=market.start + (DEMO_MARKET.days * 86_400),
    )
    result = rec.recommend(ctx)
    jobs = rec.catalog.jobs
    console.print(
        table(
            "react developer near Austin, TX",
            ["title", "company", "where", "why"],
            [
                [
                    jobs["title"].iat[r],
                    jobs["company"].iat[r],
                    "remote"
                    if jobs["remote"].iat[r]
                    else f"{jobs['city'].iat[r]}, {jobs['state'].iat[r]}",
                    "; ".join(why),
                ]
                for r, why in zip(result.items.rows.tolist(), result.reasons)
            ],
        )
    )
    console.print(
        kv_table("stage timings (ms)", {k: round(v, 2) for k, v in ctx.timings_ms.items()})
    )

    console.rule("7. the service: `recsys serve`, real requests and events over HTTP")
    demo_api.run(folder, ranker_dir, encoder_dir, root / "service")
    console.print("[green]demo finished[/green]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
