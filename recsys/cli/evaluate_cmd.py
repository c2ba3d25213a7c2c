"""`recsys evaluate retrieval|ranking`: offline metrics as a table and, on request, JSON."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from recsys.cli.console import console, table

app = typer.Typer(help="Offline evaluation.", no_args_is_help=True)


@app.command()
def retrieval(
    model: list[str] = typer.Option(
        ..., "--model", help="'base', 'tfidf' or an encoder folder; repeat to compare"
    ),
    queries: Path | None = typer.Option(None, "--queries", help="TSV q_id<TAB>jobtitle"),
    corpus: Path | None = typer.Option(None, "--corpus", help="TSV c_id<TAB>jobtitle"),
    qrels: Path | None = typer.Option(None, "--qrels", help="TREC qrels: q_id 0 c_id relevance"),
    benchmark: str | None = typer.Option(
        None, "--benchmark", help="built-in instead of files: onet, esco, soc or linkedin"
    ),
    threshold: int = typer.Option(1, "--threshold", min=1, help="grade that counts as relevant"),
    json_out: Path | None = typer.Option(None, "--json", help="write one object per model"),
) -> None:
    """Title retrieval: MAP, MRR, nDCG@10, Recall@10/100, models side by side, paired tests."""
    from recsys.recall.retrieval_evaluation import (
        SUMMARY_KEYS,
        compare_to_baseline,
        evaluate_retrieval,
        load_retrieval_data,
    )
    from recsys.recall.title_benchmarks import BUILTIN, builtin_benchmark

    if benchmark is not None:
        if benchmark not in BUILTIN:
            raise typer.BadParameter(
                f"choose one of {', '.join(BUILTIN)}", param_hint="--benchmark"
            )
        data = builtin_benchmark(benchmark, model)
    else:
        missing = [
            n
            for n, v in (("--queries", queries), ("--corpus", corpus), ("--qrels", qrels))
            if v is None
        ]
        if missing:
            raise typer.BadParameter(f"give {', '.join(missing)} (or --benchmark)")
        assert queries and corpus and qrels
        data = load_retrieval_data(queries, corpus, qrels, relevance_threshold=threshold)
    with console.status("evaluating") as status:
        results = evaluate_retrieval(
            data, model, on_progress=lambda spec, step: status.update(f"{spec}: {step}")
        )
    summaries = [r.summary() for r in results]
    console.print(
        table(
            f"{data.name}: {len(data.queries)} queries, {len(data.corpus)} titles",
            SUMMARY_KEYS,
            [[s[k] for k in SUMMARY_KEYS] for s in summaries],
        )
    )
    for c in compare_to_baseline(results):
        console.print(
            f"{c['model']} vs {c['baseline']}: {c['metric']} {c['mean_difference']:+.4f}, "
            f"paired randomization p={c['p_randomization']:.2g}, t-test p={c['p_ttest']:.2g}"
        )
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(summaries, indent=2) + "\n")
        console.print(f"wrote {json_out}")


@app.command()
def ranking(
    events: Path = typer.Option(..., "--events", help="the market's events/ folder"),
    day: str = typer.Option(
        ..., "--day", help="held-out day: YYYY-MM-DD or its index in the market"
    ),
    ranker: Path | None = typer.Option(None, "--ranker", help="folder from `recsys ranker train`"),
    encoder: str | None = typer.Option(None, "--encoder", help="'base' or an encoder folder"),
    requests: int = typer.Option(400, "--requests", min=10, help="requests sampled from the day"),
    json_out: Path | None = typer.Option(None, "--json", help="write the table as JSON"),
    employer: bool = typer.Option(
        True, "--employer/--no-employer", help="also the employer side (candidates for postings)"
    ),
    postings: int = typer.Option(200, "--postings", min=10, help="postings sampled from the day"),
) -> None:
    """Popularity, coarse-only, LightGBM, XGBoost and the oracle on a later day's requests; and
    the employer side: the candidate ranker against the oracle over each posting's discoverable
    pool, next to the baseline (title similarity plus distance)."""
    from datetime import date

    from recsys.offline.market_service import evaluate_market_day

    which: int | date = int(day) if day.isdigit() else date.fromisoformat(day)
    with console.status("evaluating"):
        frame = evaluate_market_day(events.parent, which, ranker, encoder, requests)
    print_ranking_table(frame, f"ranking on day {day}")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(frame.to_json(orient="index", indent=2) + "\n")
        console.print(f"wrote {json_out}")
    if employer:
        _employer_rows(events.parent, which, encoder, postings, json_out)


def _employer_rows(
    folder: Path, which: object, encoder: str | None, postings: int, json_out: Path | None
) -> None:
    """The employer side's table (and `<json stem>.employer.json`)."""
    from recsys.data.taxonomy import load_taxonomy
    from recsys.lifecycle.candidate_training import employer_side_evaluation
    from recsys.market.market import Market
    from recsys.recall.encoder import TitleEncoder
    from recsys.settings import get_settings

    settings = get_settings()
    market = Market.load(folder, load_taxonomy(settings.data_dir))
    index = which if isinstance(which, int) else (which - market.config.start).days  # type: ignore[operator]
    with console.status("evaluating the employer side"):
        frame, stats = employer_side_evaluation(
            market,
            folder,
            int(index),
            TitleEncoder.load(encoder or settings.encoder_model),
            settings.artifacts_dir,
            postings,
            settings.seed,
        )
    cols = ["ndcg@10", "/ oracle", "baseline ndcg@10", "vs baseline", "/ oracle drawn"]
    first = frame.iloc[0]
    console.print(
        table(
            f"employer side on day {index}: {int(first['postings'])} postings x "
            f"{int(first['seekers'])} discoverable seekers (trained on {stats['rows']} "
            f"impressions, {stats['positive answers']} positive answers)",
            ["policy", *cols],
            [[name, *(float(frame.loc[name, c]) for c in cols)] for name in frame.index],
        )
    )
    if json_out is not None:
        out = json_out.with_name(json_out.stem + ".employer.json")
        out.write_text(frame.to_json(orient="index", indent=2) + "\n")
        console.print(f"wrote {out}")


def print_ranking_table(frame, title: str) -> None:  # noqa: ANN001 - a pandas DataFrame
    """Metrics per policy, oracle ratios included (shared with the demo)."""
    cols = ["ndcg@10", "ndcg@10 / oracle", "mrr", "auc", "apply_rate@10", "apply_rate@10 / oracle"]
    cols += ["top50 after recall", "top50 after coarse", "top50 kept"]  # of the oracle's top 50
    cols = [c for c in cols if c in frame.columns]
    console.print(
        table(
            f"{title} ({int(frame['requests'].iloc[0])} requests)",
            ["policy", *cols],
            [[name, *(float(frame.loc[name, c]) for c in cols)] for name in frame.index],
        )
    )


@app.command()
def marketplace(
    days: int = typer.Option(14, "--days", min=8, help="days of the closed loop"),
    json_out: Path | None = typer.Option(None, "--json", help="write the metrics per policy"),
    jobs: int = typer.Option(1_200, "--jobs", min=200, help="jobs in the generated market"),
    seekers: int = typer.Option(600, "--seekers", min=100, help="seekers in the market"),
    seed: int = typer.Option(7, "--seed", help="the market's seed"),
    strength: float = typer.Option(
        0.5, "--strength", min=0.0, help="largest balance shift, in list score SDs"
    ),
    max_factor: float = typer.Option(
        3.0, "--max-factor", min=1.01, help="times short of need at full shift"
    ),
    out: Path | None = typer.Option(None, "--out", help="folder for the loops (default: temp)"),
) -> None:
    """The closed loop with and without the congestion-aware rerank: Gini of applies, share of
    jobs without an apply in 7 days, total applies, nDCG@10, recall source shares."""
    import tempfile

    from recsys.offline.marketplace import evaluate_marketplace

    folder = out or Path(tempfile.mkdtemp(prefix="marketplace-"))
    with console.status("running the closed loop") as status:
        results = evaluate_marketplace(
            folder,
            days,
            jobs,
            seekers,
            seed,
            strength,
            max_factor,
            progress=lambda name, day: status.update(f"{name}: day {day + 1}/{days}"),
        )
    cols = ["gini_applies", "zero_apply_share", "total_applies", "ndcg@10"]
    console.print(
        table(
            f"marketplace over {days} days ({jobs} jobs, {seekers} seekers, seed {seed})",
            ["policy", *cols],
            [[name, *(r[c] for c in cols)] for name, r in results.items()],
        )
    )
    shares = [c for c in next(iter(results.values())) if c.startswith("share_")]
    console.print(
        table(
            "recall source shares",
            ["policy", *shares],
            [[n, *(r[c] for c in shares)] for n, r in results.items()],
        )
    )
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(results, indent=2) + "\n")
        console.print(f"wrote {json_out}")
