"""`make demo`: the main job end to end on the embedded defaults.

Each step is a library call; the demo only chains them and prints what they return:
data check -> simulated market -> encoder fine-tuning (within its budget) and retrieval metrics ->
job index -> closed loop (day 0 coarse-only, then a first ranker) -> the lifecycle: the encoder
registered, a retrain (the steps of `RETRAIN_STEPS`), the champion serving the next day ->
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
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from recsys import demo_api
from recsys.catalog_db import CatalogStore
from recsys.cli import models_cmd
from recsys.cli.console import console, kv_table, table
from recsys.cli.evaluate_cmd import print_ranking_table
from recsys.core.profiles import profile_request
from recsys.data.check import check_data
from recsys.data.linkedin import LINKEDIN_DIR
from recsys.data.taxonomy import Taxonomy, load_taxonomy
from recsys.ingest.mapping import mapping_for
from recsys.ingest.runner import import_postings
from recsys.lifecycle.encoder_release import register_encoder
from recsys.lifecycle.retrain import retrain
from recsys.market.config import MarketConfig
from recsys.market.market import Market
from recsys.market.over_catalog import market_over_catalog
from recsys.market.publish import publish_seekers
from recsys.market.summary import market_summary
from recsys.offline.closed_loop import run_closed_loop
from recsys.offline.market_service import evaluate_market_day
from recsys.pipeline.build import build_recommender, catalog_digest
from recsys.pipeline.recommender import Recommender
from recsys.ranking.train import load_selected, train_rankers
from recsys.recall.encoder import EncoderError, TitleEncoder, read_metadata
from recsys.recall.encoder_training import train_encoder
from recsys.recall.occupations import OccupationIndex
from recsys.recall.retrieval_evaluation import SUMMARY_KEYS
from recsys.registry.mlflow_registry import ModelRegistry
from recsys.service.catalog_source import load_rows
from recsys.service.champion import load_champion
from recsys.settings import get_settings

#: the simulated days end yesterday, so the service (on the wall clock) serves what follows them
DEMO_DAYS = 6
DEMO_MARKET = MarketConfig(
    n_jobs=0,  # the imported catalog decides
    n_seekers=8_000,
    days=DEMO_DAYS,
    seed=42,
    start=datetime.now(UTC).date() - timedelta(days=DEMO_DAYS),
)
#: day 0 serves coarse-only; the ranker trained on days < SERVE_FROM serves from then on;
#: the last day is held out for the offline evaluation.
SERVE_FROM = 1


def _encoder(taxonomy: Taxonomy, folder: Path) -> TitleEncoder:
    """Fine-tune within the settings' time budget, or reuse a folder trained with the same one.

    A minutes budget, not steps: the demo's fine-tune takes the same wall time on a slow box.
    """
    minutes = get_settings().encoder_demo_minutes
    try:
        meta = read_metadata(folder)
        if meta["training"]["budget_minutes"] == minutes and meta.get("evaluation"):
            console.print(f"reusing the encoder in {folder} ({minutes} min); delete it to retrain")
            return TitleEncoder.load(folder)
    except (EncoderError, KeyError):
        pass
    t0 = time.perf_counter()
    with console.status(f"fine-tuning the encoder ({minutes} min on CPU)") as status:
        train_encoder(
            taxonomy,
            folder,
            budget_minutes=minutes,
            on_step=lambda step, total, loss: status.update(
                f"fine-tuning the encoder: step {step}, loss {loss:.3f}"
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


def _first_ranker(market: Market, folder: Path, rec: Recommender) -> Recommender:
    """Day 0 coarse-only, then a first ranker trained on it serves the following days (the
    pipeline returned)."""
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
    return rec.with_ranker(load_selected(folder / "ranker")[1])


def _retrain(market: Market, day_index: int) -> dict[str, object]:
    """`recsys retrain` for one day of the market; prints the gate's decision."""
    day = market.config.start + timedelta(days=day_index)
    summary = retrain(day)
    seconds = summary["seconds"]
    console.print(f"retrain {day}: " + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()))
    console.print(f"[bold]{summary['message']}[/bold]")
    return summary


def _champion(rec: Recommender) -> tuple[Recommender, str]:
    """The pipeline with the registry's champion as its ranker, and the champion's label."""
    champion = load_champion(ModelRegistry.from_settings(get_settings()))
    if champion is None:
        raise RuntimeError("the registry has no champion after the first retrain")
    return rec.with_ranker(champion.model), champion.label


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


def _market_over_linkedin(
    taxonomy: Taxonomy, encoder: TitleEncoder, folder: Path
) -> tuple[Market, tuple[np.ndarray, np.ndarray]]:
    """`recsys db upgrade`, `recsys catalog import --preset linkedin-2023`, the postings coded
    to occupations (stored in the catalog DB), and a simulated market over the open ones whose
    seekers are stored as profiles; returns the market and the postings' derived data."""
    settings = get_settings()
    store = CatalogStore.open(settings.catalog_url, migrate=True)
    dump = settings.data_dir / LINKEDIN_DIR / "job_postings.csv"
    summary = import_postings(
        store,
        dump,
        mapping_for("linkedin-2023", None),
        source="linkedin-2023",
        now=datetime.now(UTC).replace(tzinfo=None),
        posted_at=datetime.combine(DEMO_MARKET.start - timedelta(days=1), datetime.min.time()),
        rejects_path=settings.artifacts_dir / "imports" / "linkedin-2023.rejects.csv",
    )
    values = summary.as_dict()
    values.pop("first_rejects")
    console.print(kv_table("recsys catalog import --preset linkedin-2023", values))
    t0 = time.perf_counter()
    occupations = OccupationIndex.load_or_build(encoder, taxonomy, settings.artifacts_dir)
    with console.status(f"coding {store.postings.count('open'):,} postings to occupations"):
        rows = load_rows(store, encoder, occupations, taxonomy)
    console.print(f"postings embedded and coded in {time.perf_counter() - t0:.0f} s")
    is_open = (rows.jobs["expires_at"] > pd.Timestamp(DEMO_MARKET.start)).to_numpy()
    jobs = rows.jobs[is_open].reset_index(drop=True)
    config = replace(DEMO_MARKET, n_jobs=len(jobs))
    market = market_over_catalog(
        config, taxonomy, settings.data_dir, jobs, rows.occupation[is_open]
    )
    market.save(folder)
    publish_seekers(store, market.seekers, datetime.now(UTC).replace(tzinfo=None))
    store.close()
    console.print(
        f"{len(jobs):,} real postings, {config.n_seekers:,} simulated seekers (stored as "
        f"profiles), {config.days} days from {config.start}"
    )
    return market, (rows.embeddings[is_open], rows.occupation[is_open])


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

    console.rule("2. the title encoder, fine-tuned on O*NET")
    taxonomy = load_taxonomy(settings.data_dir)
    encoder_dir = root / "encoder"
    encoder = _encoder(taxonomy, encoder_dir)
    _print_retrieval(encoder_dir)

    console.rule("3. the catalog: real LinkedIn postings imported, simulated seekers over them")
    folder = root / "market"
    shutil.rmtree(folder, ignore_errors=True)
    market, derived = _market_over_linkedin(taxonomy, encoder, folder)

    console.rule("4. the closed loop: serve, log, train, serve")
    t0 = time.perf_counter()
    rec = build_recommender(market.jobs, market.taxonomy, encoder, derived=derived)
    console.print(
        f"index over {len(market.jobs):,} jobs ({rec.index.kind}) "
        f"and the catalog built in {time.perf_counter() - t0:.1f} s"
    )
    rec = _first_ranker(market, folder, rec)
    last = DEMO_MARKET.days - 1
    _serve(rec, market, folder, range(SERVE_FROM, last), "by the first ranker")

    console.rule("5. the model lifecycle: retrain, register, promote")
    _reset_registry()
    index_dir = settings.artifacts_dir / "catalog_cache" / _index_key(rec, market) / "index"
    rec.index.save(index_dir)
    encoder_release = register_encoder(encoder_dir, index_dir=index_dir)
    console.print(
        f"title encoder version {encoder_release['version']}: {encoder_release['reason']}"
    )
    _retrain(market, last - 1)
    rec, label = _champion(rec)
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
    rec, label = _champion(rec)

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
