"""`recsys catalog import` and `recsys users import`: a board's own files into the catalog DB."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import typer

from recsys.cli.console import console, kv_table

app = typer.Typer(help="Postings in the catalog database.", no_args_is_help=True)
users_app = typer.Typer(help="Seeker profiles in the catalog database.", no_args_is_help=True)

MAP_HELP = (
    "FIELD=COLUMN pairs, comma-separated (fields: external_id, title, company, employer_id, "
    "location or city/state/country, lat, lon, remote, seniority, job_zone, skills, salary_min, "
    "salary_max, employer_rating, posted_at, expires_at, status); unnamed fields read the "
    "column of their own name"
)


def _show(summary: object, json_out: Path | None, what: str) -> None:
    from recsys.ingest.runner import ImportSummary

    assert isinstance(summary, ImportSummary)
    values = summary.as_dict()
    first = values.pop("first_rejects")
    console.print(kv_table(f"{what} import", values))
    for line in first:
        console.print(f"  rejected {line}")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(summary.as_dict(), indent=2))


@contextmanager
def _clean_errors() -> Iterator[None]:
    """A wrong mapping, file or format: one red line and exit code 2, not a traceback."""
    try:
        yield
    except (ValueError, FileNotFoundError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def _rejects_path(file: Path, rejects: Path | None) -> Path:
    from recsys.settings import get_settings

    name = file.name.split(".")[0]
    return rejects or get_settings().artifacts_dir / "imports" / f"{name}.rejects.csv"


@app.command("import")
def import_postings(
    file: Path = typer.Argument(..., help="a .csv, .parquet or .jsonl file (optionally .gz)"),
    map_: str | None = typer.Option(None, "--map", help=MAP_HELP),
    preset: str | None = typer.Option(None, "--preset", help="a known dump: linkedin-2023"),
    source: str | None = typer.Option(None, help="the feed's name (default: the file's stem)"),
    close_missing: bool = typer.Option(
        False, "--close-missing", help="close this source's open postings the file lacks"
    ),
    posted_at: datetime | None = typer.Option(
        None,
        "--posted-at",
        help="when new postings without a posting time were posted "
        "(default: now); a feed that has no dates, replayed into a simulation that starts earlier",
    ),
    rejects: Path | None = typer.Option(None, help="where bad rows go (CSV)"),
    json_out: Path | None = typer.Option(None, "--json", help="also write the summary here"),
) -> None:
    """Upsert postings by their external id; bad rows go to the rejects file."""
    from recsys.catalog_db import CatalogStore
    from recsys.cli.console import progress
    from recsys.ingest.mapping import mapping_for
    from recsys.ingest.runner import import_postings as run
    from recsys.settings import get_settings

    settings = get_settings()
    store = CatalogStore.open(settings.catalog_url, open_days=settings.posting_open_days)
    try:
        mapping = mapping_for(preset, map_)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    with progress() as bar, _clean_errors():
        task = bar.add_task(f"importing {file.name}", total=None)
        summary = run(
            store,
            file,
            mapping,
            source=source or file.name.split(".")[0],
            now=datetime.now(UTC).replace(tzinfo=None),
            rejects_path=_rejects_path(file, rejects),
            close_missing=close_missing,
            posted_at=posted_at,
            progress=lambda n: bar.advance(task, n),
        )
    _show(summary, json_out, "catalog")


@users_app.command("import")
def import_users(
    file: Path = typer.Argument(..., help="a .csv, .parquet or .jsonl file (optionally .gz)"),
    map_: str | None = typer.Option(
        None,
        "--map",
        help="FIELD=COLUMN pairs (fields: user_id, title, skills, location, lat, lon, "
        "seniority, wants_remote, relocate, discoverable)",
    ),
    source: str | None = typer.Option(None, help="the feed's name (default: the file's stem)"),
    rejects: Path | None = typer.Option(None, help="where bad rows go (CSV)"),
    json_out: Path | None = typer.Option(None, "--json", help="also write the summary here"),
) -> None:
    """Upsert seeker profiles by user id; bad rows go to the rejects file."""
    from recsys.catalog_db import CatalogStore
    from recsys.cli.console import progress
    from recsys.ingest.mapping import mapping_for
    from recsys.ingest.runner import import_seekers as run
    from recsys.settings import get_settings

    store = CatalogStore.open(get_settings().catalog_url)
    with progress() as bar, _clean_errors():
        task = bar.add_task(f"importing {file.name}", total=None)
        summary = run(
            store,
            file,
            mapping_for(None, map_),
            source=source or file.name.split(".")[0],
            now=datetime.now(UTC).replace(tzinfo=None),
            rejects_path=_rejects_path(file, rejects),
            progress=lambda n: bar.advance(task, n),
        )
    _show(summary, json_out, "users")
