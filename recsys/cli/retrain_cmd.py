"""`recsys retrain --date D`: the daily retrain's steps without Airflow, in the DAG's order."""

from __future__ import annotations

import typer

from recsys.cli.console import console, kv_table
from recsys.lifecycle.retrain_steps import describe_steps


def retrain(
    day: str = typer.Option(..., "--date", help="the logical date to retrain on (YYYY-MM-DD)"),
) -> None:
    from recsys.lifecycle.retrain import retrain as run_retrain

    with console.status(f"retraining on {day}"):
        summary = run_retrain(day)
    console.print(summary["message"])
    console.print(kv_table("step seconds", summary["seconds"]))


retrain.__doc__ = f"""Run the daily retrain's steps for one date, in order:

{describe_steps()}"""
