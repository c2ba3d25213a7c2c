"""`recsys ranker train`: the apply-rate rankers from logged feature rows and labels."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer

from recsys.cli.console import console, table

app = typer.Typer(help="The fine-stage apply-rate ranker.", no_args_is_help=True)


@app.command()
def train(
    events: Path = typer.Option(..., "--events", help="event partitions (a market's events/)"),
    until: str = typer.Option(..., "--until", help="last day to train on (YYYY-MM-DD)"),
    out: Path = typer.Option(..., "--out", help="folder for the models and selection.json"),
    features: Path | None = typer.Option(
        None, "--features", help="served feature rows (default: features/ beside --events)"
    ),
    objective: str = typer.Option("binary", "--objective", help="binary or lambdarank"),
    position: str = typer.Option(
        "feature",
        "--position",
        help="'feature': slot as a feature held at 0 when serving; 'ignore'",
    ),
    trees: int = typer.Option(300, "--trees", min=10, help="boosting rounds"),
) -> None:
    """Train LightGBM and XGBoost on rows served up to --until; the better one serves."""
    from recsys.ranking.train import RankerTrainingConfig, train_rankers

    if objective not in ("binary", "lambdarank"):
        raise typer.BadParameter("binary or lambdarank", param_hint="--objective")
    if position not in ("feature", "ignore"):
        raise typer.BadParameter("feature or ignore", param_hint="--position")
    try:
        day = date.fromisoformat(until)
    except ValueError:
        raise typer.BadParameter(f"{until!r} is not YYYY-MM-DD", param_hint="--until") from None
    features = features or events.parent / "features"
    config = RankerTrainingConfig(objective=objective, n_estimators=trees, position=position)  # type: ignore[arg-type]
    with console.status("training LightGBM and XGBoost"):
        report = train_rankers(events, features, day, out, config)
    rows = [
        [kind, m["ndcg@10"], m["auc"], m["lists"], m["train_seconds"]]
        for kind, m in report["models"].items()
    ]
    console.print(
        table(
            f"validation on {report['valid_rows']:,} served rows "
            f"(trained on {report['train_rows']:,}, {report['train_applies']:,} applies)",
            ["model", "ndcg@10", "auc", "lists", "train s"],
            rows,
        )
    )
    console.print(f"serving: [bold]{report['selected']}[/bold] -> {out}")
