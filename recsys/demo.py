"""`make demo`: the main job end to end on the embedded defaults.

Each step is a library call; the demo only chains them and prints what they return:
data check -> simulated market -> encoder fine-tuning (within its budget) and retrieval metrics ->
job index -> closed loop (day 0 coarse-only, then a first ranker) -> the lifecycle: the encoder
registered, a retrain (train, evaluate, register, promote), the champion serving the next day ->
ranking evaluation on the held-out last day against the oracle -> a second retrain that promotes
or keeps, with the reason -> one explained recommendation -> the HTTP service started with the
champion and sent a handful of requests and events. The market and models land in
`artifacts/demo/`, the registry in `artifacts/mlflow.db` (root: RECSYS_ARTIFACTS_DIR).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from recsys import demo_api
from recsys.cli import models_cmd
from recsys.cli.console import console, kv_table, table
from recsys.cli.evaluate_cmd import print_ranking_table
from recsys.closed_loop import run_closed_loop
from recsys.data.check import check_data
from recsys.data.taxonomy import Taxonomy, load_taxonomy
from recsys.evaluation.retrieval import SUMMARY_KEYS
from recsys.lifecycle.encoder_release import register_encoder
from recsys.lifecycle.retrain import retrain
from recsys.market.config import MarketConfig
from recsys.market.market import Market, generate_market
from recsys.market.summary import market_summary
from recsys.pipeline.build import build_recommender, catalog_digest
from recsys.pipeline.recommender import Recommender
from recsys.pipeline.serving import evaluate_market_day, profile_request
from recsys.ranking.train import load_selected, train_rankers
from recsys.recall.encoder import EncoderError, TitleEncoder, read_metadata
from recsys.recall.encoder_training import train_encoder
from recsys.registry.mlflow_registry import ModelRegistry
from recsys.service.champion import load_champion
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


def _serve(rec: Recommender, market: Market, folder: Path, days: range, mode: str) -> None:
    t0 = time.perf_counter()
    totals = run_closed_loop(market, folder, rec, days)
    console.print(
        f"days {days.start}-{days.stop - 1} served {mode}: {totals['requests']:,} requests, "
        f"{totals['apply']:,} applies in {time.perf_counter() - t0:.0f} s"
    )


def _first_ranker(market: Market, folder: Path, rec: Recommender) -> None:
    """Day 0 coarse-only, then a first ranker trained on it serves the following days."""
    until = market.config.start + timedelta(days=SERVE_FROM - 1)
    _serve(rec, market, folder, range(0, SERVE_FROM), "coarse-only")
    t0 = time.perf_counter()
    report = train_rankers(folder / "events", folder / "features", until, folder / "ranker")
    console.print(
        f"ranker trained on days <= {until} ({report['train_rows']:,} rows, "
        f"{report['train_applies']:,} applies) in {time.perf_counter() - t0:.0f} s: "
        + ", ".join(f"{k} val nDCG@10 {m['ndcg@10']:.3f}" for k, m in report["models"].items())
        + f"; serving {report['selected']}"
    )
    rec.stage("fine").model = load_selected(folder / "ranker")[1]  # type: ignore[attr-defined]


def _retrain(market: Market, day_index: int) -> dict[str, object]:
    """`recsys retrain` for one day of the market; prints the gate's decision."""
    day = market.config.start + timedelta(days=day_index)
    summary = retrain(day)
    seconds = summary["seconds"]
    console.print(f"retrain {day}: " + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()))
    console.print(f"[bold]{summary['message']}[/bold]")
    return summary


def _champion(rec: Recommender) -> str:
    """Load the registry's champion into the pipeline; returns its label."""
    champion = load_champion(ModelRegistry.from_settings(get_settings()))
    if champion is None:
        raise RuntimeError("the registry has no champion after the first retrain")
    rec.stage("fine").model = champion.model  # type: ignore[attr-defined]
    return champion.label


def _reset_registry() -> None:
    """A fresh embedded registry and retrain folders, so the demo's first retrain has no
    champion from an earlier run (a configured MLflow server is left alone)."""
    s = get_settings()
    if s.mlflow_uri is not None:
        return
    (s.artifacts_dir / "mlflow.db").unlink(missing_ok=True)
    for folder in (s.mlflow_artifacts, s.retrain_root):
        shutil.rmtree(folder, ignore_errors=True)


def _index_key(rec: Recommender, market: Market) -> str:
    return f"{rec.encoder.fingerprint[:16]}-{catalog_digest(market.jobs)}"


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
    t0 = time.perf_counter()
    rec = build_recommender(market.jobs, market.taxonomy, encoder)
    console.print(
        f"index over {len(market.jobs):,} jobs ({rec.stage('recall').index.kind}) "  # type: ignore[attr-defined]
        f"and the catalog built in {time.perf_counter() - t0:.1f} s"
    )
    _first_ranker(market, folder, rec)
    last = DEMO_MARKET.days - 1
    _serve(rec, market, folder, range(SERVE_FROM, last), "by the first ranker")

    console.rule("5. the model lifecycle: retrain, register, promote")
    _reset_registry()
    encoder_release = register_encoder(
        encoder_dir, index_dir=settings.artifacts_dir / "catalog_cache" / _index_key(rec, market)
    )
    console.print(
        f"title encoder version {encoder_release['version']}: {encoder_release['reason']}"
    )
    _retrain(market, last - 1)
    label = _champion(rec)
    _serve(rec, market, folder, range(last, last + 1), f"by the champion ({label})")
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

    console.rule("6. offline ranking evaluation on the held-out last day")
    candidates = settings.retrain_root / (DEMO_MARKET.start + timedelta(days=last - 1)).isoformat()
    frame = evaluate_market_day(folder, last, candidates / "candidates", str(encoder_dir))
    print_ranking_table(frame, f"day {last}")
    out = root / "ranking_evaluation.json"
    out.write_text(json.dumps(json.loads(frame.to_json(orient="index")), indent=2) + "\n")
    console.print(f"saved {out}")

    console.rule("7. a second retrain: promote or keep")
    _retrain(market, last)
    models_cmd.list_models()
    label = _champion(rec)

    console.rule(f"8. one request, explained (champion {label})")
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

    console.rule("9. the service: `recsys serve` with the champion, real requests and events")
    demo_api.run(folder, folder / "ranker", encoder_dir, root / "service")
    console.print("[green]demo finished[/green]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
