"""`recsys experiments show|sensitivity`: online experiments from the logs, and their power."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from recsys.cli.console import console, table

app = typer.Typer(help="Online experiments (team-draft interleaving).", no_args_is_help=True)


@app.command()
def show(
    events: Path = typer.Option(..., "--events", help="the event log folder (events/)"),
    log: Path | None = typer.Option(
        None, "--log", help="the experiment log (default: experiments/ next to events/)"
    ),
    json_out: Path | None = typer.Option(None, "--json", help="write the outcomes as JSON"),
) -> None:
    """Per experiment: requests, wins of champion and challenger, ties, p-value, the winner."""
    from feature_store.events import read_events
    from recsys.experiments.log import experiment_outcomes, read_teams
    from recsys.settings import get_settings

    log = log or events.parent / "experiments"
    teams = read_teams(log)
    if teams.empty:
        raise typer.BadParameter(f"no experiment log under {log}", param_hint="--log")
    results = experiment_outcomes(teams, read_events(events), get_settings().experiment_alpha)
    cols = ["champion_wins", "challenger_wins", "ties", "p_value", "winner"]
    rows = [[name, n, *(o.as_dict()[c] for c in cols)] for name, (o, n) in results.items()]
    console.print(table("experiments", ["experiment", "requests", *cols], rows))
    if json_out is not None:
        payload = {name: {"requests": n, **o.as_dict()} for name, (o, n) in results.items()}
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(payload, indent=2) + "\n")
        console.print(f"wrote {json_out}")
