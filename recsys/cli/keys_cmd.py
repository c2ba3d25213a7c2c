"""`recsys keys create|revoke|list`: employer API keys in the catalog database.

A key is printed once, alone on the last line of `create` (so `| tail -1` captures it); the
database keeps only its hash.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import typer

from recsys.cli.console import console, kv_table, table

if TYPE_CHECKING:
    from recsys.catalog_db import CatalogStore

app = typer.Typer(
    help="Employer API keys (X-API-Key) in the catalog database (RECSYS_DATABASE_URL).",
    no_args_is_help=True,
)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _store() -> CatalogStore:
    """The migrated catalog database of the settings (CatalogNotMigratedError says the fix)."""
    from recsys.catalog_db import CatalogStore
    from recsys.settings import get_settings

    return CatalogStore.open(get_settings().catalog_url)


@app.command()
def create(
    employer: str = typer.Option(..., "--employer", help="the employer id the key acts for"),
    label: str = typer.Option("", "--label", help="a note to tell keys apart"),
) -> None:
    """Make a key for an employer's postings; the last line printed is the key itself."""
    store = _store()
    try:
        made = store.keys.create(employer, _now(), label=label)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--employer") from None
    finally:
        store.close()
    console.print(kv_table("employer key", {"key id": made.key_id, "employer": employer}))
    console.print("shown once, stored hashed; revoke with `recsys keys revoke KEY_ID`:")
    typer.echo(made.key)


@app.command()
def revoke(key_id: str = typer.Argument(..., help="the key id `create` and `list` show")) -> None:
    """End a key: the API refuses it within RECSYS_API_KEY_CACHE_S seconds."""
    store = _store()
    try:
        live = store.keys.revoke(key_id, _now())
        known = key_id in set(store.keys.frame()["key_id"])
    finally:
        store.close()
    if not known:
        console.print(f"no key with id {key_id!r}; `recsys keys list` shows them")
        raise typer.Exit(1)
    console.print(f"key {key_id} revoked" if live else f"key {key_id} was revoked already")


@app.command("list")
def list_keys(
    employer: str | None = typer.Option(None, "--employer", help="only this employer's keys"),
) -> None:
    """Every key (never the secret): id, employer, label, created, revoked."""
    store = _store()
    try:
        keys = store.keys.frame(employer)
    finally:
        store.close()
    revoked = keys["revoked_at"].astype(object).where(keys["revoked_at"].notna(), "")
    rows = zip(keys["key_id"], keys["employer_id"], keys["label"], keys["created_at"], revoked)
    console.print(
        table("employer keys", ["key id", "employer", "label", "created", "revoked"], rows)
    )
