"""`recsys evaluate retrieval|ranking`: offline metrics as a table and, on request, JSON."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from recsys.cli.console import console, table

app = typer.Typer(help="Offline evaluation.", no_args_is_help=True)


def _builtin(name: str, model_specs: list[str]):  # noqa: ANN202 - RetrievalData, imported lazily
    """A built-in benchmark; `onet` uses the held-out split the first trained model recorded."""
    from recsys.data.taxonomy import load_taxonomy
    from recsys.recall import title_benchmarks as tb
    from recsys.recall.encoder import read_metadata
    from recsys.recall.title_split import split_titles
    from recsys.settings import get_settings

    settings = get_settings()
    taxonomy = load_taxonomy(settings.data_dir)
    if name == "esco":
        return tb.esco_benchmark(settings.data_dir, tb.onet_title_keys(taxonomy))
    if name == "linkedin":
        return tb.linkedin_benchmark(settings.data_dir)
    seed, fraction = settings.seed, settings.encoder_heldout_fraction
    for spec in model_specs:
        if Path(spec).is_dir():
            recorded = read_metadata(Path(spec)).get("split") or {}
            seed = int(recorded.get("seed", seed))
            fraction = float(recorded.get("heldout_fraction", fraction))
            break
    split = split_titles(taxonomy, seed=seed, heldout_fraction=fraction)
    return tb.onet_benchmark(taxonomy, split, seed=seed)


@app.command()
def retrieval(
    model: list[str] = typer.Option(
        ..., "--model", help="'base', 'tfidf' or an encoder folder; repeat to compare"
    ),
    queries: Path | None = typer.Option(None, "--queries", help="TSV q_id<TAB>jobtitle"),
    corpus: Path | None = typer.Option(None, "--corpus", help="TSV c_id<TAB>jobtitle"),
    qrels: Path | None = typer.Option(None, "--qrels", help="TREC qrels: q_id 0 c_id relevance"),
    benchmark: str | None = typer.Option(
        None, "--benchmark", help="built-in instead of files: onet, esco or linkedin"
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
    from recsys.recall.title_benchmarks import BUILTIN

    if benchmark is not None:
        if benchmark not in BUILTIN:
            raise typer.BadParameter(
                f"choose one of {', '.join(BUILTIN)}", param_hint="--benchmark"
            )
        data = _builtin(benchmark, model)
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
) -> None:
    """Popularity, coarse-only, LightGBM, XGBoost and the oracle on a later day's requests."""
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


def print_ranking_table(frame, title: str) -> None:  # noqa: ANN001 - a pandas DataFrame
    """Metrics per policy, oracle ratios included (shared with the demo)."""
    cols = ["ndcg@10", "ndcg@10 / oracle", "mrr", "auc", "apply_rate@10", "apply_rate@10 / oracle"]
    cols = [c for c in cols if c in frame.columns]
    console.print(
        table(
            f"{title} ({int(frame['requests'].iloc[0])} requests)",
            ["policy", *cols],
            [[name, *(float(frame.loc[name, c]) for c in cols)] for name in frame.index],
        )
    )
