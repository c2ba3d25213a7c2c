"""`recsys retrain --date D`: the daily retrain's steps without Airflow, in the DAG's order."""

from __future__ import annotations

import typer

from recsys.cli.console import console, kv_table


def retrain(
    day: str = typer.Option(..., "--date", help="the logical date to retrain on (YYYY-MM-DD)"),
) -> None:
    """Extract, build the training set, train both rankers, evaluate against the champion,
    register, promote or keep (with the reason), rebuild the index if needed, notify."""
    from recsys.lifecycle.retrain import retrain as run_retrain

    with console.status(f"retraining on {day}"):
        summary = run_retrain(day)
    console.print(summary["message"])
    console.print(kv_table("step seconds", summary["seconds"]))
