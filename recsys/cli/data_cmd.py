"""`recsys data ...`: inspect the data folder."""

from __future__ import annotations

import typer

from recsys.cli.console import console, kv_table
from recsys.data.check import check_data
from recsys.settings import get_settings

app = typer.Typer(help="Inspect the data folder (RECSYS_DATA_DIR).", no_args_is_help=True)


@app.command("check")
def check() -> None:
    """Load O*NET, SOC and LinkedIn data; print counts; exit 1 on problems."""
    data_dir = get_settings().data_dir
    console.print(f"data dir: [bold]{data_dir}[/bold]")
    report, problems = check_data(data_dir)
    for source, counts in report.items():
        console.print(kv_table(source, counts))
    for p in problems:
        console.print(f"[red]problem:[/red] {p}")
    if problems:
        raise typer.Exit(1)
    console.print("[green]data ok[/green]")
