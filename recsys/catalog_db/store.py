"""One catalog database: its engine, postings, seekers and keys, checked to be migrated."""

from __future__ import annotations

from sqlalchemy import Engine

from recsys.catalog_db.engine import check_migrated, open_engine, upgrade
from recsys.catalog_db.keys import EmployerKeyTable
from recsys.catalog_db.postings import PostingTable, UpsertResult
from recsys.catalog_db.seekers import SeekerTable

__all__ = ["CatalogStore", "UpsertResult"]


class CatalogStore:
    """Postings, seekers and employer keys of one database (`RECSYS_DATABASE_URL`)."""

    def __init__(self, engine: Engine, open_days: int = 30):
        self.engine = engine
        self.postings = PostingTable(engine, open_days)
        self.seekers = SeekerTable(engine)
        self.keys = EmployerKeyTable(engine)

    @classmethod
    def open(cls, url: str, *, migrate: bool = False, open_days: int = 30) -> CatalogStore:
        """Connect; with `migrate`, bring the schema to head first, else refuse an old schema
        (CatalogNotMigratedError says to run `recsys db upgrade`)."""
        engine = open_engine(url)
        if migrate:
            upgrade(engine)
        else:
            check_migrated(engine)
        return cls(engine, open_days)

    def close(self) -> None:
        self.engine.dispose()
