"""`recsys db upgrade|status`: the catalog database's schema (Alembic migrations)."""

from __future__ import annotations

import typer

from recsys.cli.console import console, kv_table

app = typer.Typer(help="The catalog database (RECSYS_DATABASE_URL).", no_args_is_help=True)


@app.command()
def upgrade(revision: str = typer.Option("head", help="the revision to migrate to")) -> None:
    """Create or migrate the catalog schema; safe to run again."""
    from recsys.catalog_db.engine import open_engine
    from recsys.catalog_db.engine import upgrade as run_upgrade
    from recsys.settings import get_settings

    url = get_settings().catalog_url
    engine = open_engine(url)
    at = run_upgrade(engine, revision)
    console.print(kv_table("catalog database", {"url": engine.url.render_as_string(), "at": at}))


@app.command()
def status() -> None:
    """The schema revision, the head this code needs, and row counts."""
    from recsys.catalog_db import CatalogStore
    from recsys.catalog_db.engine import current_revision, head_revision, open_engine
    from recsys.settings import get_settings

    engine = open_engine(get_settings().catalog_url)
    current, head = current_revision(engine), head_revision()
    values: dict[str, object] = {
        "url": engine.url.render_as_string(),
        "revision": current or "none (run `recsys db upgrade`)",
        "head": head,
    }
    if current == head:
        store = CatalogStore(engine)
        values |= {
            "open postings": store.postings.count("open"),
            "closed postings": store.postings.count("closed"),
            "seekers": store.seekers.count(),
            "change sequence": store.postings.max_seq(),
        }
    console.print(kv_table("catalog database", values))
