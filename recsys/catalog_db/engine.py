"""Engines for the catalog database, and the migration check a service runs before it serves.

The URL is `RECSYS_DATABASE_URL` (`postgresql+psycopg://user@host/db`, or `sqlite:///file`).
SQLite runs in WAL mode with a busy timeout, so several processes can share one file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event

MIGRATIONS = Path(__file__).with_name("migrations")


class CatalogNotMigratedError(RuntimeError):
    """The database schema is missing or older than this code."""


def open_engine(url: str) -> Engine:
    """An engine for `url`; SQLite files get their folder, WAL and a 30 s busy timeout."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> str:
    """Migrate the database to `revision`; returns the revision it is at afterwards."""
    command.upgrade(alembic_config(engine), revision)
    return current_revision(engine) or ""


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config(create_engine("sqlite://")))
    head = script.get_current_head()
    assert head is not None
    return head


def check_migrated(engine: Engine) -> None:
    """Raise CatalogNotMigratedError, saying how to fix it, unless the schema is at head."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        where = engine.url.render_as_string(hide_password=True)
        state = "has no catalog schema" if current is None else f"is at revision {current}"
        raise CatalogNotMigratedError(
            f"the catalog database {where} {state}, this code needs {head}: "
            "run `recsys db upgrade` (with the same RECSYS_DATABASE_URL)"
        )
